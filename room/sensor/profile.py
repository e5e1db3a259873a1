"""Sensor/appearance profiles: what was measured on real frames, as a JSON file.

A profile holds fitted quantities (colour balance, vignetting, the radially averaged power
spectrum of the noise, noise level versus brightness, target brightness) plus the calibration
knobs tuned so that our renders land on the real statistics. Profiles live in
``assets/sensor/<name>.json``; :func:`load_profile` takes a name or a path.

Units: image values in [0, 1]; "linear" means linear light after exposure (1 = saturation);
"output" means the display-encoded 8-bit image divided by 255. Radial frequency is normalised
to Nyquist per axis and image radius to the half-width (see room.sensor.stages).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from room.errors import ConfigError, InputFileError
from room.fileio import write_atomic
from room.paths import assets_dir
from room.sensor.grading import check_curve

FORMAT_VERSION = 1


@dataclass(frozen=True)
class SensorProfile:
    """A fitted sensor/appearance profile (see module docstring for units).

    - ``target_mean_luminance``: mean output luma (Rec. 601) inside the image circle that
      auto-exposure aims at.
    - ``r_over_g``, ``b_over_g``: mean output chromaticity ratios of the real frames (targets).
    - ``colour_gains``: linear (R, G, B) white-balance gains the model applies (calibrated).
    - ``vignetting_radius``/``vignetting_gain``: radial gain (1 at the centre) vs radius.
    - ``noise_psd_freq``/``noise_psd_log10``: log10 power spectral density of the noise in
      output units^2 (|FFT|^2 / (H W)) at normalised radial frequencies; the model uses its
      shape only, the level comes from ``noise_shot_a``/``noise_read_b``.
    - ``noise_shot_a``, ``noise_read_b``: linear-domain noise variance ``a * signal + b``.
    - ``noise_level``/``noise_sigma``: measured output-domain noise sigma vs output level.
    - ``tone_gamma``, ``tone_shoulder``: display tone curve (room.sensor.stages).
    - ``hf_residual_std``: measured std of (green - Gaussian(green, 1.5 px)) inside the image
      circle; ``residual_psd_slope``: slope of that residual's 8-band log10 power spectrum
      (see room.sensor.fit.band_log_psd). Targets of calibrate_profile.
    - ``defocus_sigma_px``: Gaussian optics blur in pixels of a ``defocus_ref_width``-wide
      image (scaled with the image width; 0 = none) that calibrate_profile chose so the
      renders' residual spectrum is as steep as the real one (a scope's lens is no perfect
      pinhole); used when the config leaves ``defocus_sigma_px`` null.
    - ``hue_curve_x/_y``, ``saturation_curve_x/_y``, ``value_curve_x/_y``: the processor's
      colour rendering, monotone curves of HSV hue (turns in [-0.5, 0.5], red at 0),
      saturation and value in output units (room.sensor.grading, fitted by calibrate_profile
      so the pooled distributions match the real frames'); empty: none.
      ``shadow_desaturation`` k, ``shadow_saturation`` F: below HSV value 0.35 saturation S
      moves toward F by k (1 - V / 0.35) of the way (room.sensor.grading.SHADOW_VALUE),
      fitted so the output's ``dark_fraction`` (median share of luma < 0.15 inside the image
      circle, the real frames' p50) is met.
    - ``noise_ref_width``: the image width (px) at which ``noise_shot_a``/``noise_read_b`` and
      the noise spectrum were fitted (0: any width). A narrower frame of the same camera is
      that frame reduced: its noise keeps the band of the spectrum it still resolves, at the
      variance that band carries (room.sensor.stages.band_variance).
    - ``calibration``: free-form record of how tuned knobs were chosen.
    """

    name: str
    description: str = ""
    source: dict[str, Any] = field(default_factory=dict)
    target_mean_luminance: float = 0.45
    r_over_g: float = 1.0
    b_over_g: float = 1.0
    colour_gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    vignetting_radius: tuple[float, ...] = (0.0, 1.5)
    vignetting_gain: tuple[float, ...] = (1.0, 1.0)
    noise_psd_freq: tuple[float, ...] = (0.0, 1.5)
    noise_psd_log10: tuple[float, ...] = (-5.0, -5.0)
    noise_shot_a: float = 0.0
    noise_read_b: float = 0.0
    noise_level: tuple[float, ...] = ()
    noise_sigma: tuple[float, ...] = ()
    tone_gamma: float = 1.0
    tone_shoulder: float = 0.0
    hf_residual_std: float = 0.0
    residual_psd_slope: float | None = None
    defocus_sigma_px: float = 0.0
    defocus_ref_width: int = 0
    noise_ref_width: int = 0
    hue_curve_x: tuple[float, ...] = ()
    hue_curve_y: tuple[float, ...] = ()
    saturation_curve_x: tuple[float, ...] = ()
    saturation_curve_y: tuple[float, ...] = ()
    value_curve_x: tuple[float, ...] = ()
    value_curve_y: tuple[float, ...] = ()
    shadow_desaturation: float = 0.0
    shadow_saturation: float = 0.0
    dark_fraction: float | None = None
    calibration: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        if len(self.colour_gains) != 3 or min(self.colour_gains) <= 0:
            problems.append(f"colour_gains must be 3 positive numbers, got {self.colour_gains}")
        for a, b in (("vignetting_radius", "vignetting_gain"),
                     ("noise_psd_freq", "noise_psd_log10"), ("noise_level", "noise_sigma")):
            x, y = getattr(self, a), getattr(self, b)
            if len(x) != len(y):
                problems.append(f"{a} and {b} differ in length ({len(x)} vs {len(y)})")
            elif any(x2 <= x1 for x1, x2 in zip(x, x[1:], strict=False)):
                problems.append(f"{a} must increase strictly")
        if len(self.noise_psd_freq) < 2 or len(self.vignetting_radius) < 2:
            problems.append("noise spectrum and vignetting tables need at least 2 entries")
        if self.noise_shot_a < 0 or self.noise_read_b < 0:
            problems.append("noise_shot_a and noise_read_b must be >= 0")
        if not 0 < self.target_mean_luminance < 1:
            problems.append("target_mean_luminance must lie in (0, 1)")
        if self.defocus_sigma_px < 0 or self.noise_ref_width < 0:
            problems.append("defocus_sigma_px and noise_ref_width must be >= 0")
        if self.tone_gamma <= 0 or self.tone_shoulder < 0:
            problems.append("tone_gamma must be > 0 and tone_shoulder >= 0")
        for c in ("saturation_curve", "value_curve"):
            problems += check_curve(c, getattr(self, c + "_x"), getattr(self, c + "_y"))
        problems += check_curve("hue_curve", self.hue_curve_x, self.hue_curve_y, -0.5, 0.5)
        if not (0 <= self.shadow_desaturation <= 1 and 0 <= self.shadow_saturation <= 1):
            problems.append("shadow_desaturation and shadow_saturation must lie in [0, 1]")
        if problems:
            raise ConfigError(f"sensor profile {self.name!r}: " + "; ".join(problems)
                              + ". Refit it with room-fit-sensor or fix the JSON.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (tuples become lists) with the format version."""
        d = dataclasses.asdict(self)
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
        return {"format_version": FORMAT_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SensorProfile:
        d = dict(d)
        version = d.pop("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise ConfigError(f"sensor profile format {version} is not {FORMAT_VERSION}; "
                              "refit it with room-fit-sensor")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"sensor profile has unknown keys {sorted(unknown)}; "
                              f"accepted: {sorted(names)}")
        tuples = {f.name for f in dataclasses.fields(cls) if str(f.type).startswith("tuple")}
        return cls(**{k: tuple(v) if k in tuples else v for k, v in d.items()})

    def save(self, path: str | os.PathLike) -> Path:
        """Write the profile as JSON atomically (temporary file, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, (json.dumps(self.to_dict(), indent=1) + "\n").encode())
        return path


def profile_dir() -> Path:
    """The packaged sensor profiles (``assets/sensor/``, shipped as ``room.assets``)."""
    return assets_dir() / "sensor"


def profile_path(name_or_path: str | os.PathLike) -> Path:
    """Resolve a profile name (``assets/sensor/<name>.json``) or an explicit JSON path."""
    p = Path(name_or_path)
    if p.suffix == ".json" or p.parent != Path("."):
        return p
    return profile_dir() / f"{name_or_path}.json"


def load_profile(name_or_path: str | os.PathLike | SensorProfile) -> SensorProfile:
    """Load a sensor profile by name (e.g. ``"default"``) or from a JSON file path."""
    if isinstance(name_or_path, SensorProfile):
        return name_or_path
    path = profile_path(name_or_path)
    if not path.is_file():
        known = sorted(p.stem for p in profile_dir().glob("*.json"))
        raise InputFileError(f"sensor profile {str(name_or_path)!r} not found at {path}; "
                             f"known profiles: {known}. Fit one with room-fit-sensor.")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputFileError(f"sensor profile {path} is not readable JSON ({e}); "
                             "refit it with room-fit-sensor") from e
    return SensorProfile.from_dict(data)
