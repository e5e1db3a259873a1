"""Profiles from published statistics, and calibration of a profile against our renders.

The default profile (``assets/sensor/default.json``) is made in two steps, because the real
frames behind ``bronchoscopy_appearance.json`` are not available, only their statistics:

1. :func:`profile_from_reference` turns the percentile summary (p50 values) into a profile:
   colour and brightness targets; vignetting from the radial luminance profile; the noise
   spectrum's shape from the 8-band log power spectrum of the green residual, deconvolved by
   the residual filter; the noise level from the residual's std.
2. :func:`calibrate_profile` runs the sensor model on clean renders of the default phantom and
   adjusts the two renderer-dependent knobs (colour gains, noise level) until the sensor
   output's median r/g, b/g and residual std hit the profile's targets.

``room-fit-sensor reference=... calibrate=DIR out=...`` runs both (room/cli/fit_sensor.py).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from room.errors import ConfigError, InputFileError
from room.sensor import fit as sf
from room.sensor import grading
from room.sensor import stages as st
from room.sensor.config import SensorConfig
from room.sensor.model import SensorModel
from room.sensor.profile import SensorProfile

REFERENCE_BANDS = np.linspace(0.0, 1.0, 9)
"""Radial-frequency band edges of ``residual_log_psd`` in image_stats.py (8 bands to Nyquist)."""


@dataclass(frozen=True)
class ReferenceKnobs:
    """Assumptions needed to turn statistics into a profile (documented in the profile).

    - ``frame_size``: pixel size of the real frames (600 x 600, data README).
    - ``read_fraction``: share of the noise variance at the mean level that is signal
      independent (the statistics give one level only, not noise versus brightness).
    - ``tone_gamma``/``tone_shoulder``: the tone curve the model will use.
    - ``colour_gains``: starting white-balance gains (refined by calibrate_profile).
    - ``vignetting_strength``, ``vignetting_tan_half_width``: extra optical falloff
      ``1 - s (1 - cos^4 theta)`` with ``tan theta = r * tan_half_width`` at normalised radius r
      (0.787 = 300 px / 381 px, the default 600 px bronchoscope camera). The statistics cannot
      separate vignetting from scene content (see fit.vignetting_from_profile), so its
      strength is a calibration knob.
    """

    frame_size: int = 600
    read_fraction: float = 0.3
    tone_gamma: float = 1.0
    tone_shoulder: float = 0.0
    colour_gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    vignetting_strength: float = 0.0
    vignetting_tan_half_width: float = 0.787


DEFAULT_KNOBS = ReferenceKnobs(tone_gamma=0.75, tone_shoulder=0.7, vignetting_strength=0.8)
"""Tone curve and extra vignetting of assets/sensor/default.json (the default look), tuned by
hand on 24 default renders of the phantom's survey views (``benchmarks/bench_appearance.py
--calibrate --frames 24``) so that they land inside the real frames' p10-p90 ranges: the dark
fraction and the centre-to-edge ratio pull in opposite directions and depend on these knobs."""

TEXTURED_KNOBS = ReferenceKnobs(tone_gamma=0.75, tone_shoulder=1.0, vignetting_strength=0.8)
"""The knobs of assets/sensor/textured.json (the textured look, conf/sensor/textured.yaml,
with its stronger brightness equalisation, local_tone.strength 0.55): a harder highlight
shoulder, tuned the same way (``bench_appearance.py --look textured --calibrate``)."""


def make_default_profile(reference: str | Path | dict, frames: Sequence,
                         prev_poses: Sequence | None = None,
                         knobs: ReferenceKnobs = DEFAULT_KNOBS, iterations: int = 6,
                         name: str = "default", cfg=None,
                         reference_features: str | Path | np.ndarray | None = None,
                         grading_fit: str = "staged") -> SensorProfile:
    """The default profile: :func:`profile_from_reference` with ``knobs``, calibrated on
    default renders (Frames of the default phantom, with (pose, time) of the frame before)
    through the sensor settings ``cfg`` (default: SensorConfig()); with the real frames'
    ``reference_features`` (load_features) also its colour-rendering curves (``grading_fit``:
    see calibrate_profile)."""
    prof = profile_from_reference(reference, name, knobs)
    return calibrate_profile(prof, frames, cfg, iterations=iterations, prev_poses=prev_poses,
                             reference_features=reference_features, grading_fit=grading_fit)


def load_features(path_or_array: str | Path | np.ndarray) -> np.ndarray:
    """Real frames' appearance_gap.py feature vectors: an (N, 108) array, or a .npz with key
    ``features`` (e.g. ../shared/data/reference/bronchoscopy_features.npz)."""
    if isinstance(path_or_array, np.ndarray):
        return path_or_array
    p = Path(path_or_array)
    if not p.is_file():
        raise InputFileError(f"reference features {p} not found; pass the .npz of real "
                             "frames' appearance_gap.py features (bronchoscopy_features.npz)")
    try:
        with np.load(p) as z:
            return np.asarray(z["features"], np.float64)
    except (OSError, ValueError, KeyError) as e:
        raise InputFileError(f"reference features {p} unreadable ({e}); expected a .npz "
                             "with an array 'features' (frames x 108)") from e


def load_reference(path_or_stats: str | Path | dict) -> dict[str, Any]:
    """An image_stats.py summary ``{"frames": N, "stats": {...}}`` (path or loaded dict)."""
    if isinstance(path_or_stats, dict):
        d = path_or_stats
    else:
        p = Path(path_or_stats)
        if not p.is_file():
            raise InputFileError(f"reference statistics {p} not found; pass the JSON written "
                                 "by image_stats.py (e.g. bronchoscopy_appearance.json)")
        d = json.loads(p.read_text())
    stats = d.get("stats", {})
    need = {"r_over_g", "b_over_g", "mean_luminance", "radial_luminance", "residual_log_psd",
            "hf_residual_std", "residual_psd_slope"}
    missing = need - set(stats)
    if missing:
        raise InputFileError(f"reference statistics lack {sorted(missing)}; regenerate them "
                             "with image_stats.py")
    return d


def reference_noise_psd(log_psd: Sequence[float], size: int) -> tuple[np.ndarray, np.ndarray]:
    """(freq, log10 PSD) of the noise from image_stats' 8-band residual log power spectrum.

    Each band is divided by the band average of the residual filter's |H|^2 on a size x size
    grid. Bands where |H|^2 < MIN_H2 hold mostly scene content, which our renders bring
    themselves, so they are held at the first reliable band's value. Beyond Nyquist (the
    corners) the last band's log-linear trend continues.
    """
    fr = st.radial_frequency(size, size)
    h2 = sf.radial_mean(sf.residual_transfer(size, size), fr, REFERENCE_BANDS)
    centres = 0.5 * (REFERENCE_BANDS[:-1] + REFERENCE_BANDS[1:])
    logp = np.asarray(log_psd, float) - np.log10(h2)
    ok = np.flatnonzero(h2 >= sf.MIN_H2)
    logp[: ok[0]] = logp[ok[0]]
    step = (logp[-1] - logp[-2]) / (centres[-1] - centres[-2])
    freq = np.concatenate([[0.0], centres, [np.sqrt(2.0)]])
    logp = np.concatenate([[logp[0]], logp, [logp[-1] + step * (np.sqrt(2.0) - centres[-1])]])
    return freq, logp


def cos4_vignetting(radius, gain, strength: float, tan_half_width: float,
                    samples: int = 33) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Multiply a tabulated radial gain by ``1 - s (1 - cos^4 theta)``, tan theta = r * t,
    resampled on ``samples`` radii over [0, sqrt 2]."""
    r = np.linspace(0.0, np.sqrt(2.0), samples)
    base = np.interp(r, np.asarray(radius, float), np.asarray(gain, float))
    cos4 = 1.0 / (1.0 + (r * tan_half_width) ** 2) ** 2
    g = base * (1.0 - strength * (1.0 - cos4))
    return tuple(float(x) for x in r), tuple(float(x) for x in g)


def profile_from_reference(reference: str | Path | dict, name: str = "default",
                           knobs: ReferenceKnobs | None = None,
                           render_residual_std: float = 0.0) -> SensorProfile:
    """A profile from image_stats.py percentiles (p50 values; see module docstring).

    ``render_residual_std``: residual std the clean renders already have; the noise supplies
    the rest of the reference's residual variance.
    """
    k = knobs or ReferenceKnobs()
    ref = load_reference(reference)
    p50 = {key: v["p50"] for key, v in ref["stats"].items()}
    freq, logp = reference_noise_psd(p50["residual_log_psd"], k.frame_size)
    vr, vg = sf.vignetting_from_profile(p50["radial_luminance"], k.tone_gamma, k.tone_shoulder)
    vr, vg = cos4_vignetting(vr, vg, k.vignetting_strength, k.vignetting_tan_half_width)
    gain = sf.residual_gain(k.frame_size, k.frame_size, freq, logp)
    sigma = np.sqrt(max(p50["hf_residual_std"] ** 2 - render_residual_std**2, 0.0)) / gain
    prof = SensorProfile(
        name=name,
        description="derived from real-frame statistics (room.sensor.calibrate."
                    "profile_from_reference)",
        source={"kind": "reference_stats",
                "file": Path(reference).name if not isinstance(reference, dict) else "",
                "frames": int(ref.get("frames", 0)), "statistic": "p50",
                "knobs": dataclasses.asdict(k)},
        target_mean_luminance=float(p50["mean_luminance"]),
        r_over_g=float(p50["r_over_g"]), b_over_g=float(p50["b_over_g"]),
        colour_gains=tuple(float(g) for g in k.colour_gains),
        vignetting_radius=vr, vignetting_gain=vg,
        noise_psd_freq=tuple(float(f) for f in freq),
        noise_psd_log10=tuple(float(v) for v in logp),
        noise_level=(float(p50["mean_luminance"]),), noise_sigma=(float(sigma),),
        tone_gamma=k.tone_gamma, tone_shoulder=k.tone_shoulder,
        hf_residual_std=float(p50["hf_residual_std"]),
        residual_psd_slope=float(p50["residual_psd_slope"]),
        dark_fraction=float(p50["dark_fraction"]) if "dark_fraction" in p50 else None,
    )
    return sf.with_noise_level(prof, float(sigma), float(p50["mean_luminance"]),
                               k.read_fraction, k.colour_gains[1])


def measure(images: Sequence[np.ndarray]) -> dict[str, float]:
    """Median over uint8 output images of r/g, b/g, mean luma and green residual std."""
    vals = []
    for im in images:
        f = im.astype(np.float64) / 255.0
        rg, bg = sf.chroma_ratios(f)
        m = sf.inside_mask(*f.shape[:2])
        vals.append((rg, bg, float(st.luminance(f)[m].mean()), sf.hf_residual_std(f),
                     sf.psd_slope(sf.band_log_psd(f[..., 1]))))
    med = np.median(np.array(vals), axis=0)
    keys = ("r_over_g", "b_over_g", "mean_luminance", "hf_residual_std", "residual_psd_slope")
    return dict(zip(keys, (float(v) for v in med), strict=True))


def tilt_spectrum(profile: SensorProfile, tilt: float) -> SensorProfile:
    """The profile with its noise spectrum tilted: log10 PSD + tilt * (freq - 0.5)."""
    f = np.asarray(profile.noise_psd_freq)
    logp = np.asarray(profile.noise_psd_log10) + tilt * (f - 0.5)
    return dataclasses.replace(profile, noise_psd_log10=tuple(float(v) for v in logp))


def _width(im) -> int:
    return int(im.shape[1] if isinstance(im, np.ndarray) else im.intrinsics.width)


def _fit_blur(profile: SensorProfile, quiet_slope, width: int,
              max_sigma: float = 2.0, steps: int = 10) -> SensorProfile:
    """The profile with the Gaussian blur (px at ``width``) whose noise-free output has the
    target residual PSD slope (bisection: more blur, steeper spectrum); 0 if the renders are
    steeper already, ``max_sigma`` at most."""
    def at(sigma: float) -> SensorProfile:
        return dataclasses.replace(profile, defocus_sigma_px=float(sigma),
                                   defocus_ref_width=int(width))

    target = profile.residual_psd_slope
    if quiet_slope(at(0.0)) <= target:
        return at(0.0)
    lo, hi = 0.0, max_sigma
    if quiet_slope(at(hi)) > target:
        return at(hi)
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if quiet_slope(at(mid)) > target else (lo, mid)
    return at(0.5 * (lo + hi))


def calibrate_profile(profile: SensorProfile, clean: Sequence, cfg=None,
                      iterations: int = 4, seed: int = 0, intrinsics=None,
                      prev_poses: Sequence | None = None,
                      reference_features: str | Path | np.ndarray | None = None,
                      grading_fit: str = "staged") -> SensorProfile:
    """Tune the knobs that depend on the renderer so that the sensor output of the clean
    renders ``clean`` (uint8 sRGB arrays, or Frames) hits the profile's median targets:
    ``colour_gains`` (r/g, b/g), the noise level (a and b scaled together; residual std) and,
    when the profile has a ``residual_psd_slope`` target, the optics blur
    (``defocus_sigma_px``, unless ``cfg`` sets one: the noise-free output's residual spectrum
    as steep as the target; none if the renders are already steeper) and a tilt of the noise
    spectrum (log10 PSD + tilt (f - 0.5)).
    ``intrinsics`` of bare arrays are needed for cos^4 vignetting. With Frames, ``prev_poses``
    (per frame: (pose, time_s) of the frame before, or None) switch on motion blur as in a
    dataset.

    With ``reference_features`` (real frames' appearance_gap.py feature vectors,
    :func:`load_features`) the colour rendering is fitted too, in three stages: (1) the knobs
    above on the output without it; (2) its curves (room.sensor.grading.fit_curves:
    saturation, value and shadow desaturation to the profile's ``dark_fraction``) on that
    output; (3) the gains, noise level and spectrum tilt again on the graded output, the
    curves and the blur kept. The curves stretch the value range and so raise the residual and
    flatten its spectrum; stage 3 takes that back with less, steeper noise.
    ``grading_fit="interleaved"`` instead refits the curves before the blur and at every
    iteration (how assets/sensor/textured.json was made). Measured with
    ``bench_appearance.py --frames 40`` (two samples of the survey views), each look fitted
    both ways: on the default look's renders interleaved ran the blur to its 2 px cap and
    left colour c2st at 0.99 / 0.97 (staged: 0.85 / 0.83); on the textured look's, staged
    gave colour 0.87 / 0.90 and a residual slope outside the real range on one sample
    (interleaved: 0.85 / 0.84, 8 of 8 statistics). No hue curve: it acts on
    8-bit codes and doubles the steps of G - B on dark pixels, which flattened the noise-free
    residual spectrum (slope -0.15) beyond what any blur up to 2 px brings back."""
    cfg = cfg or SensorConfig()
    clean = list(clean)
    if not clean:
        raise InputFileError("calibration needs at least one clean render")
    if grading_fit not in ("staged", "interleaved"):
        raise ConfigError(f"grading_fit={grading_fit!r}: 'staged' or 'interleaved'")

    def run(prof: SensorProfile, noise: bool = True, graded: bool = True,
            images: bool = False) -> dict[str, float] | list[np.ndarray]:
        c = cfg if noise else dataclasses.replace(
            cfg, noise=dataclasses.replace(cfg.noise, enabled=False))
        if not graded:
            c = dataclasses.replace(c, grading=dataclasses.replace(c.grading, enabled=False))
        model = SensorModel(c, prof)
        rng = np.random.default_rng(seed)
        out = []
        for i, im in enumerate(clean):
            if isinstance(im, np.ndarray):
                out.append(model.process(im, rng, intrinsics=intrinsics)[0])
                continue
            prev = None
            if prev_poses is not None and prev_poses[i] is not None:
                T_prev, t_prev = prev_poses[i]
                prev = im.replace(T_world_cam=np.asarray(T_prev, float), time_s=float(t_prev),
                                  meta={})
            out.append(model.apply(im, prev_frame=prev, rng=rng).rgb)
        return out if images else measure(out)

    targets = None if reference_features is None else grading.reference_histograms(
        load_features(reference_features))
    staged = targets is None or grading_fit == "staged"
    graded = targets is None  # stage 1 without the colour rendering when it is to be fitted
    if not staged:
        profile, graded = _regrade(profile, run, targets), True
    if profile.residual_psd_slope is not None and cfg.defocus_sigma_px is None:
        profile = _fit_blur(profile, lambda p: run(p, False, graded)["residual_psd_slope"],
                            _width(clean[0]))
    # the noise level and spectrum below are fitted at this width
    profile = dataclasses.replace(profile, noise_ref_width=_width(clean[0]))
    if staged:
        profile, history, tilt = _tune(profile, lambda p, n: run(p, n, graded), iterations)
    else:
        history, tilt = [], 0.0
        for _ in range(iterations):
            profile, step, t = _tune(_regrade(profile, run, targets), run, 1)
            tilt += t
            history += [{**h, "tilt": tilt} for h in step]
    calib = {**profile.calibration, "frames": len(clean), "defocus_sigma_px":
             profile.defocus_sigma_px, "iterations": history, "grading_fit": grading_fit}
    if targets is not None:
        profile = _regrade(profile, run, targets)
        if staged:
            profile, graded_history, t = _tune(profile, run, iterations)
            tilt += t
            calib["graded_iterations"] = graded_history
        calib["grading"] = {"reference_frames": len(load_features(reference_features)),
                            **{f"{k}_hist": [float(v) for v in t] for k, t in
                               zip(("hue", "saturation", "value"), targets, strict=True)}}
    calib.update(final=run(profile), spectrum_tilt=tilt)
    return dataclasses.replace(profile, calibration=calib)


def _regrade(profile: SensorProfile, run, targets) -> SensorProfile:
    """The profile with colour-rendering curves fitted (grading.fit_curves) to the real
    frames' histograms ``targets`` on the output of ``run`` without them."""
    return dataclasses.replace(profile, **grading.fit_curves(
        run(profile, graded=False, images=True), None, *targets[1:],
        dark=profile.dark_fraction))


def _tune(profile: SensorProfile, run, iterations: int) -> tuple[SensorProfile, list, float]:
    """``iterations`` damped updates of the colour gains, the noise level and (with a slope
    target) the noise spectrum's tilt so that ``run(profile, noise)`` (measure() of the sensor
    output, noise on or off) hits the profile's r/g, b/g, residual std and residual slope.
    Returns the profile, the per-iteration record and the total tilt."""
    history, tilt = [], 0.0
    for _ in range(iterations):
        quiet, noisy = run(profile, False), run(profile, True)
        g = np.array(profile.colour_gains, dtype=np.float64)
        # Output ratios follow linear ratios to roughly the power 1/2.4 (sRGB); damped update.
        g[0] *= (profile.r_over_g / noisy["r_over_g"]) ** 2.0
        g[2] *= (profile.b_over_g / noisy["b_over_g"]) ** 2.0
        want = max(profile.hf_residual_std**2 - quiet["hf_residual_std"] ** 2, 1e-10)
        have = max(noisy["hf_residual_std"] ** 2 - quiet["hf_residual_std"] ** 2, 1e-10)
        scale = want / have
        step = 0.0
        if profile.residual_psd_slope is not None:
            # One band is 1/8 of the frequency range: a tilt t moves the noise's band slope by
            # t / 8; the output slope moves less (the render's own residual): damped by 0.8.
            step = 0.8 * 8.0 * (profile.residual_psd_slope - noisy["residual_psd_slope"])
            tilt += step
        history.append({"measured": noisy, "clean": quiet, "tilt": tilt})
        profile = dataclasses.replace(
            tilt_spectrum(profile, step), colour_gains=tuple(float(v) for v in g),
            noise_shot_a=profile.noise_shot_a * scale, noise_read_b=profile.noise_read_b * scale)
    return profile, history, tilt
