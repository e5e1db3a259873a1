"""Sensor model (room.render.sensor): stages, noise statistics, determinism, ground truth kept."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from room.errors import ConfigError
from room.render import sensor_stages as st
from room.render.sensor import (
    BayerConfig,
    BloomConfig,
    ColourConfig,
    ExposureConfig,
    JpegConfig,
    LocalToneConfig,
    MotionBlurConfig,
    NoiseConfig,
    SensorConfig,
    SensorModel,
    ToneConfig,
    VignettingConfig,
    load_profile,
    randomize,
)
from room.render.sensor_profile import SensorProfile
from room.types import Frame, Intrinsics

INTR = Intrinsics(width=96, height=80, fx=60.0, fy=60.0, cx=47.5, cy=39.5)


def quiet(**changes) -> SensorConfig:
    """Every stage off; switch on only what a test needs."""
    base = SensorConfig(
        motion_blur=MotionBlurConfig(enabled=False), vignetting=VignettingConfig(enabled=False),
        exposure=ExposureConfig(enabled=False), bloom=BloomConfig(enabled=False),
        local_tone=LocalToneConfig(enabled=False),
        noise=NoiseConfig(enabled=False), colour=ColourConfig(enabled=False),
        tone=ToneConfig(enabled=False))
    return dataclasses.replace(base, **changes)


def flat_profile(**kw) -> SensorProfile:
    return SensorProfile(name="flat", **kw)


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


def test_srgb_roundtrip_and_lut():
    v = np.linspace(0, 1, 1001, dtype=np.float32)
    assert np.allclose(st.linear_to_srgb(st.srgb_to_linear(v)), v, atol=1e-5)
    u8 = np.arange(256, dtype=np.uint8)
    assert np.array_equal(st.to_uint8(st.linear_to_srgb(st.uint8_to_linear(u8))), u8)


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


def test_correlated_noise_has_the_requested_spectrum():
    from room.render import sensor_fit as sf

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


def test_jpeg_and_bayer_stages_run_deterministically():
    rgb = np.random.default_rng(0).integers(0, 255, (80, 96, 3), dtype=np.uint8)
    cfg = SensorConfig(bayer=BayerConfig(enabled=True), jpeg=JpegConfig(enabled=True, quality=60),
                       vignetting=VignettingConfig(mode="cos4"))
    m = SensorModel(cfg)
    a, b = m.apply(make_frame(rgb)), m.apply(make_frame(rgb))
    assert np.array_equal(a.rgb, b.rgb)


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
    with pytest.raises(ConfigError, match="uint8"):
        SensorModel(quiet()).process(np.zeros((8, 8, 3)), np.random.default_rng(0))


def test_randomization_is_seeded_and_in_range():
    cfg = SensorConfig()
    cfg = dataclasses.replace(cfg, randomization=dataclasses.replace(cfg.randomization,
                                                                     enabled=True))
    a, ra = randomize(cfg, 7)
    b, rb = randomize(cfg, 7)
    c, rc = randomize(cfg, 8)
    assert a == b and ra == rb and (a != c or ra != rc)
    r = cfg.randomization
    assert r.noise_scale[0] <= a.noise.scale <= r.noise_scale[1]
    assert r.exposure_s[0] <= a.motion_blur.exposure_s <= r.exposure_s[1]
    assert set(ra) == {"mucosa_color_scale", "specular_scale", "light_power_scale"}
    assert len(ra["mucosa_color_scale"]) == 3
    assert randomize(SensorConfig(), 7) == (SensorConfig(), {})
    with pytest.raises(ConfigError, match="noise_scale"):
        dataclasses.replace(r, noise_scale=(2.0, 1.0))


def test_render_overrides_scale_render_settings():
    from room.render.sensor import apply_render_overrides

    @dataclasses.dataclass(frozen=True)
    class Mat:  # the field names of room.render.config.MaterialConfig / LightConfig
        base_color: tuple = (0.6, 0.3, 0.3)
        specular: float = 0.05

    @dataclasses.dataclass(frozen=True)
    class Light:
        intensity: float = 1.0

    @dataclasses.dataclass(frozen=True)
    class Render:
        material: Mat = Mat()
        light: Light = Light()

    try:  # the real RenderConfig when the render stage is present
        from room.render.config import RenderConfig as Render  # noqa: F811
    except ImportError:
        pass
    base = Render()
    out = apply_render_overrides(base, {"mucosa_color_scale": (1.1, 1.0, 0.5),
                                        "specular_scale": 2.0, "light_power_scale": 0.5})
    assert out.material.base_color == pytest.approx(
        (base.material.base_color[0] * 1.1, base.material.base_color[1],
         base.material.base_color[2] * 0.5))
    assert out.material.specular == pytest.approx(2 * base.material.specular)
    assert out.light.intensity == pytest.approx(0.5 * base.light.intensity)
    with pytest.raises(ConfigError, match="unknown render overrides"):
        apply_render_overrides(base, {"fog": 1.0})


def test_noise_presets_compose():
    from hydra import compose, initialize_config_dir

    from room.config import to_dataclass
    from room.paths import REPO_ROOT

    presets = sorted(p.stem for p in (REPO_ROOT / "conf" / "noise").glob("*.yaml"))
    assert "default" in presets
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf" / "noise"), version_base=None):
        for name in presets:
            cfg = to_dataclass(SensorConfig, compose(config_name=name))
            SensorModel(cfg)  # the profile loads and the settings are consistent
            if name == "none":
                assert not cfg.enabled
            if name == "randomized":
                assert cfg.randomization.enabled
