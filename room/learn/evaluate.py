"""Evaluate a depth network (or the constant-depth baseline) on dataset frames.

The network sees each frame resized to ``data.size``; its depth is upsampled (bilinear) to the
frame's native resolution and compared with the native ground truth, frame by frame, with the
protocol of :class:`~room.learn.metrics.MetricsConfig`. The constant-depth baseline predicts the
same depth everywhere (after median or scale alignment, any constant is equivalent).

Outputs of :func:`evaluate` in ``out_dir``: ``depth_eval.json`` (overall and per-sequence metrics
for the model and the constant baseline), ``depth_eval.txt`` (the per-sequence table) and
``depth_eval.png`` (rows of RGB | ground truth | prediction | AbsRel error for a few frames).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from room.config import asdict
from room.errors import ConfigError, InputFileError
from room.learn._deps import require_torch
from room.learn.data import DataConfig, DepthFrames, collate, frames_for, make_splits
from room.learn.device import resolve_device
from room.learn.metrics import (
    MetricAccumulator,
    MetricsConfig,
    align,
    format_table,
    frame_metrics,
    resolve_alignment,
)
from room.learn.models import DepthModel, model_from_payload

torch = require_torch()
F = torch.nn.functional


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation run. checkpoint: a ``.pt`` written by room-finetune-depth; split: which split
    of ``data`` to evaluate (test, or val/train); grid_frames: rows in the PNG; input_size:
    (height, width) the network sees (None: the training size stored in the checkpoint)."""

    checkpoint: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    split: str = "test"
    out_dir: str = "."
    batch_size: int = 8
    device: str = "auto"
    grid_frames: int = 4
    input_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.split not in ("train", "val", "test"):
            raise ConfigError(f"split={self.split!r}; use train, val or test")


@dataclass(frozen=True)
class EvalDepthArgs(EvalConfig):
    """``room-eval-depth``'s settings (schema of ``conf/eval_depth.yaml``): an
    :class:`EvalConfig` with a required checkpoint, plus shortcuts for the data folders."""

    checkpoint: str = "???"  # required: a .pt written by room-finetune-depth
    train: Any = None  # shortcut for data.train: DIR, "DIR1,DIR2" or [DIR1,DIR2]
    val: Any = None  # shortcut for data.val
    test: Any = None  # shortcut for data.test
    root: str | None = None  # shortcut for data.root (split by sequence)
    out_dir: str | None = None  # None: Hydra's run folder


def load_checkpoint(path: str | Path, device="cpu") -> DepthModel:
    """The model stored in a checkpoint (no weights folder needed)."""
    return read_checkpoint(path, device)[0]


def read_checkpoint(path: str | Path, device="cpu") -> tuple[DepthModel, dict[str, Any]]:
    """(model, the checkpoint's train_config dict or {})."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputFileError(f"checkpoint {p} not found; pass checkpoint=PATH to a .pt file "
                             "written by room-finetune-depth (out_dir/checkpoints/last.pt)")
    payload = torch.load(p, map_location=device, weights_only=False)
    if "state_dict" not in payload or "model_config" not in payload:
        raise InputFileError(f"{p} is not a room depth checkpoint (no model_config/state_dict)")
    return model_from_payload(payload).to(device), payload.get("train_config", {})


@torch.no_grad()
def predict(model: DepthModel, rgb, size: tuple[int, int]):
    """(B,1,H,W) depth (metres or arbitrary scale for relative models) at the input's size."""
    h, w = rgb.shape[-2:]
    x = F.interpolate(rgb, size=size, mode="bilinear", align_corners=False, antialias=True)
    d = model.predict_depth(x)
    return F.interpolate(d, size=(h, w), mode="bilinear", align_corners=False)


def evaluate_model(model: DepthModel | None, dataset: DepthFrames, metrics: MetricsConfig,
                   batch_size: int = 8, device="cpu", size: tuple[int, int] | None = None,
                   keep: list[int] | None = None) -> dict[str, Any]:
    """Metrics of ``model`` (None: constant-depth baseline) over ``dataset``.

    ``size``: network input size (None: the frames are already at the network size). ``keep``:
    dataset indices whose (rgb, gt, aligned prediction) are returned under ``"examples"``.
    """
    metrics = resolve_alignment(metrics, model.cfg.mode if model is not None else "metric")
    acc = MetricAccumulator()
    examples: list[dict[str, Any]] = []
    keep_set = set(keep or [])
    if model is not None:
        model.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                         collate_fn=collate)
    k = 0
    for batch in loader:
        rgb = batch["rgb"].to(device)
        if model is None:
            pred = torch.ones_like(batch["depth"])
        else:
            pred = predict(model, rgb, size or tuple(rgb.shape[-2:])).cpu()
        for j in range(rgb.shape[0]):
            p, g = pred[j, 0].double().numpy(), batch["depth"][j, 0].double().numpy()
            v = batch["valid"][j, 0].numpy()
            acc.add(batch["sequence"][j], frame_metrics(p, g, metrics, v))
            if k in keep_set:
                examples.append({"rgb": batch["rgb"][j].permute(1, 2, 0).numpy(), "gt": g,
                                 "valid": v, "pred": _aligned(p, g, v, metrics),
                                 "name": f"{batch['sequence'][j]}#{batch['index'][j]}"})
            k += 1
    return {"overall": acc.overall(), "per_sequence": acc.per_sequence(),
            "skipped_frames": acc.skipped, "examples": examples}


def _aligned(p: np.ndarray, g: np.ndarray, v: np.ndarray, m: MetricsConfig) -> np.ndarray:
    from room.learn.metrics import valid_mask

    mask = valid_mask(g, m, v)
    return np.clip(align(p, g, mask, m.alignment), m.min_depth, m.max_depth)


def save_grid(examples: list[dict[str, Any]], path: str | Path, max_depth: float) -> None:
    """PNG: one row per example: RGB | GT depth | prediction (same colour scale, turbo, near =
    red... far = blue) | AbsRel error (0 black .. >= 0.5 white); invalid GT shown black."""
    import cv2

    rows = []
    for ex in examples:
        v = ex["valid"]
        hi = float(np.percentile(ex["gt"][v], 99)) if v.any() else max_depth

        def colour(d: np.ndarray, v=v, hi=hi) -> np.ndarray:
            x = np.clip(d / hi, 0, 1)
            img = cv2.applyColorMap((255 * (1 - x)).astype(np.uint8), cv2.COLORMAP_TURBO)
            img = img[..., ::-1].copy()
            img[~v] = 0
            return img

        err = np.where(v, np.abs(ex["pred"] - ex["gt"]) / np.maximum(ex["gt"], 1e-9), 0)
        e8 = (255 * np.clip(err / 0.5, 0, 1)).astype(np.uint8)
        err_img = cv2.applyColorMap(e8, cv2.COLORMAP_INFERNO)[..., ::-1].copy()
        err_img[~v] = 0
        rgb = (255 * np.clip(ex["rgb"], 0, 1)).astype(np.uint8)
        rows.append(np.concatenate([rgb, colour(ex["gt"]), colour(ex["pred"]), err_img], 1))
    if not rows:
        return
    h = max(r.shape[0] for r in rows)
    w = max(r.shape[1] for r in rows)
    grid = np.concatenate([np.pad(r, ((0, h - r.shape[0]), (0, w - r.shape[1]), (0, 0)))
                           for r in rows], 0)
    scale = max(1, 256 // h)
    grid = np.kron(grid, np.ones((scale, scale, 1), np.uint8)) if scale > 1 else grid
    col = grid.shape[1] // 4
    header = np.full((18, grid.shape[1], 3), 255, np.uint8)
    for i, text in enumerate(("RGB", "GT depth", "prediction", "AbsRel 0..0.5")):
        cv2.putText(header, text, (i * col + 3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                    cv2.LINE_AA)
    grid = np.concatenate([header, grid], 0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.ascontiguousarray(grid[..., ::-1]))


def evaluate(cfg: EvalConfig) -> dict[str, Any]:
    """Evaluate ``cfg.checkpoint`` on ``cfg.split`` of ``cfg.data``; writes the report files."""
    device = resolve_device(cfg.device)
    model, trained = read_checkpoint(cfg.checkpoint, device)
    size = tuple(cfg.input_size or trained.get("data", {}).get("size", cfg.data.size))
    paths = make_splits(cfg.data)[cfg.split]
    if not paths:
        raise ConfigError(f"the {cfg.split} split is empty; set data.{cfg.split}=DIR or data.root")
    ds = frames_for(paths, cfg.data, train=False, native=True)  # predict() resizes the input
    shapes = {src.reader.intrinsics.shape for src in ds.sources}
    batch = cfg.batch_size if len(shapes) == 1 else 1  # mixed resolutions: one frame a batch
    n = len(ds)
    keep = sorted({int(i) for i in np.linspace(0, n - 1, min(cfg.grid_frames, n))}) if n else []
    metrics = resolve_alignment(cfg.metrics, model.cfg.mode)  # the baseline gets the same
    res = evaluate_model(model, ds, metrics, batch, device, size, keep)
    base = evaluate_model(None, ds, metrics, batch)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "checkpoint": str(cfg.checkpoint), "split": cfg.split,
        "sequences": [str(p) for p in paths], "model": asdict(model.cfg),
        "input_size": list(size),
        "metrics_config": asdict(metrics),
        "overall": res["overall"],
        "per_sequence": res["per_sequence"], "skipped_frames": res["skipped_frames"],
        "baseline_constant": {"overall": base["overall"], "per_sequence": base["per_sequence"]},
    }
    (out / "depth_eval.json").write_text(json.dumps(report, indent=1))
    table = format_table(res["per_sequence"], res["overall"])
    (out / "depth_eval.txt").write_text(table + "\n")
    save_grid(res["examples"], out / "depth_eval.png", cfg.metrics.max_depth)
    report["table"] = table
    return report
