"""Sensor model (room.sensor.model): the pipeline on frames, noise statistics, determinism,
ground truth kept, settings and presets."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from room.errors import ConfigError
from room.sensor import stages as st
from room.sensor.config import (
    BayerConfig,
    BloomConfig,
    ColourConfig,
    ExposureConfig,
    GlareConfig,
    GradingConfig,
    JpegConfig,
    LocalToneConfig,
    MotionBlurConfig,
    NoiseConfig,
    SensorConfig,
    ToneConfig,
    VignettingConfig,
)
from room.sensor.model import SensorModel
from room.sensor.profile import load_profile
from room.types import Frame, Intrinsics

INTR = Intrinsics(width=96, height=80, fx=60.0, fy=60.0, cx=47.5, cy=39.5)


def quiet(**changes) -> SensorConfig:
    """Every stage off; switch on only what a test needs."""
    base = SensorConfig(
        motion_blur=MotionBlurConfig(enabled=False), vignetting=VignettingConfig(enabled=False),
        exposure=ExposureConfig(enabled=False), bloom=BloomConfig(enabled=False),
        local_tone=LocalToneConfig(enabled=False), glare=GlareConfig(enabled=False),
        noise=NoiseConfig(enabled=False), colour=ColourConfig(enabled=False),
        tone=ToneConfig(enabled=False), grading=GradingConfig(enabled=False))
    return dataclasses.replace(base, **changes)


def make_frame(rgb: np.ndarray, depth: float = 0.02, index: int = 0, T=None) -> Frame:
    h, w = rgb.shape[:2]
    intr = INTR if (h, w) == (INTR.height, INTR.width) else Intrinsics(
        width=w, height=h, fx=0.6 * w, fy=0.6 * w, cx=(w - 1) / 2, cy=(h - 1) / 2)
    return Frame(rgb=rgb.copy(), rgb_clean=rgb.copy(),
                 depth=np.full((h, w), depth, np.float32),
                 normals=np.zeros((h, w, 3), np.float32),
                 segmentation=np.zeros((h, w), np.int32), face_id=np.zeros((h, w), np.int32),
                 T_world_cam=np.eye(4) if T is None else T, intrinsics=intr, index=index,
                 meta={"renderer": "test"})


def test_same_seed_same_image_and_ground_truth_kept():
    rng = np.random.default_rng(1)
    rgb = rng.integers(30, 220, (80, 96, 3), dtype=np.uint8)
    frame = make_frame(rgb, index=3)
    model = SensorModel(SensorConfig(jpeg=JpegConfig(enabled=True)), "default")
    a, b = model.apply(frame), model.apply(frame)
    assert np.array_equal(a.rgb, b.rgb)
    assert not np.array_equal(a.rgb, frame.rgb_clean)
    # Every ground-truth field is untouched, bit for bit.
    for f in dataclasses.fields(Frame):
        if f.name not in ("rgb", "meta"):
            assert np.array_equal(getattr(a, f.name), getattr(frame, f.name)), f.name
    assert a.meta["renderer"] == "test" and a.meta["sensor"]["profile"] == "default"
    # The seed changes the noise; the frame index seeds the default stream.
    assert not np.array_equal(model.apply(frame, seed=5).rgb, a.rgb)
    assert not np.array_equal(model.apply(frame.replace(index=4)).rgb, a.rgb)
    assert np.array_equal(SensorModel(SensorConfig(enabled=False)).apply(frame).rgb, rgb)


@pytest.mark.parametrize("spectrum", ["white", "profile"])
def test_noise_variance_scales_with_signal(spectrum):
    """Per-pixel output variance = tone'(s)^2 (a s + b) + 8-bit quantisation (1/12 DN^2)."""
    a, b = 4e-4, 2e-5
    prof = load_profile("default")
    cfg = quiet(noise=NoiseConfig(shot_a=a, read_b=b, spectrum=spectrum,
                                  channel_correlation=0.5))
    model = SensorModel(cfg, prof)
    assert np.allclose(model.noise_variance(0.3), a * 0.3 + b)
    for s_lin in (0.03, 0.12, 0.4, 0.7):
        level = st.to_uint8(st.linear_to_srgb(np.float32(s_lin)))
        img = np.full((256, 256, 3), level, np.uint8)
        s = float(st.uint8_to_linear(level))
        out, _ = model.process(img, np.random.default_rng(0))
        var = out[..., 1].astype(np.float64).var() / 255.0**2
        slope = st.tone_slope(s)
        expect = slope**2 * (a * s + b) + (1 / 255) ** 2 / 12
        # 65k samples: the variance estimate scatters ~1%; the tone curve's curvature over
        # the noise and the quantisation model add up to ~4% at the darkest level. 8% is far
        # below the factor ~8 by which the expected variance changes across these levels.
        assert var == pytest.approx(expect, rel=0.08), (s, var, expect)


def test_auto_exposure_meets_target_and_smooths():
    rgb = np.full((80, 96, 3), 40, np.uint8)
    cfg = quiet(exposure=ExposureConfig(target_mean_luminance=0.5, smoothing=0.5))
    model = SensorModel(cfg, "default")
    f0 = model.apply(make_frame(rgb))
    assert (f0.rgb.astype(float) @ st.LUMA / 255).mean() == pytest.approx(0.5, abs=0.005)
    # Next frame twice as bright: the gain moves halfway (in log) from the previous one.
    brighter = st.to_uint8(st.linear_to_srgb(2 * st.uint8_to_linear(rgb)))
    f1 = model.apply(make_frame(brighter, index=1), prev_frame=f0)
    g0, g1 = f0.meta["sensor"]["log_gain"], f1.meta["sensor"]["log_gain"]
    assert g1 == pytest.approx(g0 - 0.5 * np.log(2.0), abs=0.02)


def test_motion_blur_follows_image_motion():
    # Camera moved +2 mm along x since the previous frame, plane at 20 mm: a point at camera
    # x_c now sat at x_c + 2 mm in the previous camera, so u_prev - u = fx * 0.002 / 0.02 = 6 px.
    T_prev = np.eye(4)
    T_cur = np.eye(4)
    T_cur[0, 3] = 0.002
    depth = np.full((80, 96), 0.02, np.float32)
    mot = st.image_motion(depth, INTR, T_cur, T_prev)
    assert np.allclose(mot[..., 0], 6.0, atol=1e-4) and np.allclose(mot[..., 1], 0, atol=1e-4)
    yy, xx = np.mgrid[0:80, 0:96]
    stripes_v = np.where((xx // 3) % 2 == 0, 200, 40).astype(np.uint8)
    stripes_h = np.where((yy // 3) % 2 == 0, 200, 40).astype(np.uint8)
    model = SensorModel(quiet(motion_blur=MotionBlurConfig(shutter=1.0)), "default")
    for stripes, blurred in ((stripes_v, True), (stripes_h, False)):
        rgb = np.repeat(stripes[..., None], 3, axis=2)
        prev = make_frame(rgb, T=T_prev)
        out = model.apply(make_frame(rgb, T=T_cur), prev_frame=prev)
        inner = out.rgb[10:-10, 10:-10, 1].astype(float)
        assert (inner.std() < 0.5 * stripes.std()) == blurred
    assert out.meta["sensor"]["motion_blur_px"] == pytest.approx(6.0, abs=1e-3)
    # With time stamps, the blur covers the motion during the exposure: 10 ms of a 40 ms
    # frame step sweeps a quarter of the 6 px.
    m2 = SensorModel(quiet(motion_blur=MotionBlurConfig(exposure_s=0.01)), "default")
    cur = make_frame(rgb, T=T_cur).replace(time_s=0.04)
    out = m2.apply(cur, prev_frame=make_frame(rgb, T=T_prev))
    assert out.meta["sensor"]["motion_blur_px"] == pytest.approx(1.5, abs=1e-3)


def test_jpeg_and_bayer_stages_run_deterministically():
    rgb = np.random.default_rng(0).integers(0, 255, (80, 96, 3), dtype=np.uint8)
    cfg = SensorConfig(bayer=BayerConfig(enabled=True), jpeg=JpegConfig(enabled=True, quality=60),
                       vignetting=VignettingConfig(mode="cos4"))
    m = SensorModel(cfg)
    a, b = m.apply(make_frame(rgb)), m.apply(make_frame(rgb))
    assert np.array_equal(a.rgb, b.rgb)


def test_jpeg_is_the_last_stage_at_the_configured_quality():
    """With every other stage on, JPEG only re-codes the finished 8-bit image (same noise)."""
    rgb = np.random.default_rng(1).integers(30, 220, (80, 96, 3), dtype=np.uint8)
    plain, _ = SensorModel(SensorConfig()).process(rgb, np.random.default_rng(3))
    coded, _ = SensorModel(SensorConfig(jpeg=JpegConfig(enabled=True, quality=40))).process(
        rgb, np.random.default_rng(3))
    assert np.array_equal(coded, st.jpeg_roundtrip(plain, 40))


def test_bayer_stage_keeps_a_flat_colour():
    """Mosaic + demosaic of a flat colour inside the pipeline gives the input back exactly: its
    16-bit error (<= 1e-5 linear) moves an 8-bit value by at most ~0.03 DN, never across a
    rounding boundary of values that came from uint8."""
    rgb = np.empty((80, 96, 3), np.uint8)
    rgb[:] = (190, 80, 60)
    out, _ = SensorModel(quiet(bayer=BayerConfig(enabled=True))).process(
        rgb, np.random.default_rng(0))
    assert np.array_equal(out, rgb)


def test_colour_gains_change_ratios():
    rgb = np.full((40, 40, 3), 100, np.uint8)
    out, _ = SensorModel(quiet(colour=ColourConfig(gains=(2.0, 1.0, 0.5)))).process(
        rgb, np.random.default_rng(0))
    r, g, b = (st.uint8_to_linear(out[0, 0])).tolist()
    lin = float(st.uint8_to_linear(np.uint8(100)))
    assert r == pytest.approx(2 * lin, rel=0.02) and b == pytest.approx(0.5 * lin, rel=0.02)
    assert g == pytest.approx(lin, rel=0.01)


def test_bad_settings_raise_config_errors():
    with pytest.raises(ConfigError, match="jpeg.quality"):
        SensorConfig(jpeg=JpegConfig(quality=0))
    with pytest.raises(ConfigError, match="vignetting.mode"):
        SensorConfig(vignetting=VignettingConfig(mode="cos5"))
    with pytest.raises(ConfigError, match="colour.gains"):
        ColourConfig(gains=(1.0, -1.0, 1.0))
    with pytest.raises(ConfigError, match="headroom_percentile"):
        SensorConfig(exposure=ExposureConfig(headroom_percentile=20.0))
    with pytest.raises(ConfigError, match="uint8"):
        SensorModel(quiet()).process(np.zeros((8, 8, 3)), np.random.default_rng(0))


def test_sensor_presets_compose():
    from room.compose import compose, stage_config
    from room.paths import conf_dir

    presets = sorted(p.stem for p in (conf_dir() / "sensor").glob("*.yaml"))
    assert "default" in presets
    for name in presets:
        cfg = stage_config(SensorConfig, compose("generate", [f"sensor={name}"]).sensor)
        SensorModel(cfg)  # the profile loads and the settings are consistent
        if name == "none":
            assert not cfg.enabled
        if name == "randomized":
            assert cfg.randomization.enabled
        if name == "default":  # glare and colour-keeping equalisation
            assert cfg.profile == "default" and cfg.glare.enabled
            assert cfg.local_tone.keep_colour and cfg.local_tone.strength == 0.3
        if name == "textured":  # its own profile, no glare, the stronger equalisation
            assert cfg.profile == "textured" and not cfg.glare.enabled
            assert not cfg.local_tone.keep_colour and cfg.local_tone.strength == 0.55


def test_veiling_glare_adds_a_share_of_the_mean_colour():
    # Left half black, right half a red of known linear value, no other stage: glare adds
    # fraction x (the mean over the image circle) to every pixel, per channel. The mean is
    # taken on the auto-exposure's subsample (step 1 at this size: every pixel inside the
    # circle), so the expected offset is computed over the same pixels.
    rgb = np.zeros((80, 96, 3), np.uint8)
    rgb[:, 48:] = (200, 90, 100)
    lin = st.uint8_to_linear(rgb).astype(np.float64)
    inside = st.normalised_radius(80, 96) <= 1.0
    offset = 0.05 * lin[inside].mean(axis=0)
    cfg = quiet(glare=GlareConfig(enabled=True, fraction=0.05), defocus_sigma_px=0.0)
    out, _ = SensorModel(cfg, "default").process(rgb, np.random.default_rng(0))
    got = st.uint8_to_linear(out).astype(np.float64)
    # output rounding to 8-bit sRGB: at most half a step, 1.5e-4 linear near black (where the
    # sRGB toe is linear) and 2.2e-3 at 200/255
    assert np.allclose(got[:, :48], offset, atol=1.6e-4)
    assert np.allclose(got[:, 48:], lin[:, 48:] + offset, atol=2.3e-3)
    off = SensorModel(quiet(defocus_sigma_px=0.0), "default")
    assert np.array_equal(off.process(rgb, np.random.default_rng(0))[0], rgb)
    with pytest.raises(ConfigError, match="glare.fraction"):
        SensorConfig(glare=GlareConfig(fraction=1.5))
