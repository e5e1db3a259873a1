"""The colour-rendering curves (room.sensor.grading): exact HSV behaviour against skimage's own
HSV conversion, the quantile fit, the profile's validation, the model's switch and the
calibration that fits them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from room.errors import ConfigError, InputFileError
from room.sensor import SensorConfig, SensorModel, SensorProfile
from room.sensor import calibrate as sc
from room.sensor import grading as gr

SAT = ((0.0, 0.3, 0.6, 1.0), (0.0, 0.2, 0.5, 0.8))
HUE = ((-0.5, -0.05, 0.05, 0.5), (-0.5, -0.08, 0.02, 0.5))
VAL = ((0.0, 0.25, 0.7, 1.0), (0.0, 0.35, 0.75, 0.95))


def _random_image(seed: int = 0, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_no_curves_is_the_identity():
    im = _random_image()
    out = gr.apply_grading(im, gr.grading_tables((), (), (), ()))
    assert np.array_equal(out, im)


def test_curves_change_hue_saturation_and_value_as_skimage_hsv():
    # Reference: skimage's HSV round trip with the curves applied in float64. Ours computes
    # HSV in float32 and reads the curves from tables: at most one code apart (rounding at .5).
    skc = pytest.importorskip("skimage.color")
    im = _random_image(1)
    hsv = skc.rgb2hsv(im)
    hue = np.where(hsv[..., 0] > 0.5, hsv[..., 0] - 1, hsv[..., 0])
    hsv[..., 0] = np.interp(hue, *HUE) % 1.0
    hsv[..., 1] = np.interp(hsv[..., 1], *SAT)
    hsv[..., 2] = np.interp(hsv[..., 2], *VAL)
    ref = np.clip(np.round(skc.hsv2rgb(hsv) * 255), 0, 255)
    out = gr.apply_grading(im, gr.grading_tables(*SAT, *VAL, *HUE))
    assert np.abs(out.astype(int) - ref).max() <= 1
    grey = np.full((4, 4, 3), 100, np.uint8)  # grey stays grey, at the value curve's level
    g = gr.apply_grading(grey, gr.grading_tables(*SAT, *VAL))
    assert np.all(g == round(255 * np.interp(100 / 255, *VAL)))


def _hsv_frames(n: int = 3) -> list[np.ndarray]:
    """Frames (128 px: the area resize is the identity) of uniformly spread hue -0.02-0.02
    turns, saturation 0.4-0.6 and value 0.3-0.9."""
    skc = pytest.importorskip("skimage.color")
    rng = np.random.default_rng(0)
    ims = []
    for _ in range(n):
        hsv = np.stack([rng.uniform(-0.02, 0.02, (128, 128)) % 1.0,
                        rng.uniform(0.4, 0.6, (128, 128)), rng.uniform(0.3, 0.9, (128, 128))], -1)
        ims.append(np.round(skc.hsv2rgb(hsv) * 255).astype(np.uint8))
    return ims


def _hists(h, s, v) -> np.ndarray:
    return np.concatenate([np.histogram(h % 1.0, 16, (0, 1))[0] / h.size,
                           np.histogram(s, 16, (0, 1))[0] / s.size,
                           np.histogram(v, 16, (0, 1))[0] / v.size])


def test_fit_maps_the_pooled_distributions_onto_the_targets():
    # Target histograms elsewhere than the frames' own: after the fitted curves the pooled
    # 16-bin histograms must match the targets to within what 8-bit rounding and the knots'
    # piecewise-linear interpolation leave (L1 < 0.15 of 3: each histogram ~0.02-0.06, mostly
    # where a knot falls inside a bin) and be far from where they were.
    ims = _hsv_frames()
    hue_t = np.r_[np.zeros(14), 0.3, 0.7]  # -1/8..0 turns: all toward magenta
    sat_t = np.r_[np.zeros(3), np.full(4, 0.25), np.zeros(9)]  # uniform on 0.1875-0.4375
    val_t = np.r_[np.zeros(6), np.full(8, 0.1), 0.2, 0.0]  # 0.375-0.875 and a bump
    target = np.concatenate([hue_t, sat_t, val_t])
    curves = gr.fit_curves(ims, hue_t, sat_t, val_t)
    tables = gr.grading_tables(*(curves[k] for k in (
        "saturation_curve_x", "saturation_curve_y", "value_curve_x", "value_curve_y",
        "hue_curve_x", "hue_curve_y")))
    before = np.abs(_hists(*gr.feature_hsv(ims)) - target).sum()
    after = np.abs(_hists(*gr.feature_hsv([gr.apply_grading(im, tables) for im in ims]))
                   - target).sum()
    assert before > 2.0 and after < 0.15, (before, after)


def test_profile_rejects_bad_curves_and_round_trips_good_ones():
    with pytest.raises(ConfigError, match="value_curve"):
        SensorProfile(name="t", value_curve_x=(0.0, 0.5, 0.4), value_curve_y=(0.0, 0.5, 1.0))
    with pytest.raises(ConfigError, match=r"hue_curve: knots must lie in \[-0.5, 0.5\]"):
        SensorProfile(name="t", hue_curve_x=(-0.6, 0.5), hue_curve_y=(-0.5, 0.5))
    with pytest.raises(ConfigError, match="saturation_curve"):
        SensorProfile(name="t", saturation_curve_x=(0.0, 1.0), saturation_curve_y=(0.0,))
    p = SensorProfile(name="t", saturation_curve_x=SAT[0], saturation_curve_y=SAT[1])
    assert SensorProfile.from_dict(p.to_dict()) == p


def test_the_model_grades_with_the_profile_curves_unless_switched_off():
    im = _random_image(2, 96)
    prof = SensorProfile(name="t", value_curve_x=VAL[0], value_curve_y=VAL[1],
                         saturation_curve_x=SAT[0], saturation_curve_y=SAT[1])
    bare = dataclasses.replace(prof, value_curve_x=(), value_curve_y=(),
                               saturation_curve_x=(), saturation_curve_y=())
    off = SensorConfig(grading=dataclasses.replace(SensorConfig().grading, enabled=False))

    def run(cfg, p):
        return SensorModel(cfg, p).process(im, np.random.default_rng(0))[0]

    plain = run(SensorConfig(), bare)
    assert np.array_equal(run(off, prof), plain)
    graded = run(SensorConfig(), prof)
    assert np.array_equal(graded, gr.apply_grading(plain, gr.grading_tables(*SAT, *VAL)))
    assert not np.array_equal(graded, plain)


def test_default_profile_carries_fitted_curves():
    p = SensorModel().profile
    assert len(p.value_curve_x) > 4 and len(p.saturation_curve_x) > 4
    assert p.calibration["grading"]["reference_frames"] == 80


@pytest.mark.parametrize("how", ["staged", "interleaved"])
def test_calibration_fits_curves_to_reference_features(how):
    # Real-frame features whose S and V histograms sit elsewhere than the clean renders'
    # output: the calibrated profile has curves (fitted either way: calibrate_profile's
    # grading_fit) and its graded output's pooled histograms are closer to them than the
    # ungraded output's.
    yy, xx = np.mgrid[0:128, 0:128]
    base = 0.3 + 0.5 * np.hypot(xx - 64, yy - 64) / 90
    clean = [np.clip(np.round(np.stack([base * c for c in (0.9, 0.6, 0.55)], -1) ** 0.45
                              * 255 * k), 0, 255).astype(np.uint8) for k in (0.9, 1.0)]
    feats = np.zeros((4, 108))
    feats[:, 15] = feats[:, 0] = 0.5  # hue either side of red
    feats[:, 16 + 4] = feats[:, 16 + 5] = 0.5  # saturation 0.25-0.375
    feats[:, 32 + 9:32 + 14] = 0.2  # value 0.5625-0.875
    prof = SensorProfile(name="t", r_over_g=1.4, b_over_g=1.05, noise_shot_a=1e-6,
                         noise_read_b=1e-7, hf_residual_std=0.005,
                         noise_psd_freq=(0.0, 1.5), noise_psd_log10=(-5.0, -5.0))
    cal = sc.calibrate_profile(prof, clean, SensorConfig(), iterations=2,
                               reference_features=feats, grading_fit=how)
    assert cal.value_curve_x and cal.calibration["grading"]["reference_frames"] == 4
    assert cal.calibration["grading_fit"] == how
    assert ("graded_iterations" in cal.calibration) == (how == "staged")
    target = np.concatenate(gr.reference_histograms(feats))

    def dist(p, cfg):
        out = [SensorModel(cfg, p).process(im, np.random.default_rng(0))[0] for im in clean]
        return np.abs(_hists(*gr.feature_hsv(out)) - target).sum()

    off = SensorConfig(grading=dataclasses.replace(SensorConfig().grading, enabled=False))
    assert dist(cal, SensorConfig()) < 0.5 * dist(cal, off)


def test_reference_features_errors(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        sc.load_features(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, other=np.zeros(3))
    with pytest.raises(InputFileError, match="features"):
        sc.load_features(bad)
    with pytest.raises(ConfigError, match="108|48"):
        gr.reference_histograms(np.zeros((3, 10)))


@pytest.mark.parametrize("spectrum", ["profile", "white"])
def test_noise_of_a_narrower_frame_is_the_reference_frame_reduced(spectrum):
    # A 128-px frame of a camera whose noise was fitted on 600-px frames must look like its
    # 600-px frame reduced to 128 px (area averaging): same noise std within 15 % (area
    # averaging is not an ideal band limit; 4 frames of 16k pixels estimate a std to ~1 %; the
    # noise is scaled up 8x so that 8-bit rounding, which the reduction averages, is negligible).
    import cv2

    from room.sensor import NoiseConfig

    prof = dataclasses.replace(SensorModel().profile, noise_ref_width=600)
    cfg = SensorConfig(noise=NoiseConfig(spectrum=spectrum, scale=8.0), **{
        k: dataclasses.replace(getattr(SensorConfig(), k), enabled=False) for k in (
            "motion_blur", "vignetting", "exposure", "bloom", "local_tone", "colour", "tone",
            "grading")})
    model = SensorModel(cfg, prof)
    grey = np.full((600, 600, 3), 128, np.uint8)

    def noise_std(img, size):
        out = model.process(img, np.random.default_rng(1))[0][..., 1].astype(np.float32)
        if out.shape[0] != size:
            out = cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)
        return float(out.std())

    reduced = np.mean([noise_std(grey, 128) for _ in range(4)])
    direct = np.mean([noise_std(grey[:128, :128], 128) for _ in range(4)])
    full = noise_std(grey, 600)
    assert direct == pytest.approx(reduced, rel=0.15)
    assert direct < 0.8 * full  # and it is less than the full frame's
    unscaled = SensorModel(cfg, dataclasses.replace(prof, noise_ref_width=0))
    assert noise_std(grey, 600) == pytest.approx(
        float(unscaled.process(grey, np.random.default_rng(1))[0][..., 1].std()), rel=1e-6)


def test_calibration_rejects_unknown_grading_fit():
    prof = SensorProfile(name="t", r_over_g=1.4, b_over_g=1.05, noise_shot_a=1e-6,
                         noise_read_b=1e-7, hf_residual_std=0.005)
    img = np.full((16, 16, 3), 128, np.uint8)
    with pytest.raises(ConfigError, match="grading_fit"):
        sc.calibrate_profile(prof, [img], SensorConfig(), grading_fit="joint")


def test_hue_keeping_loop_matches_the_general_loop():
    # Without a hue curve apply_grading takes the loop that keeps each pixel's channel order
    # and places the middle channel between the new brightest and darkest (no hue sectors);
    # against the general HSV loop on random pixels (every hue, saturation and value): at
    # most one code apart (float32 rounding at .5) and equal on almost every pixel.
    p = SensorModel().profile
    t = gr.grading_tables(p.saturation_curve_x, p.saturation_curve_y, p.value_curve_x,
                          p.value_curve_y, (), (), p.shadow_desaturation, p.shadow_saturation)
    assert t[5] is not None and gr.grading_tables(*SAT, *VAL, *HUE)[5] is None
    im = _random_image(3, 256)
    general = np.empty_like(im)
    gr._grade(im, *t[:5], general)
    diff = np.abs(gr.apply_grading(im, t).astype(int) - general)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
