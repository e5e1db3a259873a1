"""Depth predicted from the tip camera's RGB by a checkpoint of ``room-finetune-depth``
(:func:`room.learn.evaluate.load_checkpoint`; the built-in U-Net or a Depth Anything V2 /
DPT model, metric mode), for :class:`room.nav.navigators.MPCNavigator`. Weights come from a
local path only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from room.errors import ConfigError


class DepthPredictor:
    """``predictor(rgb uint8 (H, W, 3)) -> depth float32 (H, W) metres`` at the input's size;
    ``size``: (height, width) the network sees (None: the checkpoint's training size)."""

    def __init__(self, checkpoint: str | Path, size: tuple[int, int] | None = None,
                 threads: int = 1) -> None:
        import torch

        from room.learn.evaluate import read_checkpoint

        torch.set_num_threads(max(1, int(threads)))
        self.model, train_cfg = read_checkpoint(checkpoint, "cpu")
        self.model.eval()
        if self.model.cfg.mode != "metric":
            raise ConfigError(f"{checkpoint}: a relative-depth model has no metric scale; the "
                              "MPC needs a metric checkpoint (model.mode=metric)")
        data = (train_cfg or {}).get("data", {}) or {}
        self.size = tuple(size or data.get("size") or (64, 64))
        self.checkpoint = str(checkpoint)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        import torch

        from room.learn.evaluate import predict

        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255.0
        d = predict(self.model, x, self.size)
        return d[0, 0].numpy().astype(np.float32)
