"""Every YAML preset under conf/ composes (Hydra Compose API) and converts to its dataclasses.

Groups that room-generate composes are checked through it (``group=preset`` overrides, then
``job_from_config`` turns every group into its typed dataclass, rejecting unknown keys); other
primary configs and groups are composed on their own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from room.paths import REPO_ROOT

CONF = REPO_ROOT / "conf"
REQUIRED = {("scene", "ct"): ["scene.ct=chest.nii.gz"]}  # settings a preset asks the user for


def _generate_groups() -> set[str]:
    cfg = OmegaConf.load(CONF / "generate.yaml")
    groups = set()
    for item in cfg.get("defaults", []):
        if isinstance(item, str):
            continue
        groups.update(k for k in item if k != "_self_")
    return groups


def _presets() -> list[tuple[str, str]]:
    out = []
    for f in sorted(CONF.rglob("*.yaml")):
        rel = f.relative_to(CONF)
        group = str(rel.parent) if rel.parent != Path(".") else ""
        out.append((group, rel.stem))
    return out


@pytest.mark.parametrize("group,name", _presets(), ids=lambda x: x or "-")
def test_preset_composes(group, name):
    from room.data.generate import job_from_config

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        if group in _generate_groups():
            extra = REQUIRED.get((group, name), [])
            cfg = compose(config_name="generate", overrides=[f"{group}={name}", *extra])
            job = job_from_config(cfg)
            assert job.config_yaml and "out:" not in job.config_yaml.splitlines()[0]
        elif group == "":
            cfg = compose(config_name=name)
            if name == "generate":
                job_from_config(cfg)
            elif name == "validate":
                from room.config import to_dataclass
                from room.data.validate import ValidateConfig

                to_dataclass(ValidateConfig, cfg)
        else:
            cfg = compose(config_name=f"{group}/{name}")
    assert OmegaConf.to_container(cfg, resolve=True) is not None
