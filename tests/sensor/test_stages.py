"""Pure image functions of the sensor (room.sensor.stages): colour encoding, noise spectra,
vignetting, brightness equalisation, bloom, Bayer mosaic + demosaic, JPEG."""

from __future__ import annotations

import numpy as np
import pytest

from room.sensor import stages as st
from room.types import Intrinsics

INTR = Intrinsics(width=96, height=80, fx=60.0, fy=60.0, cx=47.5, cy=39.5)


def test_srgb_roundtrip_and_lut():
    v = np.linspace(0, 1, 1001, dtype=np.float32)
    assert np.allclose(st.linear_to_srgb(st.srgb_to_linear(v)), v, atol=1e-5)
    u8 = np.arange(256, dtype=np.uint8)
    assert np.array_equal(st.to_uint8(st.linear_to_srgb(st.uint8_to_linear(u8))), u8)


def test_correlated_noise_has_the_requested_spectrum():
    from room.sensor import fit as sf

    freq, logp = [0.0, 0.05, 1.5], [0.0, 0.0, -1.1]  # flat, then falling 1.1 decades
    amp = st.psd_filter(128, 128, freq, logp)
    n = st.correlated_noise(np.random.default_rng(0), (128, 128, 4), amp)
    assert n.std() == pytest.approx(1.0, rel=0.03)
    fr = st.radial_frequency(128, 128)
    p = np.mean([np.abs(np.fft.fft2(n[..., c])) ** 2 / 128**2 for c in range(4)], axis=0)
    edges = np.array([0.2, 0.3, 0.6, 0.7, 1.0, 1.1])
    m = sf.radial_mean(p, fr, edges)[[0, 2, 4]]
    want = 10 ** np.interp(0.5 * (edges[:-1] + edges[1:])[[0, 2, 4]], freq, logp)
    ratio = m / want
    # Shape only (the field has unit variance): ratios between bands agree within 10%.
    assert np.allclose(ratio / ratio.mean(), 1.0, atol=0.1)


def test_vignetting_cos4_and_profile():
    v = st.vignetting_cos4(INTR)
    x, y = (0 - INTR.cx) / INTR.fx, (0 - INTR.cy) / INTR.fy
    assert v[0, 0] == pytest.approx(1 / (1 + x * x + y * y) ** 2, rel=1e-5)
    assert v.max() <= 1 and v[40, 48] > 0.999
    p = st.vignetting_profile(80, 96, [0, 1, 1.5], [1, 0.5, 0.5], strength=0.5)
    assert p[40, 0] == pytest.approx(1 - 0.5 * 0.5, abs=0.02)  # rad ~ 1 at the edge middle


def test_local_gain_compresses_large_scale_brightness():
    yy, xx = np.mgrid[0:120, 0:160]
    lin = np.where(np.hypot(xx - 80, yy - 60) < 25, 0.02, 0.4).astype(np.float32)
    lin = np.repeat(lin[..., None], 3, axis=2)
    g = st.local_gain(lin, strength=0.5, sigma_frac=0.08)
    # The dark disc is lifted, the bright surround toned down; scale does not matter.
    assert g[60, 80] > 1.5 and g[5, 5] < 1.0
    assert np.allclose(st.local_gain(10 * lin, 0.5, 0.08), g, rtol=1e-4)
    assert np.allclose(st.local_gain(lin, 0.0, 0.08), 1.0)


def test_scale_into_range_keeps_colour_ratios():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.6, (20, 30, 3)).astype(np.float32)
    before = x.copy()
    st.scale_into_range(x)
    m = before.max(axis=2)
    over = m > 1
    assert over.any() and (~over).any()
    # in-range pixels untouched, bit for bit; over-range ones: brightest channel exactly 1
    # (float32 division: within one ulp) and the same R : G : B ratios
    assert np.array_equal(x[~over], before[~over])
    assert np.allclose(x[over].max(axis=1), 1.0, atol=1e-6)
    assert np.allclose(x[over] * m[over][:, None], before[over], rtol=1e-6)
    y = np.full((4, 4, 3), 0.5, np.float32)
    assert np.array_equal(st.scale_into_range(y), np.full((4, 4, 3), 0.5, np.float32))


def test_bloom_glows_around_highlights():
    img = np.zeros((64, 64, 3), np.float32)
    img[30:34, 30:34] = 2.0
    out = st.bloom(img, threshold=0.9, sigma_px=3.0, strength=0.5)
    assert out[32, 38, 0] > 0.01 and out[5, 5, 0] == 0 and np.all(out >= img)


@pytest.mark.parametrize("pattern", st.BAYER_PATTERNS)
def test_bayer_mosaic_demosaic_keeps_smooth_images(pattern):
    yy, xx = np.mgrid[0:32, 0:40].astype(np.float32)
    img = np.stack([0.2 + 0.01 * xx, 0.5 + 0.005 * yy, 0.7 - 0.008 * xx], axis=-1)
    out = st.demosaic(st.bayer_mosaic(img, pattern), pattern)
    # Linear ramps are reproduced exactly by bilinear demosaicing away from the border.
    assert np.abs(out - img)[2:-2, 2:-2].max() < 1e-3


# ----------------------------------------------------------------------------- Bayer CFA
Q16 = 0.5 / 65535 + 1e-7  # demosaic runs on 16-bit integers: half a step, plus float32 rounding
AVG16 = 1.0 / 65535 + 1e-7  # an interpolated value: half a step on its inputs, half on its mean
CHANNEL = {"R": 0, "G": 1, "B": 2}


def _sites(pattern: str):
    """(row offset, column offset, channel) of the four CFA sites; ``pattern`` is the top-left
    2x2 read row by row."""
    return [(dy, dx, CHANNEL[pattern[2 * dy + dx]]) for dy in (0, 1) for dx in (0, 1)]


@pytest.mark.parametrize("pattern", st.BAYER_PATTERNS)
def test_bayer_flat_colour_comes_back(pattern):
    img = np.empty((17, 22, 3), np.float32)  # odd height: the pattern's phase ends mid-block
    img[:] = (0.8, 0.35, 0.1)
    out = st.demosaic(st.bayer_mosaic(img, pattern), pattern)
    # Every interpolated value averages samples of the same flat channel, borders included.
    assert np.abs(out - img).max() <= Q16


@pytest.mark.parametrize("pattern", st.BAYER_PATTERNS)
def test_bayer_each_site_keeps_its_own_channel(pattern):
    """The mosaic samples the channel the pattern names at each site, and bilinear demosaic
    keeps that sample (this also pins OpenCV's shifted Bayer code names to our patterns)."""
    img = np.random.default_rng(0).random((16, 20, 3)).astype(np.float32)
    raw = st.bayer_mosaic(img, pattern)
    out = st.demosaic(raw, pattern)
    for dy, dx, c in _sites(pattern):
        assert np.array_equal(raw[dy::2, dx::2], img[dy::2, dx::2, c])
        # Inside the one-pixel border (OpenCV fills the border from its neighbours).
        kept = out[dy::2, dx::2, c][1:-1, 1:-1] - img[dy::2, dx::2, c][1:-1, 1:-1]
        assert np.abs(kept).max() <= Q16


@pytest.mark.parametrize("pattern", st.BAYER_PATTERNS)
@pytest.mark.parametrize("vertical,edge", [(True, 9), (False, 7)])
def test_bayer_edge_zipper_is_confined_and_bounded(pattern, vertical, edge):
    """A grey step edge: bilinear demosaic errs only on the two lines beside the edge, with
    the values its 2- and 4-tap averages give, and green zips (alternates along the edge)."""
    a, b = 0.2, 0.7
    img = np.full((16, 20, 3), a, np.float32)
    if vertical:
        img[:, edge:] = b
    else:
        img[edge:, :] = b
    out = st.demosaic(st.bayer_mosaic(img, pattern), pattern)
    o, ref = (out, img) if vertical else (out.swapaxes(0, 1), img.swapaxes(0, 1))
    err = np.abs(o - ref).max(axis=(0, 2))  # per line parallel to the edge
    assert np.all(np.delete(err, [edge - 1, edge]) <= Q16)  # exact away from the edge
    assert a - AVG16 <= out.min() and out.max() <= b + AVG16  # averages: no overshoot
    assert err.max() == pytest.approx((b - a) / 2, abs=AVG16)  # at most a 2-tap average across
    for line, near, far in ((edge - 1, a, b), (edge, b, a)):
        allowed = np.array([near, (3 * near + far) / 4, (near + far) / 2])
        vals = o[1:-1, line]  # rows along the edge, inside the border
        assert np.abs(vals[..., None] - allowed).min(axis=-1).max() <= AVG16
        g = vals[:, 1]  # green: kept (near) at G sites, (3 near + far) / 4 between them
        assert np.all(np.abs(np.diff(g)) == pytest.approx(abs(far - near) / 4, abs=2 * AVG16))


# ----------------------------------------------------------------------------- JPEG
def _textured(h: int = 96, w: int = 128) -> np.ndarray:
    """A frame-like uint8 image: smooth colour gradients, fine texture and a sharp edge."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    tex = 0.08 * np.sin(xx / 1.7) * np.cos(yy / 2.3)
    img = np.stack([0.55 + 0.3 * xx / w + tex, 0.3 + 0.2 * yy / h + tex, 0.25 + tex], -1)
    img[:, w // 2:] *= 0.5
    return st.to_uint8(img)


@pytest.mark.parametrize("quality", [15, 60, 95])
def test_jpeg_roundtrip_is_the_codec_at_that_quality(quality):
    import cv2

    img = _textured()
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    ref = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    out = st.jpeg_roundtrip(img, quality)
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert np.array_equal(out, ref)


def test_jpeg_error_grows_as_quality_drops_and_colours_stay_put():
    img = _textured()
    rmse = [np.sqrt(np.mean((st.jpeg_roundtrip(img, q).astype(float) - img) ** 2))
            for q in (95, 75, 50, 25, 10)]
    assert rmse[0] > 0 and np.all(np.diff(rmse) > 0), rmse
    # A one-sided RGB/BGR mix-up would swap red and blue: a red patch stays red (32x32 means;
    # JPEG at 50 moves a flat patch's mean by a few DN, the margins are ~40 DN).
    red = np.zeros((64, 64, 3), np.uint8)
    red[16:48, 16:48] = (220, 30, 30)
    patch = st.jpeg_roundtrip(red, 50)[16:48, 16:48].reshape(-1, 3).mean(axis=0)
    assert patch[0] > 180 and patch[1] < 70 and patch[2] < 70, patch


def test_motion_blur_halvings_equal_the_sample_average_for_uniform_motion():
    # Uniform motion of 7 px along x, shutter 1: 8 samples at t = j / 7, i.e. shifts of
    # 0, 1, ..., 7 px; the three halvings (offsets 4, 2, 1 px: whole pixels, so bilinear
    # interpolation is exact) must give the plain average of the 8 shifted images away from
    # the reflected border.
    rng = np.random.default_rng(3)
    img = rng.random((40, 64, 3), dtype=np.float32)
    motion = np.zeros((40, 64, 2), np.float32)
    motion[..., 0] = 7.0
    out, extent = st.motion_blur(img, motion, 1.0, max_samples=8)
    ref = np.mean([img[:, j:j + 50] for j in range(8)], axis=0)
    assert extent == pytest.approx(7.0)
    assert np.allclose(out[:, :50], ref, atol=1e-5)
    # at most max_samples samples (rounded down to a power of two): 4 -> shifts 0, 7/3, ...
    out4, _ = st.motion_blur(img, motion, 1.0, max_samples=4)
    assert not np.allclose(out4[:, :50], ref, atol=1e-3)
    assert np.allclose(out4.mean(), img.mean(), atol=1e-2)  # an average: brightness kept


def test_upsample_motion_is_exact_at_the_samples_and_for_affine_fields():
    yy, xx = np.mgrid[0:60, 0:80].astype(np.float32)
    full = np.dstack([0.01 * xx + 0.002 * yy, -0.003 * xx + 0.02 * yy + 1.0])
    up = st.upsample_motion(full[::4, ::4], full.shape, 4)
    assert up.shape == full.shape and up.dtype == np.float32
    assert np.array_equal(up[::4, ::4], full[::4, ::4].astype(np.float32))
    # bilinear interpolation reproduces an affine field (up to the held last 3 rows/columns)
    assert np.allclose(up[:57, :77], full[:57, :77], atol=1e-5)


def test_bloom_of_separate_highlights_equals_the_full_image_glow():
    # Highlights far apart are blurred in separate boxes; the result must equal the glow of
    # the whole image's excess (within float32 rounding of the blur).
    rng = np.random.default_rng(5)
    img = rng.random((120, 150, 3), dtype=np.float32) * 0.8
    img[10:13, 20:23] = 1.6
    img[90:92, 130:133, 0] = 1.2
    img[12, 120] = 1.1
    ref = img + 0.3 * st.gaussian_blur(np.maximum(img - np.float32(0.9), 0.0), 2.0)
    out = st.bloom(img.copy(), 0.9, 2.0, 0.3)
    assert np.allclose(out, ref, atol=1e-6)
