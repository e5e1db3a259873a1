"""Pure image functions behind the sensor model (room.sensor.model).

Conventions: images are float32 arrays (H, W[, 3]) in *linear* light unless a name says sRGB;
pixel centres are at integer coordinates (OpenCV); radial frequency ``fr`` is normalised so that
1 is the Nyquist frequency along each axis (``hypot(kx / (W/2), ky / (H/2))`` for integer
frequency indices kx, ky), the same convention as the shared ``image_stats.py`` tool; the
normalised image radius ``rad`` is ``hypot((x - (W-1)/2) / (W/2), (y - (H-1)/2) / (H/2))``
(1 at the middle of each edge), also as in that tool.
"""

from __future__ import annotations

import cv2
import numpy as np
import scipy.fft

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
"""Luma weights used by the appearance statistics (Rec. 601, applied to sRGB values)."""


# --------------------------------------------------------------------------- colour encoding
def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """Decode sRGB values in [0, 1] to linear light (IEC 61966-2-1)."""
    v = np.asarray(v, dtype=np.float32)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Encode linear light in [0, 1] (clipped) to sRGB values in [0, 1]."""
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)


def uint8_to_linear(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB image -> float32 linear light, via a 256-entry lookup table."""
    lut = srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0)
    return lut[rgb]


def to_uint8(v: np.ndarray) -> np.ndarray:
    """Float values in [0, 1] -> uint8 with rounding (values outside are clipped)."""
    return np.clip(np.rint(np.asarray(v) * 255.0), 0, 255).astype(np.uint8)


def tone_curve(x: np.ndarray, gamma: float = 1.0, shoulder: float = 0.0) -> np.ndarray:
    """Display encoding: linear light -> output values in [0, 1].

    ``x ** (1 / gamma)`` (gamma > 1 lifts the shadows as an endoscope processor does), an
    optional soft highlight shoulder ``y = x (1 + s x) / (1 + s x)`` rescaled so 1 maps to 1
    (``shoulder`` = s >= 0, 0 disables it), then the sRGB transfer function.
    """
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    if gamma != 1.0:
        x = x ** np.float32(1.0 / gamma)
    if shoulder > 0:
        s = np.float32(shoulder)
        x = x * (1 + s) / (1 + s * x)
    return linear_to_srgb(x)


def tone_slope(x: float, gamma: float = 1.0, shoulder: float = 0.0) -> float:
    """Derivative d tone_curve / dx at linear value ``x`` (central difference)."""
    h = 1e-4 * max(x, 1e-3)
    lo, hi = max(x - h, 0.0), min(x + h, 1.0)
    y = tone_curve(np.array([lo, hi], dtype=np.float32), gamma, shoulder).astype(np.float64)
    return float((y[1] - y[0]) / (hi - lo))


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an (H, W, 3) image in whatever encoding it is in."""
    return rgb @ LUMA


# --------------------------------------------------------------------------- geometry helpers
def normalised_radius(h: int, w: int) -> np.ndarray:
    """(H, W) float32 radius, 1 at the middle of each edge (image_stats convention)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.hypot((xx - (w - 1) / 2) / (w / 2), (yy - (h - 1) / 2) / (h / 2))


def radial_frequency(h: int, w: int, rfft: bool = False) -> np.ndarray:
    """Normalised radial frequency (1 = Nyquist per axis) on numpy's FFT grid (unshifted).

    With ``rfft`` the grid of ``np.fft.rfft2`` (last axis halved) is returned.
    """
    ky = np.fft.fftfreq(h) * 2.0
    kx = (np.fft.rfftfreq(w) if rfft else np.fft.fftfreq(w)) * 2.0
    return np.hypot(ky[:, None], kx[None, :]).astype(np.float64)


# --------------------------------------------------------------------------- optics
def vignetting_cos4(intr, strength: float = 1.0) -> np.ndarray:
    """Natural vignetting cos^4(theta) of a pinhole camera, blended: 1 - s (1 - cos^4).

    theta is the angle of each pixel's ray to the optical axis from the intrinsics (fx, fy, cx,
    cy in pixels); lens distortion is ignored (the falloff is smooth).
    """
    h, w = intr.height, intr.width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t2 = ((xx - intr.cx) / intr.fx) ** 2 + ((yy - intr.cy) / intr.fy) ** 2
    cos4 = 1.0 / (1.0 + t2) ** 2
    return (1.0 - strength * (1.0 - cos4)).astype(np.float32)


def vignetting_profile(h: int, w: int, radius, gain, strength: float = 1.0) -> np.ndarray:
    """Radial gain map from a tabulated profile (gain vs normalised radius), blended by s."""
    rad = normalised_radius(h, w)
    g = np.interp(rad, np.asarray(radius, float), np.asarray(gain, float)).astype(np.float32)
    return (1.0 - strength * (1.0 - g)).astype(np.float32)


def gaussian_blur(img: np.ndarray, sigma_px: float) -> np.ndarray:
    """Isotropic Gaussian blur (sigma in pixels, reflected borders); no-op for sigma <= 0."""
    if sigma_px <= 0:
        return img
    return cv2.GaussianBlur(img, (0, 0), sigmaX=float(sigma_px), borderType=cv2.BORDER_REFLECT)


def bloom(img: np.ndarray, threshold: float, sigma_px: float, strength: float) -> np.ndarray:
    """Highlight glow: the part of each channel above ``threshold`` (linear, 1 = saturation)
    is blurred with a Gaussian of ``sigma_px`` and added back times ``strength``."""
    if strength <= 0:
        return img
    excess = np.maximum(img - np.float32(threshold), 0.0)
    if not excess.any():
        return img
    return img + np.float32(strength) * gaussian_blur(excess, sigma_px)


def pixel_rays(intr) -> np.ndarray:
    """(H, W, 3) float32 pinhole rays (x/z, y/z, 1) of every pixel (distortion ignored)."""
    v, u = np.mgrid[0:intr.height, 0:intr.width].astype(np.float32)
    return np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones_like(u)], -1)


def local_gain(lin: np.ndarray, strength: float, sigma_frac: float) -> np.ndarray:
    """(H, W) float32 brightness-equalising gain of an endoscope processor: compresses the
    large-scale log-luminance by ``strength`` (0 = none, 1 = flat), ``exp(-s (B - mean B))``
    with B the Gaussian-blurred log luminance (sigma = ``sigma_frac`` x image width), so the
    dark far lumen is lifted and near walls are toned down while fine detail is kept. Computed
    on an 8x smaller image (it is smooth); invariant to a global scale of ``lin``."""
    h, w = lin.shape[:2]
    f = 8
    small = cv2.resize(lin, (max(w // f, 1), max(h // f, 1)), interpolation=cv2.INTER_AREA)
    logl = np.log(np.maximum(luminance(small), 1e-4)).astype(np.float32)
    b = gaussian_blur(logl, sigma_frac * w / f)
    g = np.exp(-np.float32(strength) * (b - np.float32(b.mean())))
    return cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def image_motion(depth: np.ndarray, intr, T_world_cam: np.ndarray,
                 T_world_prev: np.ndarray, far_m: float | None = None,
                 rays: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 2) float32 displacement in pixels from each pixel of the current image to where
    the same surface point appeared in the previous frame (pinhole model, distortion ignored:
    it only shapes the blur).

    ``depth`` is z-depth in metres (0 = no hit: those rays are placed at ``far_m``, default the
    intrinsics' far plane, so rotation still blurs them). ``rays``: cached :func:`pixel_rays`.
    """
    far = intr.far if far_m is None else far_m
    rays = pixel_rays(intr) if rays is None else rays
    z = np.where(depth > 0, depth, np.float32(far)).astype(np.float32)
    T = (np.linalg.inv(T_world_prev) @ T_world_cam).astype(np.float32)
    q = (rays * z[..., None]) @ T[:3, :3].T + T[:3, 3]
    zq = np.maximum(q[..., 2], np.float32(1e-9))
    du = intr.fx * q[..., 0] / zq + intr.cx - (intr.fx * rays[..., 0] + intr.cx)
    dv = intr.fy * q[..., 1] / zq + intr.cy - (intr.fy * rays[..., 1] + intr.cy)
    return np.stack([du, dv], axis=-1)


def motion_blur(img: np.ndarray, motion: np.ndarray, shutter: float,
                max_samples: int = 8) -> tuple[np.ndarray, float]:
    """Average the image along each pixel's motion path over the exposure.

    The exposure spans the last ``shutter`` fraction of the frame interval, so a pixel
    integrates the scene along ``x + t * shutter * motion`` for t in [0, 1] (``motion`` from
    :func:`image_motion`), sampled about once per pixel of the 95th-percentile path length
    (at most ``max_samples`` samples; bilinear interpolation fills between them).
    Returns (blurred image, that 95th-percentile blur length in pixels).
    """
    length = np.hypot(motion[..., 0], motion[..., 1]) * np.float32(shutter)
    extent = float(np.percentile(length[::4, ::4], 95))
    n = int(min(max(np.ceil(extent) + 1, 1), max_samples))
    if n <= 1 or extent < 0.25:
        return img, extent
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    acc = np.zeros_like(img)
    for t in np.linspace(0.0, 1.0, n, dtype=np.float32):
        mx = xx + (t * shutter) * motion[..., 0]
        my = yy + (t * shutter) * motion[..., 1]
        acc += cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return acc / np.float32(n), extent


# --------------------------------------------------------------------------- noise
def psd_filter(h: int, w: int, freq, log10_psd) -> np.ndarray:
    """Amplitude filter on the rfft2 grid whose square has the tabulated radial shape,
    normalised so that filtered unit white noise has unit variance.

    ``freq`` (normalised radial frequency, increasing) and ``log10_psd`` tabulate the power
    spectral density; it is interpolated in log10 power and held constant outside the table.
    """
    fr = radial_frequency(h, w, rfft=True)
    p = 10.0 ** np.interp(fr, np.asarray(freq, float), np.asarray(log10_psd, float))
    p[0, 0] = 0.0  # no DC: the noise is zero-mean
    # Parseval on the rfft grid: interior columns stand for two full-grid samples.
    weight = np.full(p.shape, 2.0)
    weight[:, 0] = 1.0
    if w % 2 == 0:
        weight[:, -1] = 1.0
    mean_p = float((p * weight).sum() / (h * w))
    return np.sqrt(p / mean_p).astype(np.float32)


def correlated_noise(rng: np.random.Generator, shape: tuple[int, ...],
                     amp_filter: np.ndarray | None) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian noise of ``shape`` ((H, W) or (H, W, C)); white when
    ``amp_filter`` is None, else with the power spectrum ``amp_filter ** 2`` (from
    :func:`psd_filter`), one independent field per channel.

    The coloured field is drawn directly in the Fourier domain (complex Gaussian coefficients
    with E|X|^2 = H W, i.e. the spectrum of unit white noise, times the filter) and brought back
    with one inverse real FFT: the same distribution as filtering white noise, at half the cost.
    """
    if amp_filter is None:
        return rng.standard_normal(shape, dtype=np.float32)
    h, w = shape[:2]
    spec_shape = (h, w // 2 + 1, *shape[2:])
    z = rng.standard_normal((2, *spec_shape), dtype=np.float32)
    f = amp_filter if len(shape) == 2 else amp_filter[..., None]
    spec = (z[0] + 1j * z[1]).astype(np.complex64) * (f * np.float32(np.sqrt(h * w / 2.0)))
    return scipy.fft.irfft2(spec, s=(h, w), axes=(0, 1)).astype(np.float32)


# --------------------------------------------------------------------------- CFA and codec
# OpenCV names Bayer patterns by the 2x2 block starting at the second row and column; these
# codes are checked against explicit mosaics in tests/sensor/test_stages.py.
_BAYER = {
    "RGGB": cv2.COLOR_BayerBG2RGB,
    "BGGR": cv2.COLOR_BayerRG2RGB,
    "GRBG": cv2.COLOR_BayerGB2RGB,
    "GBRG": cv2.COLOR_BayerGR2RGB,
}
BAYER_PATTERNS = tuple(_BAYER)


def bayer_mosaic(img: np.ndarray, pattern: str = "RGGB") -> np.ndarray:
    """(H, W, 3) -> (H, W) colour-filter-array samples; ``pattern`` names the top-left 2x2."""
    ch = {"R": 0, "G": 1, "B": 2}
    raw = np.empty(img.shape[:2], dtype=img.dtype)
    for k, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        raw[dy::2, dx::2] = img[dy::2, dx::2, ch[pattern[k]]]
    return raw


def demosaic(raw: np.ndarray, pattern: str = "RGGB") -> np.ndarray:
    """Bilinear demosaic (OpenCV) of float CFA samples in [0, 1] via 16-bit integers."""
    raw16 = np.clip(np.rint(raw * 65535.0), 0, 65535).astype(np.uint16)
    rgb16 = cv2.cvtColor(raw16, _BAYER[pattern])
    return rgb16.astype(np.float32) / 65535.0


def jpeg_roundtrip(rgb8: np.ndarray, quality: int) -> np.ndarray:
    """Encode an (H, W, 3) uint8 RGB image as JPEG at ``quality`` (1..100) and decode it."""
    ok, buf = cv2.imencode(".jpg", rgb8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
        raise RuntimeError("OpenCV failed to JPEG-encode the sensor image")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()
