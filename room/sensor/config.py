"""Sensor settings (Hydra group ``sensor``): every stage of the camera pipeline after the optics.

:class:`SensorConfig` is the group's schema; its sub-configs switch and tune one stage each of
:class:`~room.sensor.model.SensorModel` (see that module for the order they run in), and
:class:`AppearanceRandomization` holds the per-sequence randomization ranges that
:func:`room.sensor.appearance.sequence_appearance` draws from. ``None`` in a field means "take
the value from the sensor profile" (``assets/sensor/<profile>.json``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from room.errors import ConfigError
from room.sensor.stages import BAYER_PATTERNS

__all__ = [
    "SensorConfig", "ExposureConfig", "VignettingConfig", "NoiseConfig", "BayerConfig",
    "ColourConfig", "ToneConfig", "GradingConfig", "JpegConfig", "MotionBlurConfig", "BloomConfig",
    "LocalToneConfig", "GlareConfig", "AppearanceRandomization",
]

@dataclass(frozen=True)
class ExposureConfig:
    """Exposure gain. ``target_mean_luminance`` None -> the profile's; ``smoothing`` in [0, 1)
    is the weight of the previous frame's log-gain (0: every frame meters on its own).
    ``headroom_percentile``: with the local equalisation on, the sensor saturates at this
    percentile of the brightest channel (highlight protection, at least the output's white;
    100: saturate at white before equalising, the behaviour before issue 18)."""

    enabled: bool = True
    auto: bool = True
    target_mean_luminance: float | None = None
    smoothing: float = 0.5
    headroom_percentile: float = 99.0
    gain: float = 1.0
    min_gain: float = 0.01
    max_gain: float = 1000.0


@dataclass(frozen=True)
class VignettingConfig:
    """``mode``: "profile" (fitted radial gain) or "cos4" (natural falloff from intrinsics);
    ``strength`` blends between none (0) and full (1)."""

    enabled: bool = True
    mode: str = "profile"
    strength: float = 1.0


@dataclass(frozen=True)
class NoiseConfig:
    """Variance ``a * s + b`` in linear light (None -> profile), std times ``scale``.
    ``spectrum``: "profile" (fitted power spectrum) or "white". ``channel_correlation``: share
    of the noise common to R, G and B (0 = independent channels; 1, the default: luma noise
    only, as after a processor's chroma noise reduction and JPEG chroma subsampling, which
    keeps dark and bright pixels red: real frames have no grey or off-hue pixels)."""

    enabled: bool = True
    shot_a: float | None = None
    read_b: float | None = None
    scale: float = 1.0
    spectrum: str = "profile"
    channel_correlation: float = 1.0


@dataclass(frozen=True)
class BayerConfig:
    """Colour filter array mosaic + bilinear demosaic; ``pattern`` is the top-left 2x2."""

    enabled: bool = False
    pattern: str = "RGGB"


@dataclass(frozen=True)
class ColourConfig:
    """Linear white-balance gains (R, G, B); None -> the profile's calibrated gains."""

    enabled: bool = True
    gains: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        if self.gains is not None:
            if len(self.gains) != 3 or min(self.gains) <= 0:
                raise ConfigError(f"colour.gains must be 3 positive numbers, got {self.gains}")
            object.__setattr__(self, "gains", tuple(float(g) for g in self.gains))


@dataclass(frozen=True)
class ToneConfig:
    """Display tone curve (see room.sensor.stages.tone_curve); None -> the profile's values.
    Disabled: plain sRGB encoding."""

    enabled: bool = True
    gamma: float | None = None
    shoulder: float | None = None


@dataclass(frozen=True)
class GradingConfig:
    """The processor's colour rendering: the profile's saturation and value curves
    (room.sensor.grading), applied to the developed 8-bit image. A profile without curves, or
    ``enabled`` False: none."""

    enabled: bool = True


@dataclass(frozen=True)
class JpegConfig:
    enabled: bool = False
    quality: int = 90


@dataclass(frozen=True)
class MotionBlurConfig:
    """Exposure time ``exposure_s`` (seconds; the blur covers the image motion during it,
    scaled from the motion between the two frames' ``time_s``). When the frames carry no
    time step, ``shutter`` (exposure as a fraction of the frame interval) is used."""

    enabled: bool = True
    exposure_s: float = 0.004
    shutter: float = 0.5
    max_samples: int = 8


@dataclass(frozen=True)
class LocalToneConfig:
    """Brightness equalisation of the processor (stages.local_gain): a smooth gain map
    lifting the dark lumen and taming near walls; ``strength`` in [0, 1], ``sigma_frac`` the
    blur scale as a fraction of the image width. Applied after the noise (it amplifies it).
    ``keep_colour``: pixels whose brightest channel the gain lifts above white are scaled back
    whole (stages.scale_into_range: hue and saturation kept, a near wall stays red) instead of
    clipped per channel (grey-pink). The default is a weak equalisation (0.3: the real frames'
    spread of brightness, HSV value 0.2-0.9) with ``keep_colour``; the textured look
    (conf/sensor/textured.yaml) keeps 0.55 and per-channel clipping (docs/appearance.md)."""

    enabled: bool = True
    strength: float = 0.3
    sigma_frac: float = 0.08
    keep_colour: bool = True


@dataclass(frozen=True)
class GlareConfig:
    """Veiling glare: light scattered by the scope's lens and window onto the whole sensor, a
    uniform offset of ``fraction`` times the image's mean (per channel, linear light, inside
    the image circle) added before the exposure. It lifts the darkest lumen and turns it toward
    the scene's mean colour instead of a near-black, strongly saturated red (real frames have
    no pixel darker than 1/16 or more saturated than 0.69 in HSV; issue 18 item 3)."""

    enabled: bool = True  # off in the textured look (conf/sensor/textured.yaml)
    fraction: float = 0.03


@dataclass(frozen=True)
class BloomConfig:
    """Glow of highlights above ``threshold`` (linear, 1 = saturation)."""

    enabled: bool = True
    threshold: float = 0.9
    sigma_px: float = 4.0
    strength: float = 0.3


@dataclass(frozen=True)
class AppearanceRandomization:
    """Uniform ranges (low, high); a range with low == high fixes the value. Factors are
    multiplicative (1 = unchanged); ``defocus_sigma_px`` (pixels), ``exposure_s`` (seconds, sets
    the motion blur) and ``jpeg_quality`` are absolute."""

    enabled: bool = False
    material: bool = True  # also mucosa pattern, gloss, LED layout (randomize_material)
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


@dataclass(frozen=True)
class SensorConfig:
    """Sensor model settings (Hydra group ``conf/sensor``). ``enabled`` False: rgb = rgb_clean."""

    enabled: bool = True
    profile: str = "default"
    seed: int = 0
    defocus_sigma_px: float | None = None  # None: the profile's fitted optics blur
    motion_blur: MotionBlurConfig = field(default_factory=MotionBlurConfig)
    vignetting: VignettingConfig = field(default_factory=VignettingConfig)
    glare: GlareConfig = field(default_factory=GlareConfig)
    exposure: ExposureConfig = field(default_factory=ExposureConfig)
    bloom: BloomConfig = field(default_factory=BloomConfig)
    local_tone: LocalToneConfig = field(default_factory=LocalToneConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    bayer: BayerConfig = field(default_factory=BayerConfig)
    colour: ColourConfig = field(default_factory=ColourConfig)
    tone: ToneConfig = field(default_factory=ToneConfig)
    grading: GradingConfig = field(default_factory=GradingConfig)
    jpeg: JpegConfig = field(default_factory=JpegConfig)
    randomization: AppearanceRandomization = field(default_factory=AppearanceRandomization)

    def __post_init__(self) -> None:
        problems = []
        if self.vignetting.mode not in ("profile", "cos4"):
            problems.append(f"vignetting.mode {self.vignetting.mode!r} not 'profile' or 'cos4'")
        if self.noise.spectrum not in ("profile", "white"):
            problems.append(f"noise.spectrum {self.noise.spectrum!r} not 'profile' or 'white'")
        if not 0 <= self.noise.channel_correlation <= 1:
            problems.append("noise.channel_correlation must lie in [0, 1]")
        if self.noise.scale < 0 or (self.defocus_sigma_px or 0.0) < 0:
            problems.append("noise.scale and defocus_sigma_px must be >= 0")
        if self.bayer.pattern not in BAYER_PATTERNS:
            problems.append(f"bayer.pattern {self.bayer.pattern!r} not in {BAYER_PATTERNS}")
        if not 1 <= self.jpeg.quality <= 100:
            problems.append(f"jpeg.quality {self.jpeg.quality} not in 1..100")
        if not 0 <= self.local_tone.strength <= 1 or self.local_tone.sigma_frac <= 0:
            problems.append("local_tone: need strength in [0, 1] and sigma_frac > 0")
        if not 0 <= self.glare.fraction <= 1:
            problems.append(f"glare.fraction {self.glare.fraction} not in [0, 1]")
        if not 0 <= self.exposure.smoothing < 1:
            problems.append("exposure.smoothing must lie in [0, 1)")
        if not 50 <= self.exposure.headroom_percentile <= 100:
            problems.append("exposure.headroom_percentile must lie in [50, 100] (100: clip at "
                            "white before the equalisation)")
        if not 0 < self.exposure.min_gain <= self.exposure.gain <= self.exposure.max_gain:
            problems.append("need 0 < exposure.min_gain <= exposure.gain <= exposure.max_gain")
        mb = self.motion_blur
        if not 0 <= mb.shutter <= 1 or mb.max_samples < 1 or mb.exposure_s < 0:
            problems.append("motion_blur: need shutter in [0, 1], exposure_s >= 0, "
                            "max_samples >= 1")
        if problems:
            raise ConfigError("SensorConfig: " + "; ".join(problems))
