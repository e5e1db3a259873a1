"""Fit sensor profiles: from real frames, from published statistics, and against our renders.

- :func:`fit_profile` measures a folder's worth of real frames: the radially averaged power
  spectrum of the high-frequency residual (green minus its Gaussian blur, sigma 1.5 px, the same
  residual as the shared ``image_stats.py``) deconvolved by that high-pass filter, the noise level
  versus brightness, colour balance and vignetting.
- :func:`profile_from_reference` converts the percentile summary written by ``image_stats.py``
  (e.g. ``bronchoscopy_appearance.json``: no frames, only statistics) into a profile.
- :func:`calibrate_profile` tunes the knobs that depend on our renderer (colour gains, noise
  level) so that the sensor output of given clean renders hits the profile's targets.

Units as in room.sensor.profile: output values in [0, 1], normalised radial frequency
(1 = Nyquist per axis), normalised image radius (1 = middle of an edge).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from room.errors import InputFileError
from room.sensor import stages as st
from room.sensor.profile import SensorProfile

RESIDUAL_SIGMA_PX = 1.5
"""Gaussian sigma of the high-frequency residual (matches the shared image_stats.py)."""
PSD_EDGES = np.linspace(0.0, np.sqrt(2.0), 29)
"""Radial frequency bins of fitted spectra (28 bins of width 0.0505 up to the corner)."""
MIN_H2 = 0.2
"""Below this band-averaged |H|^2 of the residual filter, deconvolution amplifies image content
more than it recovers noise: those bands are extrapolated instead (see _extrapolate_low)."""
NO_NOISE_LOG10 = -12.0
"""log10 PSD recorded for frames without any measurable noise."""
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


# --------------------------------------------------------------------------- measurements
@dataclass(frozen=True)
class FitSensorConfig:
    """Settings of ``room-fit-sensor`` (schema of ``conf/fit_sensor.yaml``).

    ``out``: output JSON (a bare name is written to assets/sensor/<name>.json); ``frames``: a
    folder of real frames (PNG/JPEG, one size), or ``reference``: a percentile summary written
    by image_stats.py; ``name``: the profile name (default: the output file's stem);
    ``calibrate``: a folder of clean renders (uint8 PNG) to tune colour gains and noise;
    ``tone_gamma``/``tone_shoulder``: the tone curve the model will use (and assumed to have
    made the frames); reference only: ``read_fraction`` (signal-independent share of the noise
    variance), ``vignetting_strength`` (extra cos^4 falloff, 1 - s (1 - cos^4)),
    ``vignetting_tan_half_width`` (tan of the camera's half horizontal FOV; 0.787 = the default
    600 px bronchoscope); ``iterations``: calibration iterations; ``reference_features``: with
    ``calibrate``, the real frames' appearance_gap.py feature vectors (.npz, key ``features``,
    e.g. bronchoscopy_features.npz) to fit the colour-rendering curves to (room.sensor.grading;
    null: no curves); ``grading_fit``: how ("staged": after the other knobs, which are then
    retuned on the graded output; "interleaved": refitted at every iteration;
    room.sensor.calibrate.calibrate_profile)."""

    out: str = "???"  # required
    frames: str | None = None
    reference: str | None = None
    name: str | None = None
    calibrate: str | None = None
    tone_gamma: float = 1.0
    tone_shoulder: float = 0.0
    read_fraction: float = 0.3
    vignetting_strength: float = 0.0
    vignetting_tan_half_width: float = 0.787
    iterations: int = 6
    seed: int = 0
    reference_features: str | None = None
    grading_fit: str = "staged"


def residual(gray: np.ndarray, sigma: float = RESIDUAL_SIGMA_PX) -> np.ndarray:
    """High-frequency residual: image minus its Gaussian blur (scipy, reflected borders)."""
    g = np.asarray(gray, dtype=np.float64)
    return g - ndimage.gaussian_filter(g, sigma)


def residual_transfer(h: int, w: int, sigma: float = RESIDUAL_SIGMA_PX) -> np.ndarray:
    """|H|^2 of the residual operator on the full (unshifted) FFT grid, computed exactly from
    scipy's Gaussian kernel (periodic image of a delta)."""
    d = np.zeros((h, w))
    d[0, 0] = 1.0
    g = np.fft.fft2(ndimage.gaussian_filter(d, sigma, mode="wrap"))
    return np.abs(1.0 - g) ** 2


def radial_mean(values: np.ndarray, fr: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean of ``values`` in each radial-frequency bin [edges[i], edges[i+1]); NaN if empty."""
    idx = np.digitize(fr.ravel(), edges) - 1
    n = len(edges) - 1
    ok = (idx >= 0) & (idx < n)
    s = np.bincount(idx[ok], values.ravel()[ok], minlength=n)
    c = np.bincount(idx[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return s / c


def residual_psd(gray: np.ndarray, edges: np.ndarray = PSD_EDGES) -> tuple[np.ndarray, np.ndarray]:
    """(radially averaged |FFT(residual)|^2 / (H W), band-averaged |H|^2) per bin."""
    h, w = gray.shape
    p = np.abs(np.fft.fft2(residual(gray))) ** 2 / (h * w)
    fr = st.radial_frequency(h, w)
    return radial_mean(p, fr, edges), radial_mean(residual_transfer(h, w), fr, edges)


def residual_gain(h: int, w: int, freq, log10_psd) -> float:
    """k such that std(residual(noise)) = k * std(noise) for noise of the tabulated spectrum."""
    fr = st.radial_frequency(h, w)
    p = 10.0 ** np.interp(fr, np.asarray(freq, float), np.asarray(log10_psd, float))
    p[0, 0] = 0.0
    return float(np.sqrt((p * residual_transfer(h, w)).sum() / p.sum()))


def inside_mask(h: int, w: int) -> np.ndarray:
    """Pixels within the image circle (normalised radius <= 1)."""
    return st.normalised_radius(h, w) <= 1.0


def chroma_ratios(img: np.ndarray) -> tuple[float, float]:
    """(mean R / mean G, mean B / mean G) of an output image inside the image circle."""
    m = inside_mask(*img.shape[:2])
    r, g, b = (float(img[..., c][m].mean()) for c in range(3))
    return r / max(g, 1e-9), b / max(g, 1e-9)


def radial_luminance(img: np.ndarray, nbins: int = 10) -> np.ndarray:
    """Mean output luma in ``nbins`` rings of normalised radius over [0, 1)."""
    rad = st.normalised_radius(*img.shape[:2])
    lum = st.luminance(img)
    edges = np.linspace(0, 1, nbins + 1)
    return np.array([lum[(rad >= a) & (rad < b)].mean() for a, b in zip(edges[:-1], edges[1:],
                                                                          strict=True)])


def hf_residual_std(img: np.ndarray) -> float:
    """Std of the green-channel residual inside the image circle (output units)."""
    return float(residual(img[..., 1])[inside_mask(*img.shape[:2])].std())


def band_log_psd(gray: np.ndarray, bands: int = 8) -> np.ndarray:
    """log10 mean residual power in ``bands`` equal radial-frequency bands up to Nyquist (the
    corners beyond are left out), as the shared image_stats.py reports it."""
    h, w = gray.shape
    p = np.abs(np.fft.fft2(residual(gray))) ** 2 / (h * w)
    m = radial_mean(p, st.radial_frequency(h, w), np.linspace(0.0, 1.0, bands + 1))
    return np.log10(m + 1e-12)


def psd_slope(log_bands: np.ndarray) -> float:
    """Least-squares slope of log10 band power against band index (decades per band)."""
    return float(np.polyfit(np.arange(len(log_bands)), log_bands, 1)[0])


# --------------------------------------------------------------------------- spectra
def _extrapolate_low(freq: np.ndarray, logp: np.ndarray, reliable: np.ndarray) -> np.ndarray:
    """Fill unreliable low-frequency bins by extending the log-log line through the first
    four reliable bins (a power law), which is exact for power-law noise."""
    out = logp.copy()
    idx = np.flatnonzero(reliable)
    if len(idx) < 2:
        raise InputFileError("frames too small to fit a noise spectrum (need >= 32 px)")
    use = idx[:4]
    slope, icpt = np.polyfit(np.log10(freq[use]), logp[use], 1)
    low = np.arange(len(freq)) < idx[0]
    out[low] = icpt + slope * np.log10(freq[low])
    return out


def deconvolve_psd(band_power: np.ndarray, band_h2: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """log10 noise PSD from the residual's band power and the filter's band-averaged |H|^2;
    bins with |H|^2 < MIN_H2 are extrapolated as a power law."""
    ok = np.isfinite(band_power) & (band_h2 >= MIN_H2) & (band_power > 0)
    if not np.any(band_power[np.isfinite(band_power)] > 0):
        return np.full(len(freq), NO_NOISE_LOG10)  # noise-free frames: a negligible floor
    logp = np.full(len(freq), np.nan)
    logp[ok] = np.log10(band_power[ok] / band_h2[ok])
    logp = _extrapolate_low(freq, logp, ok)
    # Empty high bins (small images) take the last measured value.
    last = np.flatnonzero(np.isfinite(logp))[-1]
    logp[last + 1:] = logp[last]
    return logp


# --------------------------------------------------------------------------- fitting
def read_frames(folder: str | Path) -> list[np.ndarray]:
    """All images in ``folder`` (sorted by name) as uint8 RGB arrays of one size."""
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(f"frames folder {folder} does not exist; pass frames=DIR with "
                             "real bronchoscopy images (PNG/JPEG)")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS)
    if not paths:
        raise InputFileError(f"no images ({', '.join(IMAGE_EXTS)}) in {folder}")
    frames = []
    for p in paths:
        try:
            frames.append(np.asarray(Image.open(p).convert("RGB")))
        except OSError as e:
            raise InputFileError(f"cannot read image {p}: {e}; remove or fix it") from e
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise InputFileError(f"frames in {folder} differ in size {sorted(shapes)}; "
                             "resize them to one size first")
    return frames


def _as_float(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img)
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    return a.astype(np.float64)


def noise_vs_level(frames: Sequence[np.ndarray], nbins: int = 12, min_pixels: int = 2000
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Robust std (1.4826 MAD) of the green residual binned by local brightness (the green
    Gaussian blur), pooled over frames. Returns (bin centre levels, residual sigmas)."""
    edges = np.linspace(0.0, 1.0, nbins + 1)
    pools: list[list[np.ndarray]] = [[] for _ in range(nbins)]
    for f in frames:
        g = _as_float(f)[..., 1]
        smooth = ndimage.gaussian_filter(g, RESIDUAL_SIGMA_PX)
        r = g - smooth
        idx = np.clip(np.digitize(smooth.ravel(), edges) - 1, 0, nbins - 1)
        for i in range(nbins):
            pools[i].append(r.ravel()[idx == i])
    levels, sigmas = [], []
    for i, pool in enumerate(pools):
        r = np.concatenate(pool)
        if r.size >= min_pixels:
            levels.append(0.5 * (edges[i] + edges[i + 1]))
            sigmas.append(1.4826 * np.median(np.abs(r - np.median(r))))
    return np.array(levels), np.array(sigmas)


def fit_noise_model(levels: np.ndarray, sigma_out: np.ndarray, gamma: float = 1.0,
                    shoulder: float = 0.0, quantisation: bool = True) -> tuple[float, float]:
    """Fit linear-domain ``var = a * s + b`` (a, b >= 0) to output-domain sigmas measured at
    output levels, through the tone curve's slope; 8-bit quantisation variance (1/12 DN^2)
    is removed first when ``quantisation``."""
    from scipy.optimize import nnls

    lut_x = np.linspace(0, 1, 4097, dtype=np.float32)
    lut_y = st.tone_curve(lut_x, gamma, shoulder)
    s = np.interp(levels, lut_y, lut_x)
    var_out = np.asarray(sigma_out, float) ** 2
    if quantisation:
        var_out = np.maximum(var_out - (1 / 255) ** 2 / 12, 0.0)
    slope = np.array([st.tone_slope(float(v), gamma, shoulder) for v in s])
    var_lin = var_out / slope**2
    wts = 1.0 / np.maximum(var_lin, 1e-12)  # relative errors: each level counts alike
    A = np.stack([s, np.ones_like(s)], axis=1) * wts[:, None]
    (a, b), _ = nnls(A, var_lin * wts)
    return float(a), float(b)


def vignetting_from_profile(radial_lum_out: Sequence[float], gamma: float = 1.0,
                            shoulder: float = 0.0) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Vignetting estimate from a radial luminance profile (output values, rings over [0, 1)):
    the non-increasing envelope of the linear-light profile, normalised to the centre. Scene
    content (a dark lumen in the middle) cannot be told apart from optics in single frames, so
    only falloff that the data demand is kept. Returns (radii, gains), extended to the corner."""
    lut_x = np.linspace(0, 1, 4097, dtype=np.float32)
    lin = np.interp(np.asarray(radial_lum_out, float), st.tone_curve(lut_x, gamma, shoulder),
                    lut_x)
    env = np.minimum.accumulate(lin) / max(lin[0], 1e-9)
    n = len(env)
    radii = (np.arange(n) + 0.5) / n
    radii = np.concatenate([[0.0], radii, [np.sqrt(2.0)]])
    gains = np.concatenate([[1.0], env, [env[-1]]])
    return tuple(float(r) for r in radii), tuple(float(g) for g in gains)


def fit_profile(frames: Sequence[np.ndarray], name: str, description: str = "",
                tone_gamma: float = 1.0, tone_shoulder: float = 0.0,
                source: dict | None = None) -> SensorProfile:
    """Fit a profile to real frames (uint8 RGB or float output values, one size).

    ``tone_gamma``/``tone_shoulder`` describe the tone curve assumed to have produced the frames
    (plain sRGB by default); they convert the output-domain noise into linear light.
    """
    if len(frames) == 0:
        raise InputFileError("no frames to fit a sensor profile to")
    imgs = [_as_float(f) for f in frames]
    h, w = imgs[0].shape[:2]
    power = np.zeros(len(PSD_EDGES) - 1)
    for im in imgs:
        p, h2 = residual_psd(im[..., 1])
        power += np.nan_to_num(p)
    power /= len(imgs)
    freq = 0.5 * (PSD_EDGES[:-1] + PSD_EDGES[1:])
    logp = deconvolve_psd(power, h2, freq)
    k = residual_gain(h, w, freq, logp)
    levels, sig_res = noise_vs_level(imgs)
    sig_out = sig_res / k
    a, b = fit_noise_model(levels, sig_out, tone_gamma, tone_shoulder,
                           quantisation=frames[0].dtype == np.uint8)
    ratios = np.array([chroma_ratios(im) for im in imgs])
    radial = np.median([radial_luminance(im) for im in imgs], axis=0)
    vr, vg = vignetting_from_profile(radial, tone_gamma, tone_shoulder)
    mean_lum = float(np.median([st.luminance(im)[inside_mask(h, w)].mean() for im in imgs]))
    return SensorProfile(
        name=name, description=description or f"fitted to {len(imgs)} frames",
        source=source or {"kind": "frames", "frames": len(imgs), "size": [w, h]},
        target_mean_luminance=mean_lum,
        r_over_g=float(np.median(ratios[:, 0])), b_over_g=float(np.median(ratios[:, 1])),
        vignetting_radius=vr, vignetting_gain=vg,
        noise_psd_freq=tuple(float(f) for f in freq),
        noise_psd_log10=tuple(float(v) for v in logp),
        noise_shot_a=a, noise_read_b=b,
        noise_level=tuple(float(v) for v in levels), noise_sigma=tuple(float(v) for v in sig_out),
        tone_gamma=tone_gamma, tone_shoulder=tone_shoulder,
        hf_residual_std=float(np.median([hf_residual_std(im) for im in imgs])),
        residual_psd_slope=float(np.median([psd_slope(band_log_psd(im[..., 1]))
                                            for im in imgs])),
    )


def with_noise_level(profile: SensorProfile, sigma_out: float, level_out: float,
                     read_fraction: float, green_gain: float = 1.0) -> SensorProfile:
    """Set (a, b) so the output-domain noise sigma at output level ``level_out`` is
    ``sigma_out``, a fraction ``read_fraction`` of the variance being signal independent.
    ``green_gain`` is the colour gain of green applied after the noise."""
    g, sh = profile.tone_gamma, profile.tone_shoulder
    lut_x = np.linspace(0, 1, 4097, dtype=np.float32)
    x_dev = float(np.interp(level_out, st.tone_curve(lut_x, g, sh), lut_x))
    s = x_dev / green_gain
    var_lin = (sigma_out / (st.tone_slope(x_dev, g, sh) * green_gain)) ** 2
    return dataclasses.replace(profile, noise_read_b=read_fraction * var_lin,
                               noise_shot_a=(1 - read_fraction) * var_lin / max(s, 1e-6))
