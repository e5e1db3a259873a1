"""Sensor model: a camera pipeline that turns the clean render into a bronchoscope's image.

``SensorModel(cfg, profile).apply(frame, prev_frame)`` returns the frame with ``rgb`` replaced by
the sensor image; ``rgb_clean`` and every ground-truth field stay untouched. Stages, in order,
all in linear light (the clean sRGB render is decoded first), each optional:

1. motion blur along each pixel's image motion since ``prev_frame`` (depth + both poses, on
   every 4th row and column, interpolated between), over the exposure time (scaled by the
   frames' time step);
2. defocus blur (Gaussian);
3. vignetting (fitted radial profile, or cos^4 from the intrinsics), then optional veiling
   glare (a uniform offset, a fraction of the image's mean colour: stray light in the optics);
4. exposure: a fixed gain, or auto-gain aiming the output mean luminance at a target, smoothed
   across frames in the log domain (the previous gain is read from ``prev_frame.meta``);
5. highlight bloom (threshold + Gaussian glow);
6. noise with variance ``a * signal + b`` (Gaussian approximation of shot + read noise) whose
   spatial correlation follows the profile's radial power spectrum (white noise filtered in the
   Fourier domain) and whose channels share ``channel_correlation`` of their variance (three
   fields mixed by a Cholesky factor; at 1, the default, one field shared by R, G and B);
7. saturation clip at full well (kept above the brightest pixels by the auto-exposure's
   highlight protection when the equalisation follows), the processor's brightness
   equalisation (a smooth gain map, metered by the auto-exposure too), optionally pixels whose
   brightest channel ends above white scaled back to it whole (``local_tone.keep_colour``:
   hue and saturation kept, a near wall stays red instead of clipping to grey-pink), clip to
   white;
   optional Bayer mosaic + bilinear demosaic (OpenCV);
8. colour-balance gains, tone curve (gamma, highlight shoulder, sRGB), 8-bit quantisation;
9. colour rendering: the profile's hue, saturation and value curves (``grading``, fitted to
   the real frames' pooled HSV distributions, room.sensor.grading);
10. optional JPEG compression.

Settings: :class:`~room.sensor.config.SensorConfig` (Hydra group ``sensor``). Fitted quantities
come from a :class:`SensorProfile` (``assets/sensor/<name>.json``); every ``None`` in the config
means "take it from the profile". Same config + seed -> same image: the
default random stream is seeded from ``(cfg.seed, frame.index)``.

Speed (benchmarks/bench_sensor.py): float32 throughout, cv2 for blurs, remaps and per-channel
products, caches per image size (vignetting map, noise filter, metering mask, pixel grid),
exposure metered on a ~96-px subsample with a tabulated tone curve, and the final colour +
tone + 8-bit step through exact lookup tables (``stages.develop_uint8``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from room.errors import ConfigError
from room.sensor import stages as st
from room.sensor.config import SensorConfig
from room.sensor.fused import finish_uint8, mean_toned_luma
from room.sensor.grading import apply_grading, grading_tables
from room.sensor.profile import SensorProfile, load_profile
from room.types import Frame, Intrinsics

__all__ = ["SensorModel"]


@dataclass(frozen=True)
class _Resolved:
    """Config values with the profile's filled in (internal)."""

    target: float
    shot_a: float
    read_b: float
    gains: np.ndarray
    gamma: float
    shoulder: float


class SensorModel:
    """Applies the sensor pipeline (module docstring) to frames or bare uint8 images."""

    def __init__(self, cfg: SensorConfig | None = None,
                 profile: SensorProfile | str | None = None) -> None:
        self.cfg = cfg if cfg is not None else SensorConfig()
        self.profile = load_profile(profile if profile is not None else self.cfg.profile)
        c, p = self.cfg, self.profile
        self._r = _Resolved(
            target=_pick(c.exposure.target_mean_luminance, p.target_mean_luminance),
            shot_a=_pick(c.noise.shot_a, p.noise_shot_a),
            read_b=_pick(c.noise.read_b, p.noise_read_b),
            gains=np.asarray(_pick(c.colour.gains, p.colour_gains), dtype=np.float32),
            gamma=_pick(c.tone.gamma, p.tone_gamma) if c.tone.enabled else 1.0,
            shoulder=_pick(c.tone.shoulder, p.tone_shoulder) if c.tone.enabled else 0.0,
        )
        self._cache: dict[tuple, np.ndarray] = {}
        self._grading = grading_tables(p.saturation_curve_x, p.saturation_curve_y,
                                       p.value_curve_x, p.value_curve_y, p.hue_curve_x,
                                       p.hue_curve_y, p.shadow_desaturation,
                                       p.shadow_saturation) if (
            c.grading.enabled and (p.saturation_curve_x or p.value_curve_x or p.hue_curve_x
                                   or p.shadow_desaturation)) else None

    def defocus_sigma(self, width: int) -> float:
        """Optics blur (px) for an image ``width`` pixels wide: the config's value, else the
        profile's fitted one scaled from the width it was fitted at."""
        if self.cfg.defocus_sigma_px is not None:
            return float(self.cfg.defocus_sigma_px)
        p = self.profile
        return p.defocus_sigma_px * (width / p.defocus_ref_width if p.defocus_ref_width else 1.0)

    # ------------------------------------------------------------------ public API
    def apply(self, frame: Frame, prev_frame: Frame | None = None, seed: int | None = None,
              rng: np.random.Generator | None = None) -> Frame:
        """The frame with ``rgb`` = sensor image; ``rgb_clean`` and ground truth untouched.

        ``prev_frame`` (the previous frame of the same sequence) enables motion blur and
        auto-exposure smoothing. Randomness: ``rng`` if given, else ``seed``, else a stream
        seeded from ``(cfg.seed, frame.index)``.
        """
        if not self.cfg.enabled:
            return frame.replace(rgb=frame.rgb_clean.copy())
        rng = self._rng(frame.index, seed, rng)
        motion, shutter, extent = None, 0.0, None
        if self.cfg.motion_blur.enabled and prev_frame is not None:
            mb = self.cfg.motion_blur
            dt = frame.time_s - prev_frame.time_s
            shutter = min(mb.exposure_s / dt, 1.0) if dt > 0 else mb.shutter
            key = ("rays", frame.intrinsics)
            if key not in self._cache:
                self._cache[key] = st.pixel_rays(frame.intrinsics)
            sub = st.image_motion(frame.depth[::4, ::4], frame.intrinsics, frame.T_world_cam,
                                  prev_frame.T_world_cam, rays=self._cache[key][::4, ::4])
            # the blur's length is decided on this 1/16 subsample, as motion_blur does, and
            # the motion field (smooth: it only shapes the blur) is interpolated from it
            n_samples, extent = st.blur_samples(sub, shutter, mb.max_samples, subsampled=True)
            if n_samples > 1:
                motion = st.upsample_motion(sub, frame.depth.shape, 4)
        prev_log_gain = None
        if prev_frame is not None:
            prev_log_gain = prev_frame.meta.get("sensor", {}).get("log_gain")
        rgb, info = self.process(frame.rgb_clean, rng, intrinsics=frame.intrinsics,
                                 motion=motion, shutter=shutter, prev_log_gain=prev_log_gain)
        if motion is None and extent is not None:
            info["motion_blur_px"] = extent
        return frame.replace(rgb=rgb, meta={**frame.meta, "sensor": info})

    def process(self, rgb_clean: np.ndarray, rng: np.random.Generator, *,
                intrinsics: Intrinsics | None = None, motion: np.ndarray | None = None,
                shutter: float | None = None, prev_log_gain: float | None = None
                ) -> tuple[np.ndarray, dict[str, Any]]:
        """Array-level pipeline: uint8 sRGB (H, W, 3) -> (uint8 sensor image, info dict).

        ``motion``: (H, W, 2) pixel displacement to the previous frame (room.sensor.stages.
        image_motion), None for no motion blur; ``shutter``: the fraction of it swept during
        the exposure (default ``cfg.motion_blur.shutter``). ``intrinsics`` is needed for cos^4
        vignetting.
        """
        c = self.cfg
        if rgb_clean.dtype != np.uint8 or rgb_clean.ndim != 3 or rgb_clean.shape[2] != 3:
            raise ConfigError(f"sensor input must be uint8 (H, W, 3), got {rgb_clean.dtype} "
                              f"{rgb_clean.shape}")
        x = st.uint8_to_linear(rgb_clean)
        info: dict[str, Any] = {"profile": self.profile.name, "motion_blur_px": 0.0}
        shutter = c.motion_blur.shutter if shutter is None else shutter
        if motion is not None and shutter > 0:
            x, info["motion_blur_px"] = st.motion_blur(x, motion, shutter,
                                                       c.motion_blur.max_samples)
        x = st.gaussian_blur(x, self.defocus_sigma(x.shape[1]))
        if c.vignetting.enabled:
            x *= self._vignette(x.shape[:2], intrinsics)
        if c.glare.enabled and c.glare.fraction > 0:
            glare = c.glare.fraction * self._circle_mean(x)
            cv2.add(x, tuple(float(v) for v in glare) + (0.0,), dst=x)
        lt = c.local_tone
        eq = cv2.merge([st.local_gain(x, lt.strength, lt.sigma_frac)] * 3) if (
            lt.enabled and lt.strength > 0) else None
        log_gain = self._log_gain(self._meter(x, eq), prev_log_gain)
        info["log_gain"] = log_gain
        x *= np.float32(np.exp(log_gain))
        full_well = self._full_well(x) if eq is not None else 1.0
        if c.bloom.enabled:  # glow of what nears full well
            x = st.bloom(x, c.bloom.threshold * full_well, c.bloom.sigma_px, c.bloom.strength)
        noisy = c.noise.enabled and c.noise.scale > 0
        gains = self._r.gains if c.colour.enabled else None
        if not c.bayer.enabled:  # noise and the steps below in one loop, bit for bit
            noise = (self._noise_field(x.shape[:2], rng), *self._noise_coeffs(x.shape[1])) \
                if noisy else None
            out = finish_uint8(x, eq, full_well, gains, self._r.gamma, self._r.shoulder,
                               noise=noise, keep_colour=c.local_tone.keep_colour)
        else:
            if noisy:
                x += self._noise(x, rng)
            if eq is not None:  # the sensor clips at full well, then the processor equalises
                np.clip(x, 0.0, full_well, out=x)
                x *= eq
                if c.local_tone.keep_colour:  # over-range pixels back keeping colour
                    st.scale_into_range(x)
            np.clip(x, 0.0, 1.0, out=x)
            x = st.demosaic(st.bayer_mosaic(x, c.bayer.pattern), c.bayer.pattern)
            out = st.develop_uint8(x, gains, self._r.gamma, self._r.shoulder)
        if self._grading is not None:
            out = apply_grading(out, self._grading)
        if c.jpeg.enabled:
            out = st.jpeg_roundtrip(out, c.jpeg.quality)
        return out, info

    def noise_variance(self, signal: np.ndarray | float) -> np.ndarray:
        """Model noise variance in linear light at linear ``signal``: scale^2 (a s + b), at the
        profile's ``noise_ref_width`` (narrower frames: _noise_coeffs)."""
        s = np.clip(np.asarray(signal, dtype=np.float64), 0.0, 1.0)
        return self.cfg.noise.scale ** 2 * (self._r.shot_a * s + self._r.read_b)

    # ------------------------------------------------------------------ stages
    def _rng(self, index: int, seed: int | None,
             rng: np.random.Generator | None) -> np.random.Generator:
        if rng is not None:
            return rng
        return np.random.default_rng(seed if seed is not None else [self.cfg.seed, int(index)])

    def _develop(self, x: np.ndarray) -> np.ndarray:
        """Linear sensor values -> output values: colour gains, clip, tone curve."""
        if self.cfg.colour.enabled:
            x = x * self._r.gains
            np.clip(x, 0.0, 1.0, out=x)
        if "tone" not in self._cache:
            self._cache["tone"] = st.ToneTable(self._r.gamma, self._r.shoulder)
        return self._cache["tone"](x)

    def _meter(self, x: np.ndarray, eq: np.ndarray | None) -> np.ndarray:
        """The pixels the auto-exposure meters: (N, 3) linear values (times the local gain
        map) on a ~96-px subsample inside the image circle. Identical to subsampling the
        full product, at 1/36 of its cost."""
        h, w = x.shape[:2]
        step = max(1, min(h, w) // 96)  # meter on a ~96-px subsample: same mean, 40x faster
        key = ("meter", h, w)
        if key not in self._cache:
            self._cache[key] = st.normalised_radius(h, w)[::step, ::step] <= 1.0
        inside = self._cache[key]
        sub = x[::step, ::step][inside]
        return sub if eq is None else sub * eq[::step, ::step][inside]

    def _circle_mean(self, x: np.ndarray) -> np.ndarray:
        """(3,) float32 mean of ``x`` inside the image circle, on the auto-exposure's ~96-px
        subsample (veiling glare: only its level matters)."""
        h, w = x.shape[:2]
        step = max(1, min(h, w) // 96)
        key = ("meter", h, w)
        if key not in self._cache:
            self._cache[key] = st.normalised_radius(h, w)[::step, ::step] <= 1.0
        return x[::step, ::step][self._cache[key]].mean(axis=0).astype(np.float32)

    def _full_well(self, x: np.ndarray) -> float:
        """Saturation level of the sensor signal ``x`` (linear, after the exposure gain)
        when the processor's equalisation follows: the auto-exposure splits its gain into an
        analogue part that keeps the ``exposure.headroom_percentile`` of the brightest channel
        below full well (highlight protection, as scopes dim their LEDs on near walls) and a
        digital part, so saturation sits at that percentile's level (>= 1, the output's
        white). Metered on the auto-exposure's subsample."""
        e = self.cfg.exposure
        if not (e.enabled and e.auto) or e.headroom_percentile >= 100:
            return 1.0
        h, w = x.shape[:2]
        step = max(1, min(h, w) // 96)
        sub = x[::step, ::step][self._cache[("meter", h, w)]].max(axis=1)
        return max(1.0, float(np.percentile(sub, e.headroom_percentile)))

    def _vignette(self, shape: tuple[int, int], intr: Intrinsics | None) -> np.ndarray:
        v = self.cfg.vignetting
        key = ("vig", shape, v.mode, v.strength, intr)
        if key not in self._cache:
            if v.mode == "cos4":
                if intr is None:
                    raise ConfigError("cos4 vignetting needs the camera intrinsics; pass "
                                      "intrinsics= or use vignetting.mode=profile")
                vig = st.vignetting_cos4(intr, v.strength)
            else:
                p = self.profile
                vig = st.vignetting_profile(*shape, p.vignetting_radius, p.vignetting_gain,
                                            v.strength)
            self._cache[key] = cv2.merge([vig] * 3)  # (H, W, 3): a plain elementwise product
        return self._cache[key]

    def _log_gain(self, x: np.ndarray, prev: float | None) -> float:
        """Natural-log exposure gain: fixed, or metered so the developed image's mean luma
        inside the image circle (``x``: the pixels from :meth:`_meter`) hits the target, then
        smoothed with the previous frame's."""
        e = self.cfg.exposure
        if not e.enabled:
            return 0.0
        if not e.auto:
            return float(np.log(e.gain))
        sub = x  # already the metered subsample (_meter)
        lo, hi = np.log(e.min_gain), np.log(e.max_gain)
        target = self._r.target
        if self.cfg.colour.enabled:
            sub = sub * self._r.gains
        sub = np.ascontiguousarray(sub, np.float32)
        if "tone" not in self._cache:
            self._cache["tone"] = st.ToneTable(self._r.gamma, self._r.shoulder)
        tone = self._cache["tone"]
        for _ in range(16):  # bisection (monotone in the gain): log-gain to 2e-4, 0.02 %
            mid = 0.5 * (lo + hi)
            lum = mean_toned_luma(sub, np.exp(mid), tone)
            lo, hi = (mid, hi) if lum < target else (lo, mid)
        g = 0.5 * (lo + hi)
        if prev is not None and e.smoothing > 0:
            g = e.smoothing * float(prev) + (1 - e.smoothing) * g
        return float(g)

    def _noise(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Zero-mean noise with per-pixel std sqrt(var(clip(x))) and the profile's spectrum."""
        n = self._noise_field(x.shape[:2], rng)
        if n.ndim == 2:
            n = cv2.merge([n] * 3)
        n *= self._noise_std(x)
        return n

    def _noise_field(self, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """The unit-variance noise field with the profile's spectrum: (H, W) shared by R, G and
        B (``channel_correlation`` >= 1: 1/3 of the cost), else (H, W, 3)."""
        c = self.cfg.noise
        h, w = shape
        amp = None
        if c.spectrum == "profile":
            key = ("psd", h, w)
            if key not in self._cache:
                p = self.profile
                # a reduced frame resolves the band [0, w / ref] of the reference spectrum
                stretch = self._ref_width / w if self._ref_width > w else 1.0
                self._cache[key] = st.psd_filter(h, w, np.asarray(p.noise_psd_freq) * stretch,
                                                 p.noise_psd_log10)
            amp = self._cache[key]
        if c.channel_correlation >= 1.0:
            return st.correlated_noise(rng, (h, w), amp)
        key = ("mix", c.channel_correlation)
        if key not in self._cache:
            self._cache[key] = st.channel_mix(3, c.channel_correlation)
        return st.correlated_noise(rng, (h, w, 3), amp, mix=self._cache[key])

    @property
    def _ref_width(self) -> int:
        """Width the noise level was fitted at, when it comes from the profile (0: any)."""
        c = self.cfg.noise
        from_profile = c.shot_a is None and c.read_b is None
        return self.profile.noise_ref_width if from_profile else 0

    def _noise_coeffs(self, width: int) -> tuple[np.float32, np.float32]:
        """float32 (a, b) of the noise variance a clip(x) + b (linear light) in a frame
        ``width`` pixels wide: the profile's, times the share of its noise variance a frame
        reduced to that width keeps (stages.band_variance; 1 at or above its width)."""
        c = self.cfg.noise
        key = ("band", width)
        if key not in self._cache:
            ref, p = self._ref_width, self.profile
            flat = c.spectrum != "profile"
            self._cache[key] = st.band_variance(
                p.noise_psd_freq, np.zeros(len(p.noise_psd_freq)) if flat
                else p.noise_psd_log10, ref, width) if ref else 1.0
        k = c.scale ** 2 * self._cache[key]
        return np.float32(k * self._r.shot_a), np.float32(k * self._r.read_b)

    def _noise_std(self, x: np.ndarray) -> np.ndarray:
        """float32 sqrt(noise_variance(x)) (float32 arithmetic)."""
        a, b = self._noise_coeffs(x.shape[1])
        s = np.clip(x, 0.0, 1.0)
        s *= a
        s += b
        return np.sqrt(s, out=s)


def _pick(value: Any, default: Any) -> Any:
    return default if value is None else value
