"""The end of the sensor pipeline as one numba loop over pixels: the noise (a unit field times
each pixel's noise std), clip at full well, the processor's equalisation gain, optionally
colour-keeping range scaling, clip to [0, 1], colour gains and the tone curve's 8-bit
quantisation tables
(:func:`room.sensor.stages.develop_uint8`).

Each of those is a full pass over a float32 (H, W, 3) image in numpy (about 15-25 ms together
at 600 x 600); here they are one read and one uint8 write per pixel. The float32 operations
are the same, in the same order (no fused multiply-adds), so the output codes are bit for bit
those of the numpy stages (``tests/sensor/test_fused.py`` checks it on random and rendered
images).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from room.render import kernels as _kernels  # noqa: F401  (OMP_WAIT_POLICY before the pool)
from room.sensor import stages as st


@nb.njit(cache=True, inline="always")
def _clip(v, lo, hi):
    """numpy's clip for one float32: min(max(v, lo), hi) with max(a, b) = a if a > b else b."""
    t = v if v > lo else lo
    return t if t < hi else hi


@nb.njit(cache=True, inline="always")
def _noisy(v, f, a, b):
    """v + f sqrt(a clip(v, 0, 1) + b) in float32, as SensorModel._noise / _noise_std."""
    s = _clip(v, np.float32(0.0), np.float32(1.0)) * a
    s = s + b
    return v + f * np.sqrt(s)


@nb.njit(cache=True, parallel=True)
def _finish(x, field, a, b, eq, full_well, keep_colour, gains, base, edge, shift, out):
    h, w = x.shape[0], x.shape[1]
    use_eq = eq.shape[0] > 0
    n_field = field.shape[2]  # 0: no noise, 1: one field for R, G and B, 3: one per channel
    zero, one = np.float32(0.0), np.float32(1.0)
    for r in nb.prange(h):
        y = np.empty(3 * w, np.float32)
        bits = y.view(np.int32)
        for c in range(w):
            v0, v1, v2 = x[r, c, 0], x[r, c, 1], x[r, c, 2]
            if n_field == 1:
                f = field[r, c, 0]
                v0, v1, v2 = _noisy(v0, f, a, b), _noisy(v1, f, a, b), _noisy(v2, f, a, b)
            elif n_field == 3:
                v0 = _noisy(v0, field[r, c, 0], a, b)
                v1 = _noisy(v1, field[r, c, 1], a, b)
                v2 = _noisy(v2, field[r, c, 2], a, b)
            if use_eq:
                v0 = _clip(v0, zero, full_well) * eq[r, c, 0]
                v1 = _clip(v1, zero, full_well) * eq[r, c, 1]
                v2 = _clip(v2, zero, full_well) * eq[r, c, 2]
                m = max(v0, max(v1, v2))
                if keep_colour and m > one:
                    v0, v1, v2 = v0 / m, v1 / m, v2 / m
            y[3 * c] = _clip(_clip(v0, zero, one) * gains[0], zero, one)
            y[3 * c + 1] = _clip(_clip(v1, zero, one) * gains[1], zero, one)
            y[3 * c + 2] = _clip(_clip(v2, zero, one) * gains[2], zero, one)
        for k in range(3 * w):
            i = max(bits[k] >> shift, 0)  # -0.0 has the sign bit set
            out[r, k // 3, k % 3] = base[i] + (1 if y[k] >= edge[i] else 0)


def finish_uint8(x: np.ndarray, eq: np.ndarray | None, full_well: float,
                 gains: np.ndarray | None, gamma: float, shoulder: float,
                 noise: tuple[np.ndarray, float, float] | None = None,
                 keep_colour: bool = False) -> np.ndarray:
    """uint8 (H, W, 3) image of the linear sensor signal ``x`` (float32 (H, W, 3), after the
    exposure gain and bloom): ``noise`` = (unit field (H, W) or (H, W, 3), a, b) adds
    field * sqrt(a clip(x, 0, 1) + b) (float32); then, with the equalisation gain ``eq``
    (float32 (H, W, 3)), it is clipped at ``full_well``, multiplied by ``eq`` and, with
    ``keep_colour``, scaled back into range keeping each pixel's colour
    (stages.scale_into_range); then clipped to [0, 1]
    and developed (stages.develop_uint8 with colour ``gains`` (3,), None for none, and the
    tone curve)."""
    base, edge, shift = st._quantizer(gamma, shoulder)
    g = np.ones(3, np.float32) if gains is None else np.asarray(gains, np.float32)
    e = np.zeros((0, 0, 3), np.float32) if eq is None else np.ascontiguousarray(eq, np.float32)
    if noise is None:
        field, a, b = np.zeros((0, 0, 0), np.float32), 0.0, 0.0
    else:
        field, a, b = noise
        field = np.ascontiguousarray(field, np.float32)
        field = field[..., None] if field.ndim == 2 else field
    out = np.empty(x.shape, np.uint8)
    _finish(np.ascontiguousarray(x, np.float32), field, np.float32(a), np.float32(b), e,
            np.float32(full_well), bool(keep_colour), g, base, edge, int(shift), out)
    return out


@nb.njit(cache=True)
def _mean_toned_luma(sub, gain, start, slope, value, shift, luma):
    n = sub.shape[0]
    y = np.empty(3 * n, np.float32)
    bits = y.view(np.int32)
    zero, one = np.float32(0.0), np.float32(1.0)
    for i in range(n):
        for k in range(3):
            y[3 * i + k] = _clip(sub[i, k] * gain, zero, one)
    acc = 0.0
    for i in range(n):
        lum = np.float32(0.0)
        for k in range(3):
            j = max(bits[3 * i + k] >> shift, 0)  # -0.0 has the sign bit set
            lum += ((y[3 * i + k] - start[j]) * slope[j] + value[j]) * luma[k]
        acc += lum
    return acc / max(n, 1)


def mean_toned_luma(sub: np.ndarray, gain: float, tone: st.ToneTable) -> float:
    """Mean Rec. 601 luma of ``tone(sub * gain)`` for the (N, 3) float32 metering pixels
    ``sub`` (SensorModel._log_gain's bisection): one loop instead of a dozen numpy passes per
    step; the same float32 products and tone table, summed in float64 (numpy's float32
    pairwise mean differs by ~1e-7 relative, far below the bisection's 2e-4)."""
    return float(_mean_toned_luma(np.ascontiguousarray(sub, np.float32), np.float32(gain),
                                  tone.start, tone.slope, tone.value, int(tone.SHIFT),
                                  st.LUMA))
