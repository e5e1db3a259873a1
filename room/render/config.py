"""Render settings (Hydra group ``render``): endoscope lights, wet-mucosa material, exposure.

Every appearance knob is here so a dataset can randomize it (domain randomization, drawn per
sequence by room.sensor.appearance); the same config and seed always give the same images.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from room.errors import ConfigError
from room.render.cycles_config import BACKENDS, CyclesConfig


@dataclass(frozen=True)
class LightConfig:
    """Light sources at the scope tip, in the camera frame (OpenCV axes, metres).

    ``count`` LEDs sit on a circle of radius ``offset_m`` around the lens (two LEDs: left and
    right of it), in the lens plane, pointing along +z. Irradiance falls off with the inverse
    square of the distance, times a smooth spot cone (full until ``inner_cone_deg``, zero at
    ``outer_cone_deg`` from the axis), times the cosine of incidence.
    """

    count: int = 2
    offset_m: float = 0.0012
    angle_deg: float = 0.0  # rotation of the LED pair about the optical axis
    intensity: float = 1.0  # relative; the exposure maps it to pixel values
    inner_cone_deg: float = 35.0
    outer_cone_deg: float = 75.0
    # stand-in for inter-reflections, relative to a wall 10 mm away: real frames keep some light
    # deep in the lumen (the textured look, conf/render/textured.yaml: 0.004)
    ambient: float = 0.02
    color: tuple[float, float, float] = (1.0, 0.97, 0.92)  # slightly warm white LED

    def __post_init__(self) -> None:
        if not 1 <= self.count <= 4:
            raise ConfigError(f"render.light.count={self.count}: between 1 and 4 lights")
        if not 0 <= self.inner_cone_deg < self.outer_cone_deg <= 90:
            raise ConfigError("render.light: need 0 <= inner_cone_deg < outer_cone_deg <= 90")
        if self.intensity <= 0 or self.offset_m < 0 or self.ambient < 0:
            raise ConfigError("render.light: intensity > 0, offset_m >= 0, ambient >= 0")


@dataclass(frozen=True)
class MaterialConfig:
    """Procedural wet mucosa (linear albedo, before exposure and sRGB encoding). The defaults
    are the default look's: about a third of the pattern contrast of the textured look
    (conf/render/textured.yaml), as real frames carry (docs/appearance.md); the textured look
    keeps the stronger pattern that feature-based visual odometry tracks."""

    base_color: tuple[float, float, float] = (0.66, 0.27, 0.29)
    color_variation: float = 0.5  # amplitude of the large-scale mottling
    # albedo change (R, G, B factors) per unit of mottling: less perfused patches turn pale
    # yellowish (G up, R and B down), well-perfused ones red, as real frames' hues spread to
    # both sides of red (issue 18: 20 % of their pixels are orange-red, G > B)
    color_variation_rgb: tuple[float, float, float] = (-0.5, 1.0, -0.4)
    color_scale_m: float = 0.012  # size of one mottling period
    vessel_density: float = 1.0  # 0 disables vessels
    vessel_contrast: float = 0.3
    vessel_scale_m: float = 0.008  # period of the large vessels; capillaries are 3x finer
    ring_contrast: float = 0.12  # cartilage rings in generations <= ring_max_generation
    ring_pitch_m: float = 0.004
    ring_max_generation: int = 1
    ring_color: tuple[float, float, float] = (0.80, 0.50, 0.48)  # pale pink, not white
    ring_bump: float = 0.005  # ring ridge height as a fraction of the pitch
    bump_strength: float = 0.4  # relative height of the mucosal bumps
    bump_scale_m: float = 0.004
    roughness: float = 0.15  # of the specular lobe; wet mucosa: small sharp highlights
    specular: float = 0.05  # reflectance at normal incidence (water 0.02; a bit of sheen)

    def __post_init__(self) -> None:
        if not 0.02 <= self.roughness <= 1.0:
            raise ConfigError(f"render.material.roughness={self.roughness} not in [0.02, 1]")
        for name in ("color_scale_m", "vessel_scale_m", "ring_pitch_m", "bump_scale_m"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"render.material.{name} must be positive (metres)")


@dataclass(frozen=True)
class RenderConfig:
    """Everything about how a frame looks (not where the camera is: that is CameraConfig).

    ``exposure``: ``auto`` scales each frame so the median lit pixel reaches ``target_gray``
    (sRGB, 0..1) as a scope's auto-exposure does, but at most so far that the
    ``highlight_percentile`` of the lit pixels' brightest channel stays below white (highlight
    protection: near walls keep their colour for the sensor model instead of clipping to
    white; 100 disables it) (deterministic: a function of the frame alone);
    ``fixed`` applies ``gain`` to the linear radiance. ``texture_size`` is the edge of the tiling
    3D noise textures that carry the mucosa pattern. ``backend``: what draws the RGB, ``raster``
    (OpenGL) or ``cycles`` (Blender's path tracer, settings in ``cycles``; ground truth stays
    the raster's).
    """

    seed: int = 0
    light: LightConfig = field(default_factory=LightConfig)
    material: MaterialConfig = field(default_factory=MaterialConfig)
    exposure: str = "auto"
    target_gray: float = 0.5
    gain: float = 1.0
    max_gain: float = 64.0
    highlight_percentile: float = 99.5
    texture_size: int = 64
    backend: str = "raster"
    cycles: CyclesConfig = field(default_factory=CyclesConfig)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"render.backend={self.backend!r}: use one of {BACKENDS}")
        if self.exposure not in ("auto", "fixed"):
            raise ConfigError(f"render.exposure={self.exposure!r}: use 'auto' or 'fixed'")
        if not 0 < self.target_gray < 1 or self.gain <= 0 or self.max_gain <= 0:
            raise ConfigError("render: need 0 < target_gray < 1, gain > 0, max_gain > 0")
        if not 50 <= self.highlight_percentile <= 100:
            raise ConfigError(f"render.highlight_percentile={self.highlight_percentile}: "
                              "use a percentile in [50, 100] (100: no highlight protection)")
        if self.texture_size not in (16, 32, 64, 128):
            raise ConfigError(f"render.texture_size={self.texture_size}: 16, 32, 64 or 128")

