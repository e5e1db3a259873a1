"""Lazy imports of the optional learning backends (extra ``room[learn]``)."""

from __future__ import annotations

from types import ModuleType

from room.errors import ConfigError


class MissingExtraError(ConfigError, ImportError):
    """torch or transformers is not installed."""


def require_torch() -> ModuleType:
    """``import torch`` or raise an error naming the extra to install."""
    try:
        import torch
    except ImportError as e:
        raise MissingExtraError(
            "room.learn needs PyTorch, which is not installed; install the extra with "
            "`pip install room[learn]`"
        ) from e
    return torch


def require_transformers() -> ModuleType:
    """``import transformers`` or raise an error naming the extra to install."""
    try:
        import transformers
    except ImportError as e:
        raise MissingExtraError(
            "Depth Anything V2 / DPT models need `transformers`, which is not installed; "
            "install the extra with `pip install room[learn]`"
        ) from e
    return transformers
