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

FFT_WORKERS = 2
"""Threads of scipy.fft's inverse transforms in the noise stage (pocketfft: the result does
not depend on the number)."""
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


_U8_LUT: np.ndarray | None = None


def uint8_to_linear(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB image -> float32 linear light, via a 256-entry lookup table (cv2.LUT)."""
    global _U8_LUT
    if _U8_LUT is None:
        _U8_LUT = srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0)
    rgb = np.asarray(rgb)
    if rgb.dtype == np.uint8 and rgb.ndim in (2, 3) and (rgb.ndim == 2 or rgb.shape[2] <= 4):
        return cv2.LUT(np.ascontiguousarray(rgb), _U8_LUT)
    return _U8_LUT[rgb]


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


def tone_curve_fast(x: np.ndarray, gamma: float = 1.0, shoulder: float = 0.0) -> np.ndarray:
    """:func:`tone_curve` with the same float32 operations in the same order (bit-identical
    results) but fewer temporaries: the sRGB power runs once, the linear toe only where needed.
    Returns a new array; ``x`` is untouched."""
    y = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    if gamma != 1.0:
        np.power(y, np.float32(1.0 / gamma), out=y)
    if shoulder > 0:
        s = np.float32(shoulder)
        d = s * y
        d += np.float32(1)
        y *= np.float32(1) + s
        y /= d
        np.clip(y, 0.0, 1.0, out=y)
    toe = y <= np.float32(0.0031308)
    lin = np.float32(12.92) * y[toe] if toe.any() else None
    np.power(y, np.float32(1 / 2.4), out=y)
    y *= np.float32(1.055)
    y -= np.float32(0.055)
    if lin is not None:
        y[toe] = lin
    return y


_QUANT_SHIFTS = (13, 11, 9)  # float32 bins of 2^13 ulps (relative width 1e-3) if one code edge
# each fits (code edges lie >= 1/255 apart in relative terms for these curves), else finer
_QUANT_CACHE: dict[tuple[float, float], tuple[np.ndarray, np.ndarray, int]] = {}


def _quantizer(gamma: float, shoulder: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Lookup tables of ``to_uint8(tone_curve(y))`` for y in [0, 1] indexed by the float32 bit
    pattern of y shifted right by ``shift`` (returned third): ``base[bin]`` is the code at the bin's
    first float and ``edge[bin]`` the smallest float of the bin with the next code (+inf if
    none). The 255 code edges are found by bisection over float32 bit patterns with the exact
    :func:`tone_curve`, so the result is bit-identical wherever the curve is monotone."""
    key = (float(gamma), float(shoulder))
    if key in _QUANT_CACHE:
        return _QUANT_CACHE[key]

    def code(bits: np.ndarray) -> np.ndarray:
        return to_uint8(tone_curve(bits.astype(np.int32).view(np.float32), gamma, shoulder))

    one = int(np.float32(1.0).view(np.int32))
    k = np.arange(1, 256)
    lo = np.zeros(255, np.int64)  # code(lo) < k <= code(hi)
    hi = np.full(255, one, np.int64)
    top = code(np.array([one]))[0]
    reach = k <= top
    for _ in range(32):
        mid = (lo + hi) // 2
        up = code(mid) >= k
        hi = np.where(up, mid, hi)
        lo = np.where(up, lo, mid)
    edges = hi[reach]
    if len(edges) and code(np.zeros(1, np.int64))[0] >= 1:
        raise ValueError("tone curve maps 0 above code 0")
    for shift in _QUANT_SHIFTS:
        b = edges >> shift
        inside = (edges & ((1 << shift) - 1)) != 0
        if not np.any(np.diff(edges >> shift) == 0):
            break
    else:  # pragma: no cover - a curve steeper than any display curve
        raise ValueError("tone curve too steep for the quantizer tables")
    n_bins = (one >> shift) + 1
    starts = np.arange(n_bins, dtype=np.int64) << shift
    base = np.searchsorted(edges, starts, side="right").astype(np.uint8)
    edge = np.full(n_bins, np.inf, np.float32)
    edge[b[inside]] = edges[inside].astype(np.int32).view(np.float32)
    _QUANT_CACHE[key] = (base, edge, shift)
    return base, edge, shift


class ToneTable:
    """:func:`tone_curve` for metering: piecewise linear between float32 values 2^13 ulps
    apart (relative spacing 1e-3; error ~1e-7, far below one output code), about 10x faster
    than the powers. Call with linear values (clipped to [0, 1])."""

    SHIFT = 13

    def __init__(self, gamma: float = 1.0, shoulder: float = 0.0) -> None:
        one = int(np.float32(1.0).view(np.int32))
        n = (one >> self.SHIFT) + 2
        starts = (np.arange(n, dtype=np.int64) << self.SHIFT).astype(np.int32).view(np.float32)
        x = np.clip(starts.astype(np.float64), 0.0, 1.0)
        if gamma != 1.0:
            x = x ** (1.0 / gamma)
        if shoulder > 0:
            x = x * (1 + shoulder) / (1 + shoulder * x)
        y = np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)
        slope = np.diff(y) / np.maximum(np.diff(starts.astype(np.float64)), 1e-45)
        self.start = starts[:-1].copy()
        self.value = y[:-1].astype(np.float32)
        self.slope = slope.astype(np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = np.clip(np.asarray(x, np.float32), 0.0, 1.0)
        idx = y.view(np.int32) >> self.SHIFT
        np.maximum(idx, 0, out=idx)
        y -= self.start.take(idx)
        y *= self.slope.take(idx)
        y += self.value.take(idx)
        return y


def develop_uint8(x: np.ndarray, gains: np.ndarray | None, gamma: float = 1.0,
                  shoulder: float = 0.0) -> np.ndarray:
    """``to_uint8(tone_curve(clip(x * gains, 0, 1), gamma, shoulder))`` bit for bit, through
    :func:`_quantizer`'s tables instead of evaluating the powers per pixel (about 5x faster).
    ``gains`` None: no colour gains. ``x`` is untouched."""
    if gains is None:
        y = np.array(x, dtype=np.float32)
    elif x.ndim == 3 and x.shape[2] == 3:  # cv2: the same float32 products, 20x faster
        y = cv2.multiply(x, tuple(float(g) for g in gains) + (0.0,))
    else:
        y = x * gains
    np.clip(y, 0.0, 1.0, out=y)
    base, edge, shift = _quantizer(gamma, shoulder)
    idx = y.view(np.int32) >> shift
    np.maximum(idx, 0, out=idx)  # -0.0 has the sign bit set
    out = base.take(idx)
    out += np.greater_equal(y, edge.take(idx)).view(np.uint8)
    return out


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
    is blurred with a Gaussian of ``sigma_px`` and added back times ``strength``.

    Only boxes around the highlights (plus the kernel's reach) are blurred, one per cluster of
    highlights (clusters further apart than twice the reach in rows, then in columns, have
    disjoint boxes): outside them the glow is exactly zero, and inside each the result equals
    the full-image blur (the reflected border of a box only mirrors zeros). ``img`` is updated
    in place and returned."""
    if strength <= 0:
        return img
    t = np.float32(threshold)
    h, w = img.shape[:2]
    hot = (img > t).reshape(h, -1)
    rows = np.flatnonzero(hot.any(axis=1))
    if not len(rows):
        return img
    r = _gauss_radius(sigma_px)
    for band in _runs(rows, 2 * r + 1):
        cols = np.flatnonzero(hot[band[0]:band[-1] + 1].any(axis=0).reshape(w, -1).any(axis=1))
        y0, y1 = max(band[0] - r, 0), min(band[-1] + r + 1, h)
        for run in _runs(cols, 2 * r + 1):
            x0, x1 = max(run[0] - r, 0), min(run[-1] + r + 1, w)
            box = img[y0:y1, x0:x1]
            glow = gaussian_blur(np.maximum(box - t, 0.0), sigma_px)
            glow *= np.float32(strength)
            box += glow
    return img


def _runs(idx: np.ndarray, gap: int) -> list[np.ndarray]:
    """Sorted indices split where consecutive ones are more than ``gap`` apart."""
    return np.split(idx, np.flatnonzero(np.diff(idx) > gap) + 1)


def _gauss_radius(sigma_px: float) -> int:
    """Half-width of the kernel cv2.GaussianBlur builds for float images at ``sigma_px``
    (ksize = round(sigma * 8 + 1) | 1), plus a pixel of margin."""
    return (int(round(sigma_px * 8 + 1)) | 1) // 2 + 1


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


def scale_into_range(x: np.ndarray) -> np.ndarray:
    """Scale each pixel of the (H, W, 3) float32 image ``x`` whose brightest channel exceeds 1
    by 1 / that channel, in place (the pixel's ratios R : G : B, hence its hue and
    saturation, are kept; a per-channel clip would turn it grey or shift its hue). Pixels in
    range are untouched; returns ``x``."""
    if x.size == 0 or float(x.max()) <= 1.0:
        return x
    r, g, b = cv2.split(x)
    m = cv2.max(cv2.max(r, g), b)  # the brightest channel (numpy's max over axis 2: 20x slower)
    rows = np.flatnonzero(m.max(axis=1) > 1.0)  # work on the rows that hold such pixels
    x[rows] /= np.maximum(m[rows], np.float32(1.0))[..., None]
    return x


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
    p = rays * z[..., None]
    q = cv2.transform(np.ascontiguousarray(p, np.float32), T[:3, :4])  # R p + t per pixel
    zq = np.maximum(q[..., 2], np.float32(1e-9))
    du = q[..., 0] / zq
    du *= np.float32(intr.fx)
    du -= rays[..., 0] * np.float32(intr.fx)
    dv = q[..., 1] / zq
    dv *= np.float32(intr.fy)
    dv -= rays[..., 1] * np.float32(intr.fy)
    return cv2.merge([du, dv])


def upsample_motion(sub: np.ndarray, shape: tuple[int, int], step: int) -> np.ndarray:
    """(H, W, 2) float32 motion field bilinearly interpolated from ``sub``, its values at every
    ``step``-th row and column (pixel (step i, step j) of the full image is ``sub[i, j]``
    exactly; edges beyond the last sample are held)."""
    h, w = shape[:2]
    m = np.float32([[1.0 / step, 0.0, 0.0], [0.0, 1.0 / step, 0.0]])
    return cv2.warpAffine(np.ascontiguousarray(sub, np.float32), m, (w, h),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def motion_blur(img: np.ndarray, motion: np.ndarray, shutter: float,
                max_samples: int = 8) -> tuple[np.ndarray, float]:
    """Average the image along each pixel's motion path over the exposure.

    The exposure spans the last ``shutter`` fraction of the frame interval, so a pixel
    integrates the scene along ``x + t * shutter * motion`` for t in [0, 1] (``motion`` from
    :func:`image_motion`), with 2^k equally spaced samples t = j / (2^k - 1): about one per
    pixel of the 95th-percentile path length, at most ``max_samples`` (rounded down to a power
    of two). The 2^k-sample average is built by k halvings, each averaging the image with
    itself remapped by the next binary digit of t (offset 2^(k-1-i) / (2^k - 1) of the path):
    k remaps instead of 2^k - 1, exact where the motion is uniform over the path's extent
    (the image motion is smooth except at depth edges, where it only shapes the blur).
    Bilinear interpolation fills between samples.
    Returns (blurred image, that 95th-percentile blur length in pixels).
    """
    n, extent = blur_samples(motion, shutter, max_samples)
    if n <= 1:
        return img, extent
    k = int(np.ceil(np.log2(n)))
    k = max(1, min(k, int(np.floor(np.log2(max(max_samples, 2))))))
    yy, xx = _pixel_grid(*img.shape[:2])
    mu, mv = np.ascontiguousarray(motion[..., 0]), np.ascontiguousarray(motion[..., 1])
    acc = img
    mx, my = np.empty_like(xx), np.empty_like(yy)
    for i in range(k):
        f = np.float32(shutter * 2 ** (k - 1 - i) / (2 ** k - 1))
        np.multiply(f, mu, out=mx)
        mx += xx
        np.multiply(f, mv, out=my)
        my += yy
        moved = cv2.remap(acc, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        acc = cv2.addWeighted(acc, 0.5, moved, 0.5, 0.0)
    return acc, extent


def blur_samples(motion: np.ndarray, shutter: float, max_samples: int = 8,
                 subsampled: bool = False) -> tuple[int, float]:
    """(samples along the path, 95th-percentile blur length in px) of :func:`motion_blur`,
    measured on every 4th row and column of ``motion`` (``subsampled``: it already is);
    1 sample = no blur."""
    sub = motion if subsampled else motion[::4, ::4]
    length = np.hypot(sub[..., 0], sub[..., 1]) * np.float32(shutter)
    extent = float(np.percentile(length, 95))
    n = int(min(max(np.ceil(extent) + 1, 1), max_samples))
    return (1 if extent < 0.25 else n), extent


_GRIDS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Cached float32 (yy, xx) pixel coordinates of an (h, w) image (read-only)."""
    if (h, w) not in _GRIDS:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        yy.flags.writeable = xx.flags.writeable = False
        _GRIDS[(h, w)] = (yy, xx)
    return _GRIDS[(h, w)]


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


def band_variance(freq, log10_psd, ref: int, width: int) -> float:
    """Share of the noise variance of a ``ref``-pixel-wide image (spectrum tabulated as in
    :func:`psd_filter`) inside the band a ``width``-pixel reduction of it still resolves
    (normalised frequency below width / ref on both axes; 1 when width >= ref). Reducing an
    image averages away the rest: white noise keeps (width / ref)^2 of its variance."""
    if width >= ref:
        return 1.0
    fr = radial_frequency(ref, ref)
    fy = np.abs(np.fft.fftfreq(ref))[:, None] * 2.0
    p = 10.0 ** np.interp(fr, np.asarray(freq, float), np.asarray(log10_psd, float))
    p[0, 0] = 0.0
    band = (fy <= width / ref) & (fy.T <= width / ref)
    return float(p[band].sum() / p.sum())


def correlated_noise(rng: np.random.Generator, shape: tuple[int, ...],
                     amp_filter: np.ndarray | None, mix: np.ndarray | None = None) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian noise of ``shape`` ((H, W) or (H, W, C)); white when
    ``amp_filter`` is None, else with the power spectrum ``amp_filter ** 2`` (from
    :func:`psd_filter`), one independent field per channel, or with ``mix`` (a (C, C) matrix
    L, e.g. a Cholesky factor) channels correlated as ``L @ L.T`` (unit variance when the rows
    of L have unit norm): the white coefficients are mixed across channels before filtering.

    The coloured field is drawn directly in the Fourier domain (complex Gaussian coefficients
    with E|X|^2 = H W, i.e. the spectrum of unit white noise, times the filter) and brought back
    with one inverse real FFT: the same distribution as filtering white noise, at half the cost.
    The coefficients come from :func:`spectral_normals` (every pixel sums all of them, so the
    field is Gaussian to far below the 8-bit output's resolution).
    """
    if amp_filter is None:
        z = rng.standard_normal(shape, dtype=np.float32)
        return _mix_channels(z, mix)
    h, w = shape[:2]
    spec_shape = (h, w // 2 + 1, *shape[2:])
    z = spectral_normals(rng, (2, *spec_shape))
    if mix is not None:
        z = _mix_channels(z.reshape(2 * h, *spec_shape[1:]), mix).reshape(z.shape)
    f = amp_filter * np.float32(np.sqrt(h * w / 2.0))
    if len(shape) == 3:
        f = f[..., None]
    z *= f  # real and imaginary parts times the real filter: the complex product
    spec = np.empty(spec_shape, np.complex64)
    spec.real, spec.imag = z[0], z[1]
    out = scipy.fft.irfft2(spec, s=(h, w), axes=(0, 1), overwrite_x=True, workers=FFT_WORKERS)
    return out.astype(np.float32, copy=False)


_NORMAL_TABLE: np.ndarray | None = None


def spectral_normals(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """float32 standard normal samples by inverse-CDF lookup: 16 random bits pick one of 65536
    equiprobable quantiles of N(0, 1) (mid-quantiles, rescaled to unit variance; the tails end
    at 4.4 sigma). 4-5x faster than ``rng.standard_normal``; meant for Fourier coefficients,
    where each output pixel is a weighted sum of all of them."""
    global _NORMAL_TABLE
    if _NORMAL_TABLE is None:
        from scipy.special import ndtri

        q = ndtri((np.arange(65536) + 0.5) / 65536)
        _NORMAL_TABLE = (q / np.sqrt(np.mean(q * q))).astype(np.float32)
    n = int(np.prod(shape))
    raw = rng.bit_generator.random_raw((n + 3) // 4)
    idx = raw.view(np.uint16)[:n]
    return _NORMAL_TABLE.take(idx).reshape(shape)


def _mix_channels(z: np.ndarray, mix: np.ndarray | None) -> np.ndarray:
    """(H, W, C) float32 -> each pixel's channel vector times ``mix`` (cv2.transform)."""
    if mix is None:
        return z
    return cv2.transform(z, np.asarray(mix, np.float32))


def channel_mix(n_channels: int, rho: float) -> np.ndarray:
    """Cholesky factor L (float32, lower triangular) of the (C, C) correlation matrix with 1 on
    the diagonal and ``rho`` off it: unit-variance channels sharing the fraction ``rho`` of
    their variance (the same law as sqrt(1 - rho) e_c + sqrt(rho) e_common, from C fields
    instead of C + 1)."""
    c = np.full((n_channels, n_channels), float(rho)) + (1.0 - float(rho)) * np.eye(n_channels)
    return np.linalg.cholesky(c).astype(np.float32)


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
