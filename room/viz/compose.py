"""Hydra's Compose API for notebooks and scripts: the same configs the CLIs use, typed.

``compose("generate", ["scene=phantom_gt", ...])`` returns the DictConfig of conf/<name>.yaml
with the overrides; :func:`scene_config` / :func:`stage_config` convert one group to its stage's
dataclass (unknown keys raise ConfigError), as the CLIs do at their boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from room.paths import REPO_ROOT


def compose(config_name: str, overrides: Sequence[str] = ()) -> Any:
    """The composed ``conf/<config_name>.yaml`` with Hydra ``overrides`` (a DictConfig)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(str(REPO_ROOT / "conf"), version_base="1.3"):
        return hydra_compose(config_name, overrides=list(overrides))


def stage_config(cls: type, node: Any) -> Any:
    """``node`` (a DictConfig group such as ``cfg.render``, or None) as dataclass ``cls``."""
    from omegaconf import OmegaConf

    from room.config import to_dataclass

    if node is None:
        return cls()
    d = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
    return to_dataclass(cls, d)


def scene_config(overrides: Sequence[str] = ()) -> Any:
    """The SceneConfig of ``conf/generate.yaml``'s scene group with ``overrides``
    (e.g. ``["scene=phantom_gt", "scene.phantom.generations=3"]``)."""
    from room.anatomy.prepare import SceneConfig

    return stage_config(SceneConfig, compose("generate", overrides).scene)
