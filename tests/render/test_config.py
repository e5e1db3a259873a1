"""Render/camera configuration: YAML presets compose into the dataclasses; set_look."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from room.config import to_dataclass
from room.errors import ConfigError
from room.render import CameraConfig, RenderConfig
from room.render.config import LightConfig, MaterialConfig


def test_bad_render_settings():
    with pytest.raises(ConfigError):
        RenderConfig(exposure="manual")
    with pytest.raises(ConfigError):
        LightConfig(inner_cone_deg=80, outer_cone_deg=60)
    with pytest.raises(ConfigError):
        MaterialConfig(roughness=0.0)
    with pytest.raises(ConfigError, match="highlight_percentile"):
        RenderConfig(highlight_percentile=101.0)
    with pytest.raises(ConfigError):
        to_dataclass(RenderConfig, {"light": {"cuont": 2}})


@pytest.mark.gl
def test_set_look_switches_lights_and_pattern(yscene):
    """Per-sequence appearance: brighter LEDs give a brighter fixed-exposure image; a new
    texture seed re-bakes the mucosa pattern (and going back restores the frame exactly); the
    ring generations, baked into the mesh, cannot change without a new renderer."""
    from room.render import make_renderer
    from room.transforms import look_at

    cfg = RenderConfig(exposure="fixed")
    T = look_at([0.0, 0.0, 0.02], [0.0, 0.0, 0.07], up=[1.0, 0.0, 0.0])
    with make_renderer(yscene, CameraConfig(width=48, height=48), cfg) as r:
        first = r.render(T).rgb_clean
        r.set_look(dataclasses.replace(cfg, light=dataclasses.replace(cfg.light, intensity=2.0)))
        brighter = r.render(T).rgb_clean
        r.set_look(dataclasses.replace(cfg, seed=7, texture_size=32))
        other = r.render(T).rgb_clean
        r.set_look(cfg)
        again = r.render(T).rgb_clean
        with pytest.raises(ConfigError, match="ring_max_generation"):
            r.set_look(dataclasses.replace(cfg, material=dataclasses.replace(
                cfg.material, ring_max_generation=3)))
    assert brighter.astype(float).mean() > first.astype(float).mean() + 5
    assert np.abs(other.astype(float) - first).mean() > 2  # another pattern
    assert np.array_equal(again, first)
