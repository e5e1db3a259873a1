"""Typed configuration: Hydra/OmegaConf nodes -> frozen dataclasses at the CLI boundary.

Each stage defines its schema as a dataclass next to its code; library code takes those
dataclasses, never a raw ``DictConfig``.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

from room.errors import ConfigError

T = TypeVar("T")


def to_dataclass(cls: type[T], cfg: Any) -> T:
    """Build dataclass ``cls`` from a mapping (DictConfig or dict), recursively.

    Unknown keys raise :class:`ConfigError` naming the key and the accepted ones, so a typo in
    an override is caught instead of silently ignored.
    """
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return cfg  # already typed
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(cfg, DictConfig | ListConfig):
            cfg = OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a core dependency
        pass
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise ConfigError(f"{cls.__name__}: expected a mapping, got {type(cfg).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(cfg) - names
    if unknown:
        raise ConfigError(
            f"{cls.__name__}: unknown setting(s) {sorted(unknown)}; accepted: {sorted(names)}"
        )
    kwargs = {}
    for key, value in cfg.items():
        kwargs[key] = _convert(hints[key], value)
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{cls.__name__}: {e}") from e


def _convert(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return to_dataclass(hint, value)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        for a in args:
            if dataclasses.is_dataclass(a) and isinstance(value, dict):
                return to_dataclass(a, value)
        return value
    if origin is tuple and isinstance(value, list | tuple):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v) for v in value)
        return tuple(value)
    return value


def asdict(obj: Any) -> dict[str, Any]:
    """Plain-dict view of a config dataclass (tuples become lists) for YAML/JSON output."""
    def fix(v: Any) -> Any:
        if isinstance(v, tuple):
            return [fix(x) for x in v]
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v

    return fix(dataclasses.asdict(obj))
