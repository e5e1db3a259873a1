"""``resolve_device``: the torch device a training or evaluation run asks for.

Shared by :mod:`room.learn.train` and :mod:`room.learn.evaluate` (train uses evaluate for its
validation passes, so the helper cannot live in train).
"""

from __future__ import annotations

from room.errors import ConfigError
from room.learn._deps import require_torch


def resolve_device(name: str):
    """``auto`` -> cuda when available else cpu; a requested but absent cuda is an error."""
    torch = require_torch()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} but CUDA is not available; use device=cpu or auto")
    return torch.device(name)
