"""Small helpers for the learn-stage Hydra entry points (room/cli/*_depth.py, eval_pose.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def folders(value: Any) -> tuple[str, ...]:
    """A command-line folder list: None, ``DIR``, ``"DIR1,DIR2"`` or a list ``[DIR1,DIR2]``."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v for v in value.split(",") if v)
    return tuple(str(v) for v in value)


def out_dir(value: Any) -> Path:
    """``out_dir`` if given, else Hydra's run folder (or the working directory)."""
    if value:
        return Path(str(value))
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir)
    except ValueError:  # not under @hydra.main (Compose API)
        return Path.cwd()


def data_dict(cfg: Any) -> dict[str, Any]:
    """``cfg.data`` as a dict, with the top-level ``train/val/test/root`` shortcuts merged in."""
    from omegaconf import OmegaConf

    d = OmegaConf.to_container(cfg.data, resolve=True) if cfg.get("data") is not None else {}
    for k in ("train", "val", "test"):
        if cfg.get(k) is not None:
            d[k] = folders(cfg.get(k))
    if cfg.get("root") is not None:
        d["root"] = str(cfg.root)
    return d


def typed_config(cls: type, cfg: Any) -> Any:
    """``cls`` (TrainConfig, EvalConfig) from a composed config: the ``train/val/test/root``
    shortcuts folded into ``data``, ``out_dir`` resolved to a folder."""
    from omegaconf import OmegaConf

    from room.config import to_dataclass

    d = OmegaConf.to_container(cfg, resolve=True)
    for k in ("train", "val", "test", "root"):
        d.pop(k, None)
    d["data"] = data_dict(cfg)
    d["out_dir"] = str(out_dir(cfg.get("out_dir")))
    return to_dataclass(cls, d)


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)
