"""Colour rendering: global hue, saturation and brightness curves, the last step of the camera's
processor, fitted so that the pooled HSV distributions of our frames match the real frames'.

A video processor renders colour with tables we cannot measure one by one (its tone curve and
a hue/saturation map, like the HueSatMap of a DNG camera profile). What the reference does
give is the distribution of each frame's HSV hue, saturation and value
(``../shared/data/reference/bronchoscopy_features.npz``: 16-bin histograms of every real frame
at 128 x 128, the ``colour`` group of ``appearance_gap.py``). Three monotone piecewise-linear
curves, ``H -> H'``, ``S -> S'`` and ``V -> V'``, fitted by quantile matching
(:func:`fit_curves`: our outputs' pooled quantiles onto the real pooled ones), give our frames
the same pooled distributions, and a shadow desaturation fitted to the real dark fraction
gives their shadows the real frames' paler colour. The curves also absorb what the renderer
gets wrong in these distributions (its light falloff makes brightness within a frame narrower
than a real scope's): they are fitted on our renders, per look, by
``room.sensor.calibrate.calibrate_profile`` (saturation, value and shadows; no hue curve, see
there) and stored in the profile (``hue_curve_x/_y``, ``saturation_curve_x/_y``,
``value_curve_x/_y``, ``shadow_desaturation``, ``shadow_saturation``; empty or 0: none).

Per pixel (:func:`apply_grading`, a numba loop): HSV as skimage computes it from the 8-bit
codes, the value curve from a 256-entry table, the saturation and hue curves from 4097-entry
tables (linear between entries), back to RGB, rounded (~5.7 ms at 600 x 600 on 2 cores). With
no hue curve (the committed profiles) a pixel keeps its hue: its brightest channel becomes the
new value, its darkest the new value times (1 - new saturation), the middle one stays at its
place between them, and the new saturation (curve and shadow desaturation) is read from a
256 x 256 table by (brightest code, brightest - darkest): the same result without hue
sectors or divisions per pixel (within one code of the general loop, ~2 ms).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import cv2
import numba as nb
import numpy as np

from room.errors import ConfigError

HIST_BINS = 16
"""Bins of the reference's HSV histograms over [0, 1] (appearance_gap.py)."""
FEATURE_SIZE = 128
"""Frames are compared at 128 x 128 (appearance_gap.py resizes every frame to it)."""
HUE_COLUMNS = slice(0, 16)
SATURATION_COLUMNS = slice(16, 32)
VALUE_COLUMNS = slice(32, 48)
"""Columns of the hue, saturation and value histograms in appearance_gap.py's feature vector."""
QUANTILES = np.concatenate([[0.0, 0.002, 0.01, 0.03], np.linspace(1, 15, 15) / 16,
                            [0.97, 0.99, 0.998, 1.0]])
"""Probabilities of the curves' knots: every 1/16 and denser in both tails (the dark lumen and
the highlights are a few percent of the pixels but carry the dark and specular fractions)."""


def check_curve(name: str, x: Sequence[float], y: Sequence[float], lo: float = 0.0,
                hi: float = 1.0) -> list[str]:
    """Problems with a curve's knots (empty list: usable); knots lie in [lo, hi]. Empty knots
    mean no curve."""
    if len(x) == 0 and len(y) == 0:
        return []
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.size < 2:
        return [f"{name}: x and y need the same length, at least 2 (got {x.size}, {y.size})"]
    problems = []
    if np.any(np.diff(x) <= 0) or np.any(np.diff(y) < 0):
        problems.append(f"{name}: x must increase strictly and y must not decrease")
    if x.min() < lo or x.max() > hi or y.min() < lo or y.max() > hi:
        problems.append(f"{name}: knots must lie in [{lo:g}, {hi:g}]")
    return problems


def reference_histograms(features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean hue, saturation and value histograms (16 bins each, sum 1) of real frames' feature
    vectors (rows of appearance_gap.py features, e.g. bronchoscopy_features.npz's
    ``features``): the pooled distributions, every frame weighted alike."""
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or f.shape[1] < VALUE_COLUMNS.stop:
        raise ConfigError(f"reference features must be (frames, >= 48) rows of "
                          f"appearance_gap.py feature vectors, got shape {f.shape}")
    hists = (f[:, c].mean(0) for c in (HUE_COLUMNS, SATURATION_COLUMNS, VALUE_COLUMNS))
    return tuple(x / x.sum() for x in hists)


def feature_hsv(images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pooled HSV hue (turns, wrapped to (-0.5, 0.5], red at 0), saturation and value of uint8
    RGB ``images`` at the reference's scale (each resized to 128 x 128 by area averaging
    first, as the reference frames were); grey pixels have hue 0."""
    from skimage.color import rgb2hsv

    hsv = np.concatenate([rgb2hsv(cv2.resize(np.asarray(im), (FEATURE_SIZE, FEATURE_SIZE),
                                             interpolation=cv2.INTER_AREA)).reshape(-1, 3)
                          for im in images])
    hue = np.where(hsv[:, 0] > 0.5, hsv[:, 0] - 1.0, hsv[:, 0])
    return hue, hsv[:, 1], hsv[:, 2]


def _inverse_cdf(hist: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The distribution ``hist`` (bins over [lo, hi], uniform within a bin) at
    :data:`QUANTILES`."""
    hist = np.asarray(hist, float)
    edges = np.linspace(lo, hi, len(hist) + 1)
    cdf = np.concatenate([[0.0], np.cumsum(hist)]) / hist.sum()
    mass = hist > 0  # edges that bound a non-empty bin (an empty bin's inside is never hit)
    keep = np.concatenate([[False], mass]) | np.concatenate([mass, [False]])
    return np.interp(QUANTILES, cdf[keep], edges[keep])


def _knots(x: np.ndarray, y: np.ndarray, lo: float, hi: float, floor: bool = False,
           top: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Monotone knots through (x, y) (quantiles of ours -> targets), with lo -> lo (``floor``:
    lo and our minimum -> the target's 0.2 % quantile, nothing maps below the bulk of the
    target's least values) and hi -> ``top`` (default hi; nothing maps above it) added: x
    strictly increasing (ties, i.e. flat regions of our distribution, keep their first knot),
    y non-decreasing and inside [lo, top]."""
    top = hi if top is None else top
    if floor:
        y = np.maximum(y, y[1])
    xs, ys = [lo], [float(np.clip(y[0], lo, top)) if floor else lo]
    for xi, yi in zip(x, np.clip(y, lo, top), strict=True):
        if xs[-1] + 1e-4 < xi < hi - 1e-4:
            xs.append(float(xi))
            ys.append(float(max(yi, ys[-1])))
    return np.array(xs + [hi]), np.array(ys + [top])


REFINE_ROUNDS = 3
REFINE_STEP = 0.5
"""Corrections of the fitted targets (:func:`fit_curves`), each by half the remaining error. A
full step overshoots: fitted with a hue curve on 24 ungraded default-look frames and tested on
40 survey views, full steps left colour c2st at 0.91, half steps at 0.72-0.77, none 0.78-0.87."""


def dark_fraction(images: Sequence[np.ndarray]) -> float:
    """Median over ``images`` (uint8 RGB) of the fraction of pixels inside the image circle
    whose luma (Rec. 601) is below 0.15: image_stats.py's ``dark_fraction``."""
    out = []
    for im in images:
        luma = im[_inside(*im.shape[:2])].astype(np.float32) @ np.array(
            [0.299, 0.587, 0.114], np.float32)
        out.append(float((luma < 0.15 * 255).mean()))
    return float(np.median(out))


@functools.lru_cache(maxsize=4)
def _inside(h: int, w: int) -> np.ndarray:
    """Pixels inside the image circle (normalised radius <= 1, as image_stats.py)."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.hypot((xx - (w - 1) / 2) / (w / 2), (yy - (h - 1) / 2) / (h / 2)) <= 1.0


def _fit_shadow(images, knots, target: float | None, floor: float, steps: int = 10) -> float:
    """Shadow desaturation in [0, 1] that brings the graded images' :func:`dark_fraction` to
    ``target`` (bisection: desaturating dark red pixels raises their luma); 0 without a
    target or when the images are at or under it already."""
    (hx, hy), (sx, sy), (vx, vy) = knots

    def frac(k: float) -> float:
        t = grading_tables(sx, sy, vx, vy, hx, hy, k, floor)
        return dark_fraction([apply_grading(im, t) for im in images])

    if target is None or frac(0.0) <= target:
        return 0.0
    lo, hi = 0.0, 1.0
    if frac(hi) > target:
        return hi
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if frac(mid) > target else (lo, mid)
    return 0.5 * (lo + hi)


def fit_curves(images: Sequence[np.ndarray], hue_hist: np.ndarray | None, sat_hist: np.ndarray,
               val_hist: np.ndarray, dark: float | None = None) -> dict[str, Any]:
    """Hue, saturation and value curves that map the pooled distributions of ``images``
    (uint8 outputs of the sensor without grading) onto ``hue_hist``, ``sat_hist`` and
    ``val_hist`` (the real frames', :func:`reference_histograms`; hue bins over [0, 1) turns),
    and with a ``dark`` target (the real frames' median dark fraction) the shadow
    desaturation that meets it. Returns the profile fields.

    Marginal distributions say nothing about which pixels carry which saturation: ours keep
    the mucosa's full saturation into the shadows, so more of their dark-red pixels fall under
    the dark fraction's luma threshold than in real frames, whose shadows are paler
    (plausibly the processor's chroma noise reduction). The shadow desaturation supplies that.
    ``hue_hist`` None: no hue curve (what calibrate_profile fits; see there why).

    The distributions are compared at 128 x 128 but the curves act on every pixel of the full
    frame before it is reduced; where the full frame's values spread wider than their 128-px
    averages (hue on noisy dark pixels) matching at 128 px overshoots. So the fit is refined
    :data:`REFINE_ROUNDS` times: grade the frames, measure the graded quantiles at 128 px and
    move each knot's target by half the quantile's remaining error."""
    ranges = ((-0.5, 0.5), (0.0, 1.0), (0.0, 1.0))
    ours = [np.quantile(c, QUANTILES) for c in feature_hsv(images)]
    targets = [ours[0] if hue_hist is None else  # hue bins re-centred on red: [-0.5, 0.5)
               _inverse_cdf(np.roll(np.asarray(hue_hist, float), len(hue_hist) // 2), -0.5, 0.5),
               _inverse_cdf(sat_hist, 0.0, 1.0), _inverse_cdf(val_hist, 0.0, 1.0)]
    aims = [t.copy() for t in targets]
    floor = float(np.interp(0.01, QUANTILES, targets[1]))
    for k in range(REFINE_ROUNDS + 1):
        # saturation: none below the real frames' least (they have no grey pixels), none
        # above their most (no real pixel is more saturated than ~0.6; an 8-bit code past it
        # falls in histogram bins that are empty in every real frame)
        knots = [_knots(x, y, *r, floor=i == 1, top=targets[1][-1] if i == 1 else None)
                 for i, (x, y, r) in enumerate(zip(ours, aims, ranges, strict=True))]
        shadow = _fit_shadow(images, knots, dark, floor)
        if k == REFINE_ROUNDS:
            break
        (hx, hy), (sx, sy), (vx, vy) = knots
        tables = grading_tables(sx, sy, vx, vy, hx, hy, shadow, floor)
        got = [np.quantile(c, QUANTILES)
               for c in feature_hsv([apply_grading(im, tables) for im in images])]
        aims = [a + REFINE_STEP * (t - g) for a, t, g in zip(aims, targets, got, strict=True)]
        if hue_hist is None:
            aims[0] = ours[0]
    if hue_hist is None:
        knots[0] = (np.zeros(0), np.zeros(0))
    names = ("hue_curve", "saturation_curve", "value_curve")
    out: dict[str, Any] = {f"{n}_{e}": tuple(float(v) for v in kv[i])
                           for n, kv in zip(names, knots, strict=True) for i, e in enumerate("xy")}
    return {**out, "shadow_desaturation": float(shadow), "shadow_saturation": floor}


SHADOW_VALUE = 0.35
"""Shadow desaturation acts below this HSV value (after the value curve): saturation S above
the floor F moves toward it by ``shadow (1 - V / SHADOW_VALUE)`` of the way,
``S - shadow (1 - V / SHADOW_VALUE) (S - F)``; F is the real frames' 1 % saturation quantile
(they have no pixel under saturation 1/8: their shadows are paler, not grey)."""
LUT_SIZE = 4096
"""Entries of the saturation and hue lookup tables (linear interpolation between them: the
curves are piecewise linear, so the tables are exact at their knots and within ~1e-7 between)."""


def grading_tables(sat_x, sat_y, val_x, val_y, hue_x=(), hue_y=(), shadow: float = 0.0,
                   floor: float = 0.0) -> tuple:
    """The curves as float32 lookup tables for :func:`apply_grading`: value (256 entries, by
    max channel code), saturation (LUT_SIZE + 1 over [0, 1]) and hue (LUT_SIZE + 1 over
    [-0.5, 0.5] turns, red at 0), the shadow desaturation toward saturation ``floor``, and
    without a hue curve the saturation after the curve and the shadows per (max code, max -
    min code) (256 x 256; None with a hue curve). Empty knots: the identity."""
    v = np.arange(256) / 255.0
    s = np.linspace(0.0, 1.0, LUT_SIZE + 1)
    h = np.linspace(-0.5, 0.5, LUT_SIZE + 1)
    v_lut = np.asarray(np.interp(v, val_x, val_y) if len(val_x) else v, np.float32)
    s_lut = np.asarray(np.interp(s, sat_x, sat_y) if len(sat_x) else s, np.float32)
    h_lut = np.asarray(np.interp(h, hue_x, hue_y) if len(hue_x) else h, np.float32)
    shadow, floor = np.float32(shadow), np.float32(floor)
    sat = None if len(hue_x) else _saturation_table(v_lut, s_lut, shadow, floor)
    return v_lut, s_lut, h_lut, shadow, floor, sat


@nb.njit(cache=True, inline="always")
def _lut(table, t):
    """Linear interpolation in ``table`` sampled evenly over t in [0, 1]."""
    n = table.shape[0] - 1
    x = t * n
    i = min(max(int(x), 0), n - 1)
    f = x - i
    return table[i] + (table[i + 1] - table[i]) * f


@nb.njit(cache=True, inline="always")
def _saturation(d, hi, v2, s_lut, shadow, floor):
    """New saturation of a pixel with brightest code ``hi`` and range ``d`` (float32) whose new
    value is ``v2``: the saturation curve, then the shadow desaturation toward ``floor``."""
    s2 = _lut(s_lut, d / hi)
    return s2 - shadow * max(np.float32(0.0), np.float32(1.0) - v2 / np.float32(
        SHADOW_VALUE)) * max(np.float32(0.0), s2 - floor)


@nb.njit(cache=True)
def _saturation_table(v_lut, s_lut, shadow, floor):
    out = np.zeros((256, 256), np.float32)
    for hi in range(1, 256):
        for d in range(1, hi + 1):
            out[hi, d] = _saturation(np.float32(d), np.float32(hi), v_lut[hi], s_lut, shadow,
                                     floor)
    return out


@nb.njit(cache=True, inline="always")
def _code(y):
    y = y + np.float32(0.5)
    return 0 if y < 0 else (255 if y >= 255 else np.uint8(y))


@nb.njit(cache=True, parallel=True)
def _grade_keep_hue(rgb, v_lut, sat, out):
    h, w = rgb.shape[0], rgb.shape[1]
    for r in nb.prange(h):
        for c in range(w):
            hi = max(rgb[r, c, 0], max(rgb[r, c, 1], rgb[r, c, 2]))
            lo = min(rgb[r, c, 0], min(rgb[r, c, 1], rgb[r, c, 2]))
            top = v_lut[hi] * np.float32(255.0)
            bot = top * (np.float32(1.0) - sat[hi, hi - lo])
            step = (top - bot) / np.float32(max(hi - lo, 1))
            for k in range(3):
                p = rgb[r, c, k]
                y = top if p == hi else (bot if p == lo else bot + np.float32(p - lo) * step)
                out[r, c, k] = _code(y)


@nb.njit(cache=True, parallel=True)
def _grade(rgb, v_lut, s_lut, h_lut, shadow, floor, out):
    h, w = rgb.shape[0], rgb.shape[1]
    for r in nb.prange(h):
        for c in range(w):
            p0, p1, p2 = (np.float32(rgb[r, c, 0]), np.float32(rgb[r, c, 1]),
                          np.float32(rgb[r, c, 2]))
            hi = max(p0, max(p1, p2))
            lo = min(p0, min(p1, p2))
            d = hi - lo
            v2 = v_lut[int(hi)]
            if d <= 0:  # grey: no hue, no saturation
                y0 = y1 = y2 = v2 * np.float32(255.0)
            else:
                if hi == p0:  # hue in turns, (-0.5, 0.5], red at 0 (skimage's sectors)
                    hue = (p1 - p2) / d / np.float32(6.0)
                elif hi == p1:
                    hue = (np.float32(2.0) + (p2 - p0) / d) / np.float32(6.0)
                else:
                    hue = (np.float32(4.0) + (p0 - p1) / d) / np.float32(6.0)
                if hue > 0.5:
                    hue -= np.float32(1.0)
                s2 = _saturation(d, hi, v2, s_lut, shadow, floor)
                hue = _lut(h_lut, hue + np.float32(0.5)) * np.float32(6.0)
                if hue < 0:
                    hue += np.float32(6.0)
                sector = min(int(hue), 5)
                f = hue - sector
                top = v2 * np.float32(255.0)
                bot = top * (np.float32(1.0) - s2)
                up = bot + (top - bot) * f  # rising edge of the sector
                down = top - (top - bot) * f  # falling edge
                if sector == 0:
                    y0, y1, y2 = top, up, bot
                elif sector == 1:
                    y0, y1, y2 = down, top, bot
                elif sector == 2:
                    y0, y1, y2 = bot, top, up
                elif sector == 3:
                    y0, y1, y2 = bot, down, top
                elif sector == 4:
                    y0, y1, y2 = up, bot, top
                else:
                    y0, y1, y2 = top, bot, down
            out[r, c, 0], out[r, c, 1], out[r, c, 2] = _code(y0), _code(y1), _code(y2)


def apply_grading(rgb8: np.ndarray, tables: tuple[np.ndarray, ...]) -> np.ndarray:
    """The uint8 (H, W, 3) image through the curves tabulated by :func:`grading_tables`:
    HSV of each pixel, the three curves and the shadow desaturation, back to RGB, rounded to
    the nearest code."""
    out = np.empty_like(rgb8)
    rgb8 = np.ascontiguousarray(rgb8)
    if tables[5] is not None:  # no hue curve: the hue-keeping loop (module docstring)
        _grade_keep_hue(rgb8, tables[0], tables[5], out)
    else:
        _grade(rgb8, *tables[:5], out)
    return out
