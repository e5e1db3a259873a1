"""Every YAML preset under conf/ composes into its stage's dataclass, and presets list only what
they change (the dataclasses are the single source of every default)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from room.compose import SCHEMAS, compose, stage_config
from room.config import to_dataclass
from room.paths import conf_dir

CONF = conf_dir()
# settings a preset or command asks the user for
REQUIRED = {("scene", "ct"): ["scene.ct=chest.nii.gz"], ("", "eval_depth"): ["checkpoint=x.pt"],
            ("", "eval_pose"): ["gt=gt_dir"], ("", "view"): ["path=some_dataset"]}
# group -> (primary config that composes it, the package it lands in)
GROUP_HOME = {"learn/model": ("finetune_depth", "model")}


def _presets() -> list[tuple[str, str]]:
    out = []
    for f in sorted(CONF.rglob("*.yaml")):
        rel = f.relative_to(CONF)
        out.append((str(rel.parent) if rel.parent != Path(".") else "", rel.stem))
    return out


def _group_classes() -> dict[str, tuple[str, type]]:
    """group -> (primary config, dataclass) from the registered schemas."""
    out = {}
    for primary, schemas in SCHEMAS.items():
        for path, cls in schemas().items():
            group, _, name = path.rpartition("/")
            if group and name == "schema":
                out.setdefault(group, (primary, cls))
    return out


def _typed_primary(name: str, cfg):
    """The command's typed config, converted exactly as its console script does."""
    if name == "generate":
        from room.data.generate import job_from_config

        return job_from_config(cfg)
    if name == "prepare":
        from room.cli.prepare import scene_config

        return scene_config(cfg)
    if name in ("finetune_depth", "eval_depth"):
        from room.learn._cli import typed_config

        if name == "finetune_depth":
            from room.learn.train import TrainConfig as cls
        else:
            from room.learn.evaluate import EvalConfig as cls
        return typed_config(cls, cfg)
    if name == "eval_pose":
        from room.cli.eval_pose import pose_config

        return pose_config(cfg)
    schema = next(iter(SCHEMAS[name]().values()))
    return to_dataclass(schema, cfg)


@pytest.mark.parametrize("group,name", _presets(), ids=lambda x: x or "-")
def test_preset_composes_into_its_dataclass(group, name):
    extra = REQUIRED.get((group, name), [])
    if group == "":
        if name not in SCHEMAS:
            pytest.fail(f"conf/{name}.yaml has no registered schema in room.compose.SCHEMAS")
        typed = _typed_primary(name, compose(name, extra))
        assert dataclasses.is_dataclass(typed)
        return
    primary, cls = _group_classes()[group]
    primary, package = GROUP_HOME.get(group, (primary, group))
    cfg = compose(primary, [f"{'learn/model@model' if group == 'learn/model' else group}={name}",
                            *extra, *REQUIRED.get(("", primary), [])])
    typed = stage_config(cls, OmegaConf.select(cfg, package))
    assert isinstance(typed, cls)
    _typed_primary(primary, cfg)  # the whole command config converts too


def _leaves(d: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_leaves(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@pytest.mark.parametrize("group,name", [p for p in _presets() if p[0]], ids=str)
def test_preset_lists_only_changes(group, name):
    """A preset that sets a value equal to what it inherits would be a second copy of a
    default: it must not exist (defaults live in the dataclasses)."""
    raw = OmegaConf.to_container(OmegaConf.load(CONF / group / f"{name}.yaml"))
    bases = [b for b in raw.pop("defaults", []) if b != "_self_"]
    if not raw:
        return
    _, cls = _group_classes()[group]
    inherited = _leaves(OmegaConf.to_container(OmegaConf.structured(cls)))
    for base in (b for b in bases if b != "schema"):  # a preset on a preset inherits its changes
        base_raw = OmegaConf.to_container(OmegaConf.load(CONF / group / f"{base}.yaml"))
        base_raw.pop("defaults", None)
        inherited.update(_leaves(base_raw))
    same = {k: v for k, v in _leaves(raw).items()
            if k in inherited and _norm(inherited[k]) == _norm(v)}
    assert not same, f"conf/{group}/{name}.yaml repeats inherited values: {same}"


def _norm(v):
    return [_norm(x) for x in v] if isinstance(v, list | tuple) else v


def test_default_presets_equal_the_dataclass_defaults():
    """room-generate with no overrides gets exactly each stage's dataclass defaults."""
    job = _typed_primary("generate", compose("generate"))
    for group, (_, cls) in _group_classes().items():
        if hasattr(job, group):
            assert getattr(job, group) == cls(), group


def test_unknown_and_mistyped_settings_fail_at_composition():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        compose("generate", ["camera.widht=64"])
    with pytest.raises(ConfigCompositionException):
        compose("generate", ["camera.width=abc"])
