"""Sensor profile fitting (room.sensor.fit / room.sensor.calibrate) and room-fit-sensor."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from room.errors import InputFileError
from room.sensor import calibrate as sc
from room.sensor import fit as sf
from room.sensor import stages as st
from room.sensor.config import ColourConfig, NoiseConfig, SensorConfig, ToneConfig
from room.sensor.model import SensorModel
from room.sensor.profile import SensorProfile, load_profile, profile_dir


def quiet(**changes) -> SensorConfig:
    """Every stage off but the ones given (as in test_model.py)."""
    off = {k: dataclasses.replace(getattr(SensorConfig(), k), enabled=False) for k in (
        "motion_blur", "vignetting", "exposure", "bloom", "local_tone", "glare", "noise",
        "colour", "tone", "grading")}
    return SensorConfig(**{**off, **changes})


def power_law_frames(beta: float, sigma: float, n: int = 4, size: int = 256, seed: int = 0):
    """Grey frames (0.5) plus noise with PSD ~ fr^-beta and std ``sigma`` (float, [0, 1])."""
    freq = np.geomspace(0.005, 1.5, 200)
    amp = st.psd_filter(size, size, freq, -beta * np.log10(freq))
    rng = np.random.default_rng(seed)
    frames = [np.repeat((0.5 + sigma * st.correlated_noise(rng, (size, size), amp))[..., None],
                        3, axis=2) for _ in range(n)]
    return frames, freq


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_fit_recovers_power_law_spectrum_and_level(beta):
    sigma = 0.02
    frames, _ = power_law_frames(beta, sigma)
    prof = sf.fit_profile(frames, "synthetic")
    f = np.array(prof.noise_psd_freq)
    logp = np.array(prof.noise_psd_log10)
    band = (f > 0.3) & (f < 1.0)  # reliable band: residual filter |H|^2 > 0.4, inside Nyquist
    slope = np.polyfit(np.log10(f[band]), logp[band], 1)[0]
    # Tolerance 10% of beta (the brief), 0.05 absolute for white noise (beta = 0).
    assert slope == pytest.approx(-beta, rel=0.1, abs=0.05)
    # Level: the PSD itself (absolute, output units^2) within 10% at every reliable bin.
    fr = st.radial_frequency(256, 256)
    shape = np.where(fr > 0, np.maximum(fr, 0.005), 1.0) ** -beta
    shape[0, 0] = 0.0
    truth = sigma**2 * f[band] ** -beta / shape.mean()
    assert np.allclose(10 ** logp[band] / truth, 1.0, atol=0.1)
    # ... and the noise sigma seen at the single grey level, within 10%.
    assert prof.noise_sigma[0] == pytest.approx(sigma, rel=0.1)


def test_fit_recovers_signal_dependent_noise():
    """Frames made by the sensor model itself (white noise, plain sRGB): the fitted
    linear-domain variance model a s + b matches the one that made them."""
    a, b = 6e-4, 4e-5
    cfg = quiet(noise=NoiseConfig(shot_a=a, read_b=b, spectrum="white"))
    model = SensorModel(cfg, "default")
    xx = np.linspace(0.02, 0.9, 256, dtype=np.float32)
    ramp = st.to_uint8(st.linear_to_srgb(np.tile(xx, (256, 1))))
    rng = np.random.default_rng(0)
    frames = [model.process(np.repeat(ramp[..., None], 3, axis=2), rng)[0] for _ in range(4)]
    prof = sf.fit_profile(frames, "ramp")
    # The shot term dominates above s ~ 0.07; 15% on a and an order of magnitude on b (it is
    # measured only in the darkest bins, where quantisation and the clipped ramp dominate).
    assert prof.noise_shot_a == pytest.approx(a, rel=0.15)
    assert 0.1 * b < prof.noise_read_b + 1e-7 < 10 * b
    s = np.array([0.05, 0.2, 0.6])
    fit = prof.noise_shot_a * s + prof.noise_read_b
    assert np.allclose(fit, a * s + b, rtol=0.2)


def test_fit_colour_and_brightness_targets():
    img = np.zeros((64, 64, 3))
    img[...] = (0.6, 0.4, 0.42)
    prof = sf.fit_profile([img], "flat")
    assert prof.r_over_g == pytest.approx(1.5) and prof.b_over_g == pytest.approx(1.05)
    assert prof.target_mean_luminance == pytest.approx(0.299 * .6 + .587 * .4 + .114 * .42)
    assert np.allclose(prof.vignetting_gain, 1.0)


def test_vignetting_is_the_non_increasing_envelope():
    lin = np.array([1.0, 0.9, 0.95, 0.7, 0.8])
    out = st.linear_to_srgb(lin.astype(np.float32))
    _, g = sf.vignetting_from_profile(out)
    assert np.allclose(g[1:-1], [1.0, 0.9, 0.9, 0.7, 0.7], atol=1e-3)


def test_calibration_hits_colour_and_noise_targets():
    prof = SensorProfile(name="t", r_over_g=1.4, b_over_g=1.05, target_mean_luminance=0.45,
                         noise_shot_a=2e-4, noise_read_b=1e-5, hf_residual_std=0.012,
                         noise_psd_freq=(0.0, 1.5), noise_psd_log10=(-4.0, -5.0),
                         residual_psd_slope=-0.12)
    yy, xx = np.mgrid[0:96, 0:96]
    base = 0.3 + 0.5 * np.hypot(xx - 48, yy - 48) / 68
    clean = [st.to_uint8(np.stack([base * c for c in (0.9, 0.8, 0.7)], -1) ** 0.45 * k)
             for k in (0.9, 1.0)]
    cfg = SensorConfig(tone=ToneConfig(enabled=True), colour=ColourConfig())
    cal = sc.calibrate_profile(prof, clean, cfg, iterations=6)
    got = cal.calibration["final"]
    assert got["residual_psd_slope"] == pytest.approx(-0.12, rel=0.05)
    assert got["r_over_g"] == pytest.approx(1.4, rel=0.02)
    assert got["b_over_g"] == pytest.approx(1.05, rel=0.02)
    assert got["hf_residual_std"] == pytest.approx(0.012, rel=0.05)
    assert got["mean_luminance"] == pytest.approx(0.45, abs=0.01)


def test_calibration_fits_the_optics_blur():
    """Renders sharper than the real frames: calibration finds the Gaussian blur that makes
    the noise-free output's residual spectrum as steep as the target. The target comes from
    the same textured frames blurred by sigma = 0.8 px, so the fit should land near 0.8 (the
    slope is measured in 8 bands: 0.1 px tolerance); a config that sets the blur wins."""
    frames, _ = power_law_frames(1.0, 0.08, n=3, size=128)
    clean = [st.to_uint8(f) for f in frames]
    blurred = [st.to_uint8(st.gaussian_blur(f.astype(np.float32), 0.8)) for f in frames]
    target = sc.measure(blurred)["residual_psd_slope"]
    prof = SensorProfile(name="t", hf_residual_std=0.02, noise_shot_a=1e-6, noise_read_b=1e-7,
                         noise_psd_freq=(0.0, 1.5), noise_psd_log10=(-5.0, -5.0),
                         residual_psd_slope=target)
    cal = sc.calibrate_profile(prof, clean, quiet(), iterations=1)
    assert cal.defocus_sigma_px == pytest.approx(0.8, abs=0.1)
    assert cal.defocus_ref_width == 128 and cal.calibration["defocus_sigma_px"] > 0
    model = SensorModel(quiet(), cal)
    assert model.defocus_sigma(256) == pytest.approx(2 * cal.defocus_sigma_px)  # scales
    assert SensorModel(quiet(defocus_sigma_px=0.3), cal).defocus_sigma(256) == 0.3
    fixed = sc.calibrate_profile(prof, clean, quiet(defocus_sigma_px=0.0), iterations=1)
    assert fixed.defocus_sigma_px == 0.0


def test_cos4_vignetting_table():
    r, g = sc.cos4_vignetting((0.0, 1.5), (1.0, 1.0), strength=0.5, tan_half_width=1.0)
    assert g[0] == 1.0 and r[-1] == pytest.approx(np.sqrt(2))
    # r = 1, tan theta = 1: cos^4 = 1/4, half strength -> 1 - 0.5 * 0.75.
    assert np.interp(1.0, r, g) == pytest.approx(0.625, abs=0.01)


def test_default_profile_exists_and_loads():
    prof = load_profile("default")
    assert (profile_dir() / "default.json").is_file() and prof.name == "default"
    assert prof.source["kind"] == "reference_stats"
    assert prof.noise_shot_a > 0 and len(prof.noise_psd_freq) >= 8


@pytest.mark.realdata
def test_default_profile_follows_reference(shared_data):
    ref = json.loads((shared_data / "reference" / "bronchoscopy_appearance.json").read_text())
    s = ref["stats"]
    prof = load_profile("default")
    assert prof.r_over_g == pytest.approx(s["r_over_g"]["p50"])
    assert prof.b_over_g == pytest.approx(s["b_over_g"]["p50"])
    assert prof.target_mean_luminance == pytest.approx(s["mean_luminance"]["p50"])
    fresh = sc.profile_from_reference(ref, knobs=sc.DEFAULT_KNOBS)
    # The noise spectrum's shape comes straight from the reference, tilted by calibration.
    tilted = sc.tilt_spectrum(fresh, prof.calibration["spectrum_tilt"])
    assert np.allclose(tilted.noise_psd_log10, prof.noise_psd_log10, atol=1e-6)
    assert prof.tone_gamma == sc.DEFAULT_KNOBS.tone_gamma
    # Residual filter applied to the fitted spectrum gives back the reference bands
    # where the filter passes enough (|H|^2 >= 0.2) to deconvolve.
    freq, logp = sc.reference_noise_psd(s["residual_log_psd"]["p50"], 600)
    assert freq[0] == 0 and len(freq) == 10


def test_missing_profile_and_bad_frames_raise():
    with pytest.raises(InputFileError, match="known profiles"):
        load_profile("no-such-profile")
    with pytest.raises(InputFileError, match="does not exist"):
        sf.read_frames("/no/such/folder")


def test_cli_fits_a_folder(tmp_path, run_cli):
    frames, _ = power_law_frames(1.0, 0.02, n=2, size=64)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(st.to_uint8(f)).save(folder / f"{i:03d}.png")
    out = tmp_path / "prof.json"
    r = run_cli("room.cli.fit_sensor", f"frames={folder}", f"out={out}")
    assert r.returncode == 0, r.stderr
    prof = load_profile(out)
    assert prof.name == "prof" and prof.source["frames"] == 2
    bad = run_cli("room.cli.fit_sensor", f"frames={tmp_path / 'missing'}",
                  f"out={tmp_path / 'bad.json'}")
    assert bad.returncode == 2 and "does not exist" in bad.stderr
    assert not (tmp_path / "bad.json").exists()


@pytest.mark.realdata
def test_cli_calibrates_with_reference_features(tmp_path, run_cli, shared_data):
    """room-fit-sensor with the real frames' statistics, clean renders and their feature
    vectors writes a profile with colour-rendering curves; the features without renders to
    calibrate on is a usage error (exit 2, nothing written)."""
    ref = shared_data / "reference"
    yy, xx = np.mgrid[0:96, 0:96]
    base = 0.3 + 0.5 * np.hypot(xx - 48, yy - 48) / 68
    folder = tmp_path / "clean"
    folder.mkdir()
    for k in (0.9, 1.0):
        im = st.to_uint8(np.stack([base * c for c in (0.9, 0.6, 0.55)], -1) ** 0.45 * k)
        Image.fromarray(im).save(folder / f"{k}.png")
    out = tmp_path / "graded.json"
    r = run_cli("room.cli.fit_sensor", f"reference={ref / 'bronchoscopy_appearance.json'}",
                f"calibrate={folder}", f"reference_features={ref / 'bronchoscopy_features.npz'}",
                "iterations=1", f"out={out}")
    assert r.returncode == 0, r.stderr
    prof = load_profile(out)
    assert prof.value_curve_x and prof.saturation_curve_x and not prof.hue_curve_x
    assert prof.dark_fraction is not None and prof.noise_ref_width == 96
    assert prof.calibration["grading"]["reference_frames"] == 80
    bad = run_cli("room.cli.fit_sensor", f"reference={ref / 'bronchoscopy_appearance.json'}",
                  f"reference_features={ref / 'bronchoscopy_features.npz'}",
                  f"out={tmp_path / 'bad.json'}")
    assert bad.returncode == 2 and "calibrate=CLEAN_DIR" in bad.stderr
    assert not (tmp_path / "bad.json").exists()
