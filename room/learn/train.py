"""Fine-tune / train a depth network: checkpoints, resume, progress bar, JSONL logs.

Outputs in ``out_dir``: ``checkpoints/last.pt`` (every epoch, written atomically),
``checkpoints/best.pt`` (lowest validation AbsRel), ``train_log.jsonl`` (one JSON object per
logged step and one per epoch with validation metrics), ``train_config.json``.
With ``resume`` (default) a run whose ``last.pt`` exists continues after the last finished
epoch, and ends with the same weights as an uninterrupted run (same seed).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from room.config import asdict
from room.errors import ConfigError
from room.fileio import atomic_path
from room.learn._deps import require_torch
from room.learn.data import DataConfig, DepthFrames, collate, frames_for, make_splits
from room.learn.device import resolve_device
from room.learn.evaluate import evaluate_model
from room.learn.losses import metric_loss, relative_loss
from room.learn.metrics import MetricsConfig
from room.learn.models import DepthModel, ModelConfig, build_model, model_payload

torch = require_torch()


@dataclass(frozen=True)
class TrainConfig:
    """Training run. lr: AdamW learning rate (the pretrained backbone of a transformers model
    gets ``lr * backbone_lr_scale``); silog_lambda: SiLog's lambda (metric mode); grad_alpha:
    weight of gradient matching (relative mode); device: auto | cpu | cuda[:n]; log_every: steps
    between JSONL step records; max_steps: stop after this many optimiser steps (0 = no cap)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    out_dir: str = "."
    epochs: int = 10
    max_steps: int = 0
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    backbone_lr_scale: float = 0.1
    silog_lambda: float = 0.85
    grad_alpha: float = 0.5
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    log_every: int = 10
    resume: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be >= 1")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")


@dataclass(frozen=True)
class FinetuneDepthArgs(TrainConfig):
    """``room-finetune-depth``'s settings (schema of ``conf/finetune_depth.yaml``): a
    :class:`TrainConfig` plus command-line shortcuts for the data folders."""

    train: Any = None  # shortcut for data.train: DIR, "DIR1,DIR2" or [DIR1,DIR2]
    val: Any = None  # shortcut for data.val
    test: Any = None  # shortcut for data.test
    root: str | None = None  # shortcut for data.root (split by sequence)
    out_dir: str | None = None  # None: Hydra's run folder


def loss_fn(model: DepthModel, out, batch: dict[str, Any], cfg: TrainConfig):
    depth, valid = batch["depth"], batch["valid"]
    if model.cfg.mode == "metric":
        return metric_loss(out, depth, valid, lam=cfg.silog_lambda)
    return relative_loss(out, depth, valid, alpha=cfg.grad_alpha)


def _param_groups(model: DepthModel, cfg: TrainConfig) -> list[dict[str, Any]]:
    if model.cfg.arch == "unet" or not model.cfg.weights:
        return [{"params": list(model.parameters()), "lr": cfg.lr}]
    backbone = [p for n, p in model.named_parameters() if ".backbone." in n or ".dpt." in n]
    ids = {id(p) for p in backbone}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return [{"params": backbone, "lr": cfg.lr * cfg.backbone_lr_scale},
            {"params": rest, "lr": cfg.lr}]


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` to ``path`` atomically (room.fileio.atomic_path)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


class Trainer:
    """Owns model, optimiser, data and the output folder of one training run."""

    def __init__(self, cfg: TrainConfig, train_set: DepthFrames,
                 val_set: DepthFrames | None = None) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out_dir)
        self.ckpt_dir = self.out / "checkpoints"
        self.device = resolve_device(cfg.device)
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg.model).to(self.device)
        self.opt = torch.optim.AdamW(_param_groups(self.model, cfg), weight_decay=cfg.weight_decay)
        self.train_set, self.val_set = train_set, val_set
        if len(train_set) == 0:
            raise ConfigError("the training split has no frames; check data.train / data.root")
        self.epoch = 0  # number of finished epochs
        self.step = 0
        self.best = float("inf")

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict[str, Any]:
        return {**model_payload(self.model), "optimizer": self.opt.state_dict(),
                "epoch": self.epoch, "step": self.step, "best": self.best,
                "train_config": asdict(self.cfg)}

    def try_resume(self) -> bool:
        last = self.ckpt_dir / "last.pt"
        if not (self.cfg.resume and last.is_file()):
            return False
        st = torch.load(last, map_location=self.device, weights_only=False)
        self.model.load_state_dict(st["state_dict"])
        self.opt.load_state_dict(st["optimizer"])
        self.epoch, self.step, self.best = st["epoch"], st["step"], st["best"]
        return True

    # --------------------------------------------------------------------- loop
    def _log(self, record: dict[str, Any]) -> None:
        with open(self.out / "train_log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def _loader(self, ds: DepthFrames, shuffle: bool, epoch: int):
        g = torch.Generator().manual_seed(self.cfg.seed * 1000003 + epoch)
        return torch.utils.data.DataLoader(ds, batch_size=self.cfg.batch_size, shuffle=shuffle,
                                           generator=g, collate_fn=collate,
                                           num_workers=self.cfg.num_workers)

    def _to(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v.to(self.device) if hasattr(v, "to") else v for k, v in batch.items()}

    def train_epoch(self) -> float:
        from tqdm.auto import tqdm

        self.model.train()
        self.train_set.epoch = self.epoch
        losses = []
        loader = self._loader(self.train_set, True, self.epoch)
        bar = tqdm(loader, desc=f"epoch {self.epoch + 1}/{self.cfg.epochs}",
                   disable=not self.cfg.progress, leave=False)
        for batch in bar:
            if self.cfg.max_steps and self.step >= self.cfg.max_steps:
                break
            b = self._to(batch)
            loss = loss_fn(self.model, self.model(b["rgb"]), b, self.cfg)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.step += 1
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
            if self.step % self.cfg.log_every == 0:
                self._log({"kind": "step", "epoch": self.epoch, "step": self.step,
                           "loss": losses[-1], "time": time.time()})
        return float(sum(losses) / max(len(losses), 1))

    def fit(self) -> dict[str, Any]:
        """Train until ``epochs`` (or ``max_steps``); returns the last epoch record."""
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "train_config.json").write_text(json.dumps(asdict(self.cfg), indent=1))
        resumed = self.try_resume()
        record: dict[str, Any] = {"kind": "resume" if resumed else "start", "epoch": self.epoch,
                                  "step": self.step}
        self._log(record)
        while self.epoch < self.cfg.epochs:
            if self.cfg.max_steps and self.step >= self.cfg.max_steps:
                break
            t0 = time.time()
            train_loss = self.train_epoch()
            self.epoch += 1
            record = {"kind": "epoch", "epoch": self.epoch, "step": self.step,
                      "train_loss": train_loss, "seconds": time.time() - t0}
            if self.val_set is not None and len(self.val_set):
                res = evaluate_model(self.model, self.val_set, self.cfg.metrics,
                                     self.cfg.batch_size, self.device)
                record["val"] = res["overall"]
                if res["overall"]["abs_rel"] < self.best:
                    self.best = res["overall"]["abs_rel"]
                    save_atomic(self.state(), self.ckpt_dir / "best.pt")
            self._log(record)
            save_atomic(self.state(), self.ckpt_dir / "last.pt")
        return record


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train on the dataset folders of ``cfg.data``; see the module docstring for outputs."""
    splits = make_splits(cfg.data, cfg.seed)
    train_set = frames_for(splits["train"], cfg.data, train=True, seed=cfg.seed)
    val_set = frames_for(splits["val"], cfg.data, train=False) if splits["val"] else None
    return Trainer(cfg, train_set, val_set).fit()
