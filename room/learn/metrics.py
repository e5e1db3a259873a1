"""Monocular depth metrics as depth papers report them (Eigen et al. 2014 protocol).

All depths are z-depth in metres; 0 (or non-finite) ground truth means "no measurement".
Metrics are computed per frame over the valid pixels and averaged over frames.

Alignment modes (applied per frame before the metrics):

- ``metric``: none; the prediction is taken as metres.
- ``median``: scale by ``median(gt) / median(pred)`` over the valid pixels (monodepth2).
- ``scale_shift``: least-squares scale and shift **on depth**: ``argmin_{s,t} sum (s*p + t - g)^2``.
- ``scale_shift_disparity``: least-squares scale and shift **on inverse depth** (MiDaS protocol
  for relative models): with ``p`` the predicted depth, fit ``s * (1/p) + t`` to ``1/g`` and
  take ``1 / (s/p + t)`` as the aligned depth (non-positive disparities become +inf, then
  clipped to ``max_depth``).

- ``auto``: resolved by the evaluator from the model's mode (:func:`resolve_alignment`):
  ``median`` for metric models, ``scale_shift_disparity`` for relative ones.

After alignment the prediction is clipped to ``[min_depth, max_depth]``; pixels whose ground
truth lies outside ``(min_depth, max_depth]`` are excluded (the depth cap).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np

from room.errors import ConfigError

ALIGNMENTS = ("metric", "median", "scale_shift", "scale_shift_disparity", "auto")
METRIC_NAMES = ("abs_rel", "sq_rel", "rmse", "rmse_log", "delta1", "delta2", "delta3")


@dataclass(frozen=True)
class MetricsConfig:
    """Evaluation protocol. Depths in metres."""

    alignment: str = "auto"
    min_depth: float = 1e-3
    max_depth: float = 0.15

    def __post_init__(self) -> None:
        if self.alignment not in ALIGNMENTS:
            raise ConfigError(f"alignment={self.alignment!r} unknown; use one of {ALIGNMENTS}")
        if not 0 < self.min_depth < self.max_depth:
            raise ConfigError(
                f"need 0 < min_depth < max_depth, got {self.min_depth}, {self.max_depth}"
            )


def resolve_alignment(cfg: MetricsConfig, mode: str) -> MetricsConfig:
    """``cfg`` with ``auto`` replaced for a model of ``mode`` (metric | relative)."""
    if cfg.alignment != "auto":
        return cfg
    return replace(cfg, alignment="median" if mode == "metric" else "scale_shift_disparity")


def valid_mask(gt: np.ndarray, cfg: MetricsConfig, mask: np.ndarray | None = None) -> np.ndarray:
    """Pixels with finite ground truth in ``(min_depth, max_depth]`` (and ``mask`` if given)."""
    gt = np.asarray(gt)
    m = np.isfinite(gt) & (gt > cfg.min_depth) & (gt <= cfg.max_depth)
    if mask is not None:
        m &= np.asarray(mask, dtype=bool)
    return m


def _lstsq_scale_shift(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``s, t`` minimising ``sum (s*x + t - y)^2`` (closed form, 2x2 system)."""
    a00, a01, a11 = float(np.dot(x, x)), float(x.sum()), float(x.size)
    b0, b1 = float(np.dot(x, y)), float(y.sum())
    det = a00 * a11 - a01 * a01
    if abs(det) < 1e-30:  # constant prediction: scale undetermined, use shift only
        return 0.0, float(y.mean())
    return (a11 * b0 - a01 * b1) / det, (a00 * b1 - a01 * b0) / det


def align(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, alignment: str) -> np.ndarray:
    """``pred`` (depth, metres or arbitrary scale) aligned to ``gt`` over ``mask``.

    Returns a new float64 array of the full image shape. See the module docstring for modes.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if alignment == "metric":
        return pred.copy()
    p, g = pred[mask], gt[mask]
    if p.size == 0:
        return pred.copy()
    if alignment == "median":
        med = np.median(p)
        return pred * (np.median(g) / med) if med > 0 else pred.copy()
    if alignment == "scale_shift":
        s, t = _lstsq_scale_shift(p, g)
        return s * pred + t
    if alignment == "scale_shift_disparity":
        with np.errstate(divide="ignore", invalid="ignore"):
            s, t = _lstsq_scale_shift(1.0 / np.maximum(p, 1e-12), 1.0 / g)
            disp = s / np.maximum(pred, 1e-12) + t
            return np.where(disp > 0, 1.0 / disp, np.inf)
    raise ConfigError(f"alignment={alignment!r} unknown; use one of {ALIGNMENTS}")


def frame_metrics(
    pred: np.ndarray, gt: np.ndarray, cfg: MetricsConfig, mask: np.ndarray | None = None
) -> dict[str, float] | None:
    """The seven standard metrics of one frame, or ``None`` when it has no valid pixel.

    ``pred`` and ``gt``: (H, W) depth in metres (``pred`` of any scale unless ``metric``).
    abs_rel = mean |p-g|/g; sq_rel = mean (p-g)^2/g; rmse = sqrt mean (p-g)^2 [m];
    rmse_log = sqrt mean (ln p - ln g)^2; delta_k = fraction with max(p/g, g/p) < 1.25^k.
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise ConfigError(f"prediction shape {pred.shape} != ground-truth shape {gt.shape}")
    if cfg.alignment == "auto":
        raise ConfigError("alignment=auto must be resolved first (resolve_alignment)")
    m = valid_mask(gt, cfg, mask)
    if not m.any():
        return None
    aligned = align(pred, gt, m & np.isfinite(pred), cfg.alignment)
    p = np.clip(aligned[m], cfg.min_depth, cfg.max_depth)
    g = gt[m].astype(np.float64)
    ratio = np.maximum(p / g, g / p)
    err = p - g
    return {
        "abs_rel": float(np.mean(np.abs(err) / g)),
        "sq_rel": float(np.mean(err**2 / g)),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "rmse_log": float(np.sqrt(np.mean((np.log(p) - np.log(g)) ** 2))),
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25**2)),
        "delta3": float(np.mean(ratio < 1.25**3)),
    }


class MetricAccumulator:
    """Collects per-frame metrics grouped by sequence; reports per-sequence and overall means.

    The overall mean is over frames (every frame weighs the same), as in the Eigen protocol.
    """

    def __init__(self) -> None:
        self._rows: dict[str, list[dict[str, float]]] = defaultdict(list)
        self.skipped = 0

    def add(self, sequence: str, metrics: dict[str, float] | None) -> None:
        if metrics is None:
            self.skipped += 1
        else:
            self._rows[sequence].append(metrics)

    @staticmethod
    def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
        out = {k: float(np.mean([r[k] for r in rows])) for k in METRIC_NAMES}
        out["frames"] = len(rows)
        return out

    def per_sequence(self) -> dict[str, dict[str, float]]:
        return {s: self._mean(r) for s, r in sorted(self._rows.items())}

    def overall(self) -> dict[str, float]:
        rows = [r for rs in self._rows.values() for r in rs]
        if not rows:
            return {**{k: float("nan") for k in METRIC_NAMES}, "frames": 0}
        return self._mean(rows)


def format_table(per_sequence: dict[str, dict[str, float]], overall: dict[str, float]) -> str:
    """Plain-text table, one row per sequence plus the overall mean."""
    head = f"{'sequence':<32}{'frames':>7}" + "".join(f"{k:>10}" for k in METRIC_NAMES)
    lines = [head, "-" * len(head)]
    for name, row in [*per_sequence.items(), ("ALL", overall)]:
        vals = "".join(f"{row[k]:>10.4f}" for k in METRIC_NAMES)
        lines.append(f"{name[-32:]:<32}{int(row['frames']):>7}{vals}")
    return "\n".join(lines)
