"""Domain randomization of appearance: ranges in config, concrete settings per seed.

:class:`AppearanceRandomization` (``SensorConfig.randomization``) holds ``(low, high)`` ranges;
:meth:`AppearanceRandomization.sample` draws one :class:`AppearanceSample` from a seed (one per
sequence, say). A sample changes two things:

- the sensor: ``sample.apply_to_sensor(sensor_cfg)`` -> a new SensorConfig (noise level,
  defocus blur, exposure time (motion blur), exposure target, colour gains, JPEG quality);
- the render: ``sample.render_overrides`` -> a dict of *multiplicative* factors for settings
  that the render stage owns: ``mucosa_color_scale`` (R, G, B factors on
  ``RenderConfig.material.base_color``), ``specular_scale`` (on ``material.specular``) and
  ``light_power_scale`` (on ``light.intensity``); :func:`apply_render_overrides` applies them
  to a RenderConfig by those field names. (With the renderer's auto-exposure on, the light
  power changes only noise and the exposure the sensor meters, not the mean brightness.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from room.errors import ConfigError

RENDER_OVERRIDE_KEYS = ("mucosa_color_scale", "specular_scale", "light_power_scale")


@dataclass(frozen=True)
class AppearanceRandomization:
    """Uniform ranges (low, high); a range with low == high fixes the value. Factors are
    multiplicative (1 = unchanged); ``defocus_sigma_px`` (pixels), ``exposure_s`` (seconds, sets
    the motion blur) and ``jpeg_quality`` are absolute."""

    enabled: bool = False
    material: bool = True  # also the mucosa pattern, gloss and LED layout (render.randomized)
    mucosa_color_scale: tuple[float, float] = (0.85, 1.15)
    specular_scale: tuple[float, float] = (0.5, 1.5)
    light_power_scale: tuple[float, float] = (0.6, 1.6)
    noise_scale: tuple[float, float] = (0.7, 1.5)
    defocus_sigma_px: tuple[float, float] = (0.0, 1.0)
    exposure_s: tuple[float, float] = (0.002, 0.012)
    exposure_target_scale: tuple[float, float] = (0.9, 1.1)
    colour_gain_scale: tuple[float, float] = (0.95, 1.05)
    jpeg_quality: tuple[float, float] = (70.0, 95.0)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.name in ("enabled", "material"):
                continue
            r = getattr(self, f.name)
            if len(r) != 2 or not (0 <= r[0] <= r[1]):
                raise ConfigError(f"randomization.{f.name} must be [low, high] with "
                                  f"0 <= low <= high, got {list(r)}")
            object.__setattr__(self, f.name, (float(r[0]), float(r[1])))
        q = self.jpeg_quality
        if not 1 <= q[0] <= q[1] <= 100:
            raise ConfigError("randomization.jpeg_quality must lie in [1, 100]")

    def sample(self, seed: int | np.random.Generator) -> AppearanceSample:
        """Concrete settings drawn uniformly from the ranges (deterministic in ``seed``)."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

        def u(r: tuple[float, float], n: int | None = None) -> Any:
            v = rng.uniform(r[0], r[1], size=n)
            return tuple(float(x) for x in v) if n else float(v)

        return AppearanceSample(
            render_overrides={
                "mucosa_color_scale": u(self.mucosa_color_scale, 3),
                "specular_scale": u(self.specular_scale),
                "light_power_scale": u(self.light_power_scale),
            },
            noise_scale=u(self.noise_scale),
            defocus_sigma_px=u(self.defocus_sigma_px),
            exposure_s=u(self.exposure_s),
            exposure_target_scale=u(self.exposure_target_scale),
            colour_gain_scale=u(self.colour_gain_scale, 3),
            jpeg_quality=int(round(u(self.jpeg_quality))),
        )


@dataclass(frozen=True)
class AppearanceSample:
    """One draw of :class:`AppearanceRandomization` (see the module docstring)."""

    render_overrides: dict[str, Any] = field(default_factory=dict)
    noise_scale: float = 1.0
    defocus_sigma_px: float = 0.0
    exposure_s: float = 0.004
    exposure_target_scale: float = 1.0
    colour_gain_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    jpeg_quality: int = 90

    def apply_to_sensor(self, cfg, profile=None):
        """A copy of SensorConfig ``cfg`` with this sample's sensor settings. Noise scale,
        exposure target and colour gains multiply the configured (or profile) values."""
        from room.render.sensor_profile import load_profile

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


def apply_render_overrides(render_cfg: Any, overrides: dict[str, Any]) -> Any:
    """A copy of ``render_cfg`` (room.render.RenderConfig) with the multiplicative overrides
    of :attr:`AppearanceSample.render_overrides` applied to ``material.base_color``,
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
