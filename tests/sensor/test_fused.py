"""The fused end of the sensor pipeline (room.sensor.fused) gives the numpy stages' codes bit
for bit: on random signals spanning negatives, over-range values and full-well clipping, with
and without noise (one shared or three fields), equalisation and colour gains, and through
SensorModel on a rendered-like image."""

from __future__ import annotations

import numpy as np
import pytest

from room.sensor import stages as st
from room.sensor.fused import finish_uint8


def _reference(x, eq, full_well, gains, gamma, shoulder, noise=None, keep_colour=False):
    x = x.copy()
    if noise is not None:  # SensorModel._noise and _noise_std
        field, a, b = noise
        n = np.stack([field] * 3, -1) if field.ndim == 2 else field.copy()
        s = np.clip(x, 0.0, 1.0)
        s *= a
        s += b
        n *= np.sqrt(s, out=s)
        x += n
    if eq is not None:
        np.clip(x, 0.0, full_well, out=x)
        x *= eq
        if keep_colour:
            st.scale_into_range(x)
    np.clip(x, 0.0, 1.0, out=x)
    return st.develop_uint8(x, gains, gamma, shoulder)


@pytest.mark.parametrize("noise_channels", [0, 1, 3])
@pytest.mark.parametrize("with_eq", [False, True])
@pytest.mark.parametrize("with_gains", [False, True])
@pytest.mark.parametrize("keep_colour", [False, True])
def test_fused_tail_is_bit_identical(with_eq, with_gains, noise_channels, keep_colour):
    rng = np.random.default_rng(7)
    x = rng.normal(0.5, 0.6, (61, 47, 3)).astype(np.float32)  # negatives and > 1 included
    x[0, :4] = [0.0, -0.0, 1.0]  # signed zero and the exact edges
    eq = rng.uniform(0.5, 2.5, x.shape).astype(np.float32) if with_eq else None
    gains = np.array([1.31, 1.0, 0.87], np.float32) if with_gains else None
    noise = None
    if noise_channels:
        shape = x.shape[:2] if noise_channels == 1 else x.shape
        noise = (rng.standard_normal(shape, dtype=np.float32), np.float32(0.004),
                 np.float32(1e-4))
    for gamma, shoulder in [(1.0, 0.0), (0.8, 0.7)]:
        ref = _reference(x, eq, 1.37, gains, gamma, shoulder, noise, keep_colour)
        out = finish_uint8(x, eq, 1.37, gains, gamma, shoulder, noise=noise,
                           keep_colour=keep_colour)
        assert out.dtype == np.uint8 and np.array_equal(out, ref)
        assert len(np.unique(ref)) > 100  # the test spans the tone curve, not only 0 and 255


@pytest.mark.parametrize("look", ["default", "textured"])
def test_sensor_model_output_unchanged_by_the_fused_tail(monkeypatch, look):
    from room.compose import compose_generate
    from room.sensor import SensorModel
    from room.sensor import model as model_mod

    rgb = (np.random.default_rng(3).uniform(0, 1, (48, 64, 3)) ** 2 * 255).astype(np.uint8)
    m = SensorModel(compose_generate([f"sensor={look}"]).sensor)
    fused, _ = m.process(rgb, np.random.default_rng(5))
    monkeypatch.setattr(model_mod, "finish_uint8", _reference)
    ref, _ = m.process(rgb, np.random.default_rng(5))
    assert np.array_equal(fused, ref)


def test_metering_mean_equals_the_numpy_stages():
    # The exposure bisection's mean luma of tone(sub * gain): the same float32 products and
    # tone table as st.luminance(st.ToneTable(...)(sub * gain)).mean(), summed in float64
    # instead of numpy's float32 pairwise sum: ~1e-7 relative apart (the bisection stops at
    # 2e-4), on values below, inside and above the tone curve's range.
    from room.sensor import stages as st
    from room.sensor.fused import mean_toned_luma

    tone = st.ToneTable(0.75, 0.7)
    sub = (np.random.default_rng(4).uniform(-0.1, 1.0, (5000, 3)) ** 2 * 3).astype(np.float32)
    for gain in (0.05, 0.4, 1.0, 3.0):
        ref = float(st.luminance(tone(sub * np.float32(gain))).mean())
        assert mean_toned_luma(sub, gain, tone) == pytest.approx(ref, rel=1e-6)
