"""Per-sequence appearance (room.sensor.appearance): sensor draws, render overrides, the
mucosa/LED randomizer and sequence_appearance, the one randomizer the generator calls."""

from __future__ import annotations

import dataclasses

import pytest

from room.errors import ConfigError
from room.render.config import RenderConfig
from room.sensor.appearance import (
    apply_render_overrides,
    randomize_material,
    randomize_sensor,
    sequence_appearance,
)
from room.sensor.config import SensorConfig


def test_randomization_is_seeded_and_in_range():
    cfg = SensorConfig()
    cfg = dataclasses.replace(cfg, randomization=dataclasses.replace(cfg.randomization,
                                                                     enabled=True))
    a, ra = randomize_sensor(cfg, 7)
    b, rb = randomize_sensor(cfg, 7)
    c, rc = randomize_sensor(cfg, 8)
    assert a == b and ra == rb and (a != c or ra != rc)
    r = cfg.randomization
    assert r.noise_scale[0] <= a.noise.scale <= r.noise_scale[1]
    assert r.exposure_s[0] <= a.motion_blur.exposure_s <= r.exposure_s[1]
    assert set(ra) == {"mucosa_color_scale", "specular_scale", "light_power_scale"}
    assert len(ra["mucosa_color_scale"]) == 3
    assert randomize_sensor(SensorConfig(), 7) == (SensorConfig(), {})
    with pytest.raises(ConfigError, match="noise_scale"):
        dataclasses.replace(r, noise_scale=(2.0, 1.0))


def test_render_overrides_scale_render_settings():
    base = RenderConfig()
    out = apply_render_overrides(base, {"mucosa_color_scale": (1.1, 1.0, 0.5),
                                        "specular_scale": 2.0, "light_power_scale": 0.5})
    assert out.material.base_color == pytest.approx(
        (base.material.base_color[0] * 1.1, base.material.base_color[1],
         base.material.base_color[2] * 0.5))
    assert out.material.specular == pytest.approx(2 * base.material.specular)
    assert out.light.intensity == pytest.approx(0.5 * base.light.intensity)
    with pytest.raises(ConfigError, match="unknown render overrides"):
        apply_render_overrides(base, {"fog": 1.0})


def test_randomize_material_is_seeded_and_valid():
    a, b, c = (randomize_material(RenderConfig(), s) for s in (1, 1, 2))
    assert a == b and a != c
    for r in (a, c):
        assert dataclasses.replace(r) == r  # passes validation again
    # Base colour, specular and light power are the sensor draw's (render overrides), not its.
    assert a.material.base_color == RenderConfig().material.base_color
    assert a.material.specular == RenderConfig().material.specular
    assert a.light.intensity == RenderConfig().light.intensity


def _randomized(material: bool = True) -> SensorConfig:
    r = dataclasses.replace(SensorConfig().randomization, enabled=True, material=material)
    return SensorConfig(randomization=r)


def test_sequence_appearance_without_randomization_keeps_both_configs():
    render = RenderConfig(exposure="fixed")
    assert sequence_appearance(None, render, 3) == (
        None, render, {"sensor": False, "randomized": False})
    off = SensorConfig(enabled=False)
    assert sequence_appearance(off, render, 3) == (
        None, render, {"sensor": False, "randomized": False})
    cfg = SensorConfig()
    assert sequence_appearance(cfg, render, 3) == (
        cfg, render, {"sensor": True, "randomized": False, "render_overrides": {}})


def test_sequence_appearance_composes_the_sensor_draw_and_the_material():
    """The one randomizer = the sensor draw (settings + overrides) and, with
    randomization.material, the mucosa/LED draw, both from the same sequence seed."""
    from room.config import asdict

    cfg, render = _randomized(), RenderConfig()
    sensor, look, record = sequence_appearance(cfg, render, 11)
    want_sensor, overrides = randomize_sensor(cfg, 11)
    want_look = apply_render_overrides(randomize_material(render, 11), overrides)
    assert sensor == want_sensor and look == want_look
    assert record == {"sensor": True, "randomized": True, "render_overrides": overrides,
                      "render": asdict(want_look)}
    assert sequence_appearance(cfg, render, 11) == (sensor, look, record)  # deterministic
    assert sequence_appearance(cfg, render, 12)[1] != look
    # Without the material part only the three overridden render settings move.
    _, plain, _ = sequence_appearance(_randomized(material=False), render, 11)
    assert plain == apply_render_overrides(render, overrides)
