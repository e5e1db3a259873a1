"""PyTorch adapter over room datasets (torch is optional: the ``learn`` extra).

``FrameDataset`` is a map-style dataset (``len`` + ``[i]``), usable with
``torch.utils.data.DataLoader``. Items are dicts of tensors:

- ``rgb`` (3, H, W) float32 in [0, 1] (the sensor image), ``rgb_clean`` likewise;
- ``depth`` (1, H, W) float32 metres, ``valid`` (1, H, W) bool (depth > 0);
- ``normals`` (3, H, W) float32 camera frame; ``segmentation`` / ``face_id`` (1, H, W) int64;
- ``flow_fwd`` / ``flow_bwd`` (2, H, W) float32 pixels with ``*_valid`` (1, H, W) bool, from
  KITTI PNG flow (1/64 px steps, 0 where invalid) or .flo files alike;
- ``scene_flow`` (3, H, W) float32 metres, camera-t axes (breathing datasets; zero on the last
  frame of a sequence, which has no next frame);
- always ``K`` (3, 3) float32, ``T_world_cam`` (4, 4) float64, ``index`` and ``sequence``
  (int: position of the sequence in ``self.sequences``).

Splits are by sequence by default (no frame of a validation sequence is seen in training):
sequences are shuffled with ``seed`` and cut by ``fractions``; ``split_by="frame"`` cuts a
shuffled list of all frames instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from room.data import schema
from room.data.reader import SequenceReader, find_sequences
from room.errors import ConfigError, DatasetError

SPLITS = ("train", "val", "test")


def _torch():
    try:
        import torch
    except ImportError as e:
        raise ImportError(
            "FrameDataset needs PyTorch: install the 'learn' extra (pip install 'room[learn]')"
        ) from e
    return torch


def split_counts(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    """How many of n items go to train/val/test: rounded cumulative cut points."""
    f = np.asarray(fractions, float)
    if f.shape != (3,) or np.any(f < 0) or f.sum() <= 0:
        raise ConfigError(f"fractions must be three non-negative numbers, got {fractions}")
    cuts = np.rint(np.cumsum(f / f.sum()) * n).astype(int)
    return int(cuts[0]), int(cuts[1] - cuts[0]), int(n - cuts[1])


class FrameDataset:
    """Frames of every complete sequence under ``roots`` (dataset or sequence folders)."""

    def __init__(self, roots: str | Path | Sequence[str | Path],
                 modalities: Sequence[str] = ("rgb", "depth"), split: str | None = None,
                 split_by: str = "sequence", fractions: Sequence[float] = (0.8, 0.1, 0.1),
                 seed: int = 0):
        _torch()
        if isinstance(roots, str | Path):
            roots = [roots]
        unknown = set(modalities) - set(schema.ALL_MODALITIES) - {"pointcloud"}
        if unknown or "pointcloud" in modalities:
            raise ConfigError(f"FrameDataset modalities must be among "
                              f"{[m for m in schema.ALL_MODALITIES if m != 'pointcloud']}, "
                              f"got {list(modalities)}")
        if split not in (None, *SPLITS):
            raise ConfigError(f"split must be None or one of {SPLITS}, got {split!r}")
        if split_by not in ("sequence", "frame"):
            raise ConfigError(f"split_by must be 'sequence' or 'frame', got {split_by!r}")
        self.modalities = tuple(modalities)
        self._read_mods = tuple(dict.fromkeys((*self.modalities, "depth")))  # for `valid`
        paths = sorted({p.resolve() for r in roots for p in find_sequences(r)})
        if not paths:
            raise DatasetError(f"no complete room sequences under {list(map(str, roots))}; "
                               "generate one with room-generate out=DIR")
        self.sequences = [SequenceReader(p) for p in paths]
        items = [(s, i) for s, r in enumerate(self.sequences) for i in range(len(r))]
        self.items = self._split(items, split, split_by, fractions, seed)

    def _split(self, items, split, split_by, fractions, seed):
        if split is None:
            return items
        rng = np.random.default_rng(seed)
        k = SPLITS.index(split)
        if split_by == "sequence":
            order = rng.permutation(len(self.sequences))
            counts = split_counts(len(order), fractions)
            chosen = set(order[sum(counts[:k]):sum(counts[:k + 1])].tolist())
            return [it for it in items if it[0] in chosen]
        order = rng.permutation(len(items))
        counts = split_counts(len(order), fractions)
        return [items[j] for j in sorted(order[sum(counts[:k]):sum(counts[:k + 1])].tolist())]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        torch = _torch()
        s, i = self.items[idx]
        reader = self.sequences[s]
        d = reader.read(i, self._read_mods)
        out: dict[str, Any] = {}
        for m in self.modalities:
            a = d[m]
            if m in ("rgb", "rgb_clean"):
                out[m] = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float() / 255
            elif m in ("normals", "flow_fwd", "flow_bwd", "scene_flow"):
                out[m] = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))
            elif m in ("segmentation", "face_id"):
                out[m] = torch.from_numpy(a.astype(np.int64))[None]
            else:  # depth, *_valid
                out[m] = torch.from_numpy(np.ascontiguousarray(a))[None]
        out["valid"] = torch.from_numpy(d["depth"] > 0)[None]
        out["K"] = torch.from_numpy(reader.intrinsics.K.astype(np.float32))
        out["T_world_cam"] = torch.from_numpy(reader.poses[i].copy())
        out["index"] = i
        out["sequence"] = s
        return out
