"""Depth-training samples from datasets on disk, with geometry-consistent resizing/augmentation.

A sample is a dict of tensors: ``rgb`` (3,H,W) float32 in [0,1], ``depth`` (1,H,W) float32
metres (0 = no ground truth), ``valid`` (1,H,W) bool, ``K`` (3,3) float32 pixel intrinsics
(OpenCV, pixel centres at integers), plus ``sequence`` (str) and ``index`` (int).

Transforms keep depth metric and the intrinsics consistent with the image:

- resize to (H', W'): ``fx *= sx``, ``cx = (cx + 0.5) * sx - 0.5`` (same for y); RGB bilinear with
  antialiasing, depth and validity nearest (no blending of depths across edges or with 0);
- crop at (top, left): ``cx -= left``, ``cy -= top``;
- horizontal flip: ``cx = W - 1 - cx`` (the mirrored camera; ``T_world_cam`` is not mirrored and
  is therefore not carried);
- colour jitter (brightness, contrast, saturation, gamma) on RGB only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from room.errors import ConfigError, DatasetError
from room.learn._deps import require_torch

torch = require_torch()
F = torch.nn.functional


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation. crop_scale: side fraction range of the random crop (then resized
    to the output size); hflip: probability; jitter amounts are relative (0 = off)."""

    enabled: bool = True
    crop_scale: tuple[float, float] = (0.8, 1.0)
    hflip: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    gamma: float = 0.1

    def __post_init__(self) -> None:
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise ConfigError(f"augment.crop_scale must satisfy 0 < lo <= hi <= 1, got {lo, hi}")


@dataclass(frozen=True)
class DataConfig:
    """Where the frames come from and at what resolution the network sees them.

    Either ``train`` (and optionally ``val``) dataset folders, or one ``root`` split by sequence
    with ``fractions`` (train, val, test) and ``split_seed``. Each folder is searched for
    sequences (``room.data.reader.find_sequences``). size: (height, width) in pixels.
    stride: use every n-th frame; max_frames: cap per split (0 = all).
    """

    train: tuple[str, ...] = ()
    val: tuple[str, ...] = ()
    test: tuple[str, ...] = ()
    root: str | None = None
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    split_seed: int = 0
    size: tuple[int, int] = (64, 64)
    stride: int = 1
    max_frames: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if len(self.size) != 2 or min(self.size) < 8:
            raise ConfigError(f"data.size must be (height, width) >= 8 px, got {self.size}")
        if self.stride < 1:
            raise ConfigError(f"data.stride must be >= 1, got {self.stride}")


# ------------------------------------------------------------------------------ transforms
def resize(sample: dict[str, Any], size: tuple[int, int]) -> dict[str, Any]:
    """Resize to ``size`` = (H, W); intrinsics scaled with the pixel-centre convention."""
    h0, w0 = sample["rgb"].shape[-2:]
    h, w = size
    if (h, w) == (h0, w0):
        return dict(sample)
    out = dict(sample)
    out["rgb"] = F.interpolate(sample["rgb"][None], size=size, mode="bilinear",
                               align_corners=False, antialias=True)[0].clamp(0, 1)
    out["depth"] = F.interpolate(sample["depth"][None], size=size, mode="nearest-exact")[0]
    out["valid"] = F.interpolate(sample["valid"][None].float(), size=size,
                                 mode="nearest-exact")[0] > 0.5
    sx, sy = w / w0, h / h0
    K = sample["K"].clone()
    K[0, 0] *= sx
    K[1, 1] *= sy
    K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    out["K"] = K
    return out


def crop(sample: dict[str, Any], top: int, left: int, height: int, width: int) -> dict[str, Any]:
    """Crop a window; the principal point moves by the window's offset."""
    out = dict(sample)
    for k in ("rgb", "depth", "valid"):
        out[k] = sample[k][..., top:top + height, left:left + width]
    K = sample["K"].clone()
    K[0, 2] -= left
    K[1, 2] -= top
    out["K"] = K
    return out


def hflip(sample: dict[str, Any]) -> dict[str, Any]:
    """Mirror left-right; ``cx -> W - 1 - cx``."""
    out = dict(sample)
    for k in ("rgb", "depth", "valid"):
        out[k] = sample[k].flip(-1)
    K = sample["K"].clone()
    K[0, 2] = sample["rgb"].shape[-1] - 1 - K[0, 2]
    out["K"] = K
    return out


def color_jitter(rgb, cfg: AugmentConfig, g) -> Any:
    """Random brightness, contrast, saturation and gamma on (3,H,W) RGB in [0,1]."""

    def u(a: float) -> float:
        return 1.0 + a * (2.0 * float(torch.rand((), generator=g)) - 1.0)

    x = rgb * u(cfg.brightness)
    mean = x.mean()
    x = (x - mean) * u(cfg.contrast) + mean
    gray = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]
    x = (x - gray) * u(cfg.saturation) + gray
    return x.clamp(0, 1) ** u(cfg.gamma)


class Transform:
    """Training: random crop -> resize -> flip -> colour jitter. Eval: resize only.
    Randomness from a torch.Generator seeded per (seed, epoch, item) for determinism."""

    def __init__(self, size: tuple[int, int] | None, augment: AugmentConfig | None = None) -> None:
        self.size = tuple(size) if size is not None else None
        self.augment = augment if augment is not None and augment.enabled else None

    def __call__(self, sample: dict[str, Any], seed: int = 0) -> dict[str, Any]:
        a = self.augment
        if self.size is None:
            return dict(sample)
        if a is None:
            return resize(sample, self.size)
        g = torch.Generator().manual_seed(seed)
        h0, w0 = sample["rgb"].shape[-2:]
        lo, hi = a.crop_scale
        s = lo + (hi - lo) * float(torch.rand((), generator=g))
        ch, cw = max(8, round(h0 * s)), max(8, round(w0 * s))
        top = int(torch.randint(0, h0 - ch + 1, (), generator=g))
        left = int(torch.randint(0, w0 - cw + 1, (), generator=g))
        out = resize(crop(sample, top, left, ch, cw), self.size)
        if float(torch.rand((), generator=g)) < a.hflip:
            out = hflip(out)
        out["rgb"] = color_jitter(out["rgb"], a, g)
        return out


# -------------------------------------------------------------------------------- datasets
def _reader_api():
    try:
        from room.data.reader import SequenceReader, find_sequences
    except ImportError as e:  # pragma: no cover - the data stage ships with room
        raise DatasetError("room.data.reader is unavailable in this installation") from e
    return SequenceReader, find_sequences


def sequences_in(folders: tuple[str, ...] | list[str]) -> list[Path]:
    """All sequence folders under the given dataset folders (sorted, de-duplicated)."""
    _, find_sequences = _reader_api()
    out: list[Path] = []
    for f in folders:
        p = Path(f).expanduser()
        if not p.exists():
            raise DatasetError(f"dataset folder {p} does not exist; pass an existing folder")
        found = [Path(s).resolve() for s in find_sequences(p)]
        if not found:
            raise DatasetError(f"no sequences found under {p}; is it a room dataset folder?")
        out.extend(found)
    return sorted(set(out))


def split_sequences(seqs: list[Path], fractions: tuple[float, float, float],
                    seed: int) -> dict[str, list[Path]]:
    """Sequence-level split, the same as ``room.data.torch_dataset.FrameDataset(root,
    split=..., split_by="sequence", fractions, seed)``: sequences sorted, permuted with
    ``numpy.random.default_rng(seed)``, cut at the rounded cumulative fractions."""
    from room.data.torch_dataset import split_counts

    seqs = sorted(seqs)
    order = np.random.default_rng(seed).permutation(len(seqs))
    counts = split_counts(len(seqs), fractions)
    bounds = np.cumsum(counts)
    parts = np.split(order, bounds[:2])
    return {name: sorted(seqs[j] for j in p) for name, p in zip(("train", "val", "test"),
                                                                  parts, strict=True)}


class SequenceSource:
    """Adapter from one sequence folder to raw numpy frames (rgb uint8, depth float32 m, K)."""

    def __init__(self, path: Path) -> None:
        SequenceReader, _ = _reader_api()
        self.path = Path(path)
        self.reader = SequenceReader(self.path)
        self.name = f"{self.path.parent.name}/{self.path.name}"
        self.K = np.asarray(self.reader.intrinsics.K, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.reader)

    def read(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d = self.reader.read(i, modalities=("rgb", "depth"))
        return d["rgb"], d["depth"], self.K


def to_sample(rgb: np.ndarray, depth: np.ndarray, K: np.ndarray, sequence: str,
              index: int) -> dict[str, Any]:
    """numpy frame -> sample dict of tensors (see module docstring)."""
    depth = np.asarray(depth, dtype=np.float32)
    valid = np.isfinite(depth) & (depth > 0)
    return {
        "rgb": torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255.0,
        "depth": torch.from_numpy(np.where(valid, depth, 0.0).astype(np.float32))[None],
        "valid": torch.from_numpy(valid)[None],
        "K": torch.as_tensor(K, dtype=torch.float32).clone(),
        "sequence": sequence,
        "index": int(index),
    }


class DepthFrames(torch.utils.data.Dataset):
    """Frames of several sources (``len()`` and ``read(i) -> (rgb, depth, K)``, ``name``) with a
    transform. ``epoch`` (set by the trainer) varies the augmentation deterministically."""

    def __init__(self, sources: list[Any], transform: Transform, stride: int = 1,
                 max_frames: int = 0, seed: int = 0) -> None:
        self.sources = sources
        self.transform = transform
        self.items = [(s, i) for s, src in enumerate(sources) for i in range(0, len(src), stride)]
        if max_frames and len(self.items) > max_frames:
            keep = np.linspace(0, len(self.items) - 1, max_frames).round().astype(int)
            self.items = [self.items[k] for k in keep]
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> dict[str, Any]:
        s, i = self.items[k]
        src = self.sources[s]
        sample = to_sample(*src.read(i), sequence=src.name, index=i)
        return self.transform(sample, seed=hash((self.seed, self.epoch, k)) & 0x7FFFFFFF)


def make_splits(cfg: DataConfig, seed: int = 0) -> dict[str, list[Path]]:
    """Sequence folders per split from ``cfg`` (explicit folders, or ``root`` split)."""
    if cfg.root:
        if cfg.train or cfg.val or cfg.test:
            raise ConfigError("give either data.root (split by sequence) or data.train/val/test")
        return split_sequences(sequences_in([cfg.root]), cfg.fractions, cfg.split_seed)
    if not (cfg.train or cfg.val or cfg.test):
        raise ConfigError("no data: set data.train=DIR (and data.val=DIR) or data.root=DIR")
    return {k: sequences_in(v) if v else [] for k, v in
            (("train", cfg.train), ("val", cfg.val), ("test", cfg.test))}


def frames_for(paths: list[Path], cfg: DataConfig, train: bool, seed: int = 0,
               native: bool = False) -> DepthFrames:
    """Dataset over sequence folders: augmented when ``train``, resized only otherwise
    (``native``: frames at their stored resolution)."""
    transform = Transform(None if native else cfg.size, cfg.augment if train else None)
    return DepthFrames([SequenceSource(p) for p in paths], transform, cfg.stride,
                       cfg.max_frames, seed)


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors; keep ``sequence`` names and ``index`` as lists."""
    out: dict[str, Any] = {}
    for k in batch[0]:
        vals = [b[k] for b in batch]
        out[k] = torch.stack(vals) if isinstance(vals[0], torch.Tensor) else vals
    return out
