"""Per-sequence appearance: one randomizer for the render look and the sensor settings.

:func:`sequence_appearance` is what the generator calls once per sequence: from the sensor
config, the base render config and a sequence seed it returns the sensor settings, the render
look (a RenderConfig) and the record written to info.json. With
``sensor.randomization.enabled`` (preset ``sensor=randomized``) a sequence gets

- its own mucosa pattern, gloss and LED layout (:func:`randomize_material`, with
  ``randomization.material``);
- a draw from the ranges of :class:`~room.sensor.config.AppearanceRandomization`
  (:func:`sample_appearance` -> :class:`AppearanceSample`), which changes the sensor
  (``sample.apply_to_sensor(sensor_cfg)``: noise level, defocus blur, exposure time (motion
  blur), exposure target, colour gains, JPEG quality) and, through ``sample.render_overrides``,
  *multiplies* three render settings: ``mucosa_color_scale`` (R, G, B factors on
  ``RenderConfig.material.base_color``), ``specular_scale`` (on ``material.specular``) and
  ``light_power_scale`` (on ``light.intensity``); :func:`apply_render_overrides` applies them.
  (With the renderer's auto-exposure on, the light power changes only noise and the exposure
  the sensor meters, not the mean brightness.)

Same configs and seed -> same result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from room.config import asdict
from room.errors import ConfigError
from room.render.config import RenderConfig
from room.sensor.config import AppearanceRandomization, SensorConfig
from room.sensor.profile import SensorProfile, load_profile

__all__ = [
    "AppearanceSample", "RENDER_OVERRIDE_KEYS", "apply_render_overrides", "randomize_material",
    "randomize_sensor", "sample_appearance", "sequence_appearance",
]

RENDER_OVERRIDE_KEYS = ("mucosa_color_scale", "specular_scale", "light_power_scale")


def sequence_appearance(sensor: SensorConfig | None, render: RenderConfig, seed: int
                        ) -> tuple[SensorConfig | None, RenderConfig, dict[str, Any]]:
    """The look of one sequence: ``(sensor settings, render look, record for info.json)``.

    ``sensor`` None or disabled: no sensor model (None), ``render`` as it is. Otherwise, with
    ``sensor.randomization.enabled``, the sensor settings and render overrides drawn with
    ``seed`` (:func:`randomize_sensor`) and, with ``randomization.material``, the mucosa
    pattern, gloss and LED layout too (:func:`randomize_material`); the record then holds the
    overrides and the full render settings used. Without randomization both configs are
    returned as they are.
    """
    if sensor is None or not sensor.enabled:
        return None, render, {"sensor": False, "randomized": False}
    sensor_cfg, overrides = randomize_sensor(sensor, seed)
    look = render
    if overrides and sensor.randomization.material:
        look = randomize_material(look, seed)
    look = apply_render_overrides(look, overrides) if overrides else look
    record = {"sensor": True, "randomized": bool(overrides), "render_overrides": overrides}
    if overrides:
        record["render"] = asdict(look)
    return sensor_cfg, look, record


def randomize_sensor(cfg: SensorConfig, seed: int) -> tuple[SensorConfig, dict[str, Any]]:
    """Per-sequence sensor draw: (sensor config, render overrides) drawn from
    ``cfg.randomization`` with ``seed``; ``(cfg, {})`` when randomization is disabled."""
    if not cfg.randomization.enabled:
        return cfg, {}
    sample = sample_appearance(cfg.randomization, seed)
    return sample.apply_to_sensor(cfg), dict(sample.render_overrides)


def randomize_material(cfg: RenderConfig, seed: int) -> RenderConfig:
    """A copy of ``cfg`` with the mucosa pattern and the scope's LEDs drawn around their
    values (domain randomization): texture seed and pattern scales, colour variation, vessel
    and ring contrast, bumps, gloss, LED layout, cones and ambient light. Same ``cfg`` and
    ``seed`` -> same result.

    Mucosa base colour, specular strength and light power are left alone: the sensor's
    :class:`~room.sensor.config.AppearanceRandomization` draws those from its configured
    ranges (``sensor=randomized`` applies both, see :func:`sequence_appearance`)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x72656E64]))
    m, li = cfg.material, cfg.light

    def jitter(x: float, rel: float) -> float:
        return float(x * np.exp(rng.normal(0.0, rel)))

    mat = dataclasses.replace(
        m,
        color_variation=float(np.clip(jitter(m.color_variation, 0.3), 0.0, 0.8)),
        color_scale_m=jitter(m.color_scale_m, 0.3),
        vessel_density=float(np.clip(jitter(m.vessel_density, 0.3), 0.0, 3.0)),
        vessel_contrast=float(np.clip(jitter(m.vessel_contrast, 0.3), 0.0, 0.95)),
        vessel_scale_m=jitter(m.vessel_scale_m, 0.3),
        ring_contrast=float(np.clip(jitter(m.ring_contrast, 0.3), 0.0, 0.9)),
        ring_pitch_m=jitter(m.ring_pitch_m, 0.15),
        bump_strength=jitter(m.bump_strength, 0.4),
        roughness=float(np.clip(jitter(m.roughness, 0.3), 0.05, 1.0)),
    )
    inner = float(np.clip(jitter(li.inner_cone_deg, 0.2), 5.0, 80.0))
    light = dataclasses.replace(
        li, offset_m=jitter(li.offset_m, 0.2), angle_deg=float(rng.uniform(0.0, 360.0)),
        inner_cone_deg=inner,
        outer_cone_deg=float(np.clip(jitter(li.outer_cone_deg, 0.1), inner + 5.0, 90.0)),
        ambient=jitter(li.ambient, 0.5),
    )
    return dataclasses.replace(cfg, seed=int(rng.integers(0, 2**31 - 1)), material=mat,
                               light=light)


def sample_appearance(randomization: AppearanceRandomization,
                      seed: int | np.random.Generator) -> AppearanceSample:
    """Concrete settings drawn uniformly from the ranges of ``randomization`` (deterministic in
    ``seed``)."""
    r = randomization
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    def u(lo_hi: tuple[float, float], n: int | None = None) -> Any:
        v = rng.uniform(lo_hi[0], lo_hi[1], size=n)
        return tuple(float(x) for x in v) if n else float(v)

    return AppearanceSample(
        render_overrides={
            "mucosa_color_scale": u(r.mucosa_color_scale, 3),
            "specular_scale": u(r.specular_scale),
            "light_power_scale": u(r.light_power_scale),
        },
        noise_scale=u(r.noise_scale),
        defocus_sigma_px=u(r.defocus_sigma_px),
        exposure_s=u(r.exposure_s),
        exposure_target_scale=u(r.exposure_target_scale),
        colour_gain_scale=u(r.colour_gain_scale, 3),
        jpeg_quality=int(round(u(r.jpeg_quality))),
    )


@dataclass(frozen=True)
class AppearanceSample:
    """One draw of :class:`~room.sensor.config.AppearanceRandomization` (module docstring)."""

    render_overrides: dict[str, Any] = field(default_factory=dict)
    noise_scale: float = 1.0
    defocus_sigma_px: float = 0.0
    exposure_s: float = 0.004
    exposure_target_scale: float = 1.0
    colour_gain_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    jpeg_quality: int = 90

    def apply_to_sensor(self, cfg: SensorConfig,
                        profile: SensorProfile | str | None = None) -> SensorConfig:
        """A copy of SensorConfig ``cfg`` with this sample's sensor settings. Noise scale,
        exposure target and colour gains multiply the configured (or profile) values."""
        prof = load_profile(profile if profile is not None else cfg.profile)
        target = cfg.exposure.target_mean_luminance or prof.target_mean_luminance
        gains = cfg.colour.gains or prof.colour_gains
        rep = dataclasses.replace
        return rep(
            cfg,
            defocus_sigma_px=self.defocus_sigma_px,
            noise=rep(cfg.noise, scale=cfg.noise.scale * self.noise_scale),
            motion_blur=rep(cfg.motion_blur, exposure_s=self.exposure_s),
            exposure=rep(cfg.exposure, target_mean_luminance=float(
                np.clip(target * self.exposure_target_scale, 0.05, 0.95))),
            colour=rep(cfg.colour, gains=tuple(float(g * s) for g, s in
                                               zip(gains, self.colour_gain_scale, strict=True))),
            jpeg=rep(cfg.jpeg, quality=self.jpeg_quality),
        )


def apply_render_overrides(render_cfg: RenderConfig, overrides: dict[str, Any]) -> RenderConfig:
    """A copy of ``render_cfg`` with the multiplicative overrides of
    :attr:`AppearanceSample.render_overrides` applied to ``material.base_color``,
    ``material.specular`` and ``light.intensity``. Unknown keys raise ConfigError."""
    unknown = set(overrides) - set(RENDER_OVERRIDE_KEYS)
    if unknown:
        raise ConfigError(f"unknown render overrides {sorted(unknown)}; "
                          f"known: {list(RENDER_OVERRIDE_KEYS)}")
    rep = dataclasses.replace
    mat, light = render_cfg.material, render_cfg.light
    if "mucosa_color_scale" in overrides:
        scale = overrides["mucosa_color_scale"]
        mat = rep(mat, base_color=tuple(float(min(c * k, 1.0)) for c, k in
                                        zip(mat.base_color, scale, strict=True)))
    if "specular_scale" in overrides:
        mat = rep(mat, specular=float(mat.specular * overrides["specular_scale"]))
    if "light_power_scale" in overrides:
        light = rep(light, intensity=float(light.intensity * overrides["light_power_scale"]))
    return rep(render_cfg, material=mat, light=light)
