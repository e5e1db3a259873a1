"""Hydra configuration: dataclass schemas, YAML presets, and the Compose API.

Every default lives in exactly one place: the dataclass of the stage that uses it (for example
:class:`room.render.camera.CameraConfig`). :func:`register` stores each dataclass in Hydra's
ConfigStore as the schema of its config group (``<group>/schema``) or of a command's primary
config (``<command>_schema``). The YAML presets under ``conf/`` start from that schema
(``defaults: [schema, _self_]``) and list only what they change, so a preset can never drift
from the code, and Hydra checks every value's type and name when it composes.

This module sits above every stage (it names their schemas) and below ``room/cli``; the CLIs,
notebooks, tests and scripts all reach the same configs through it:

- :func:`hydra_main`: the ``@hydra.main`` of a console script (``room/cli`` only);
- :func:`compose`: a composed primary config with overrides (a DictConfig);
- :func:`compose_generate`: the typed :class:`room.data.generate.GenerateJob` of
  ``room-generate`` with overrides; :func:`scene_config`, :func:`stage_config`: one group as
  its dataclass.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable, Sequence
from typing import Any

from room.paths import conf_dir

VERSION_BASE = "1.3"


def _generate_schemas() -> dict[str, type]:
    from room.anatomy.motion import MotionConfig
    from room.anatomy.prepare import SceneConfig
    from room.data.generate import GenerateConfig, OutputConfig
    from room.render.camera import CameraConfig
    from room.render.config import RenderConfig
    from room.robot.config import RobotConfig
    from room.sensor.config import SensorConfig
    from room.sim.config import SimConfig
    from room.trajectory.config import TrajectoryConfig

    return {"scene/schema": SceneConfig, "camera/schema": CameraConfig,
            "render/schema": RenderConfig, "sensor/schema": SensorConfig,
            "robot/schema": RobotConfig, "sim/schema": SimConfig,
            "trajectory/schema": TrajectoryConfig, "output/schema": OutputConfig,
            "motion/schema": MotionConfig, "generate_schema": GenerateConfig}


def _prepare_schemas() -> dict[str, type]:
    from room.anatomy.prepare import PrepareConfig, SceneConfig

    return {"scene/schema": SceneConfig, "prepare_schema": PrepareConfig}


def _validate_schemas() -> dict[str, type]:
    from room.data.validate import ValidateConfig

    return {"validate_schema": ValidateConfig}


def _view_schemas() -> dict[str, type]:
    from room.viz.view import ViewConfig

    return {"view_schema": ViewConfig}


def _finetune_depth_schemas() -> dict[str, type]:
    from room.learn.models import ModelConfig
    from room.learn.train import FinetuneDepthArgs

    return {"learn/model/schema": ModelConfig, "finetune_depth_schema": FinetuneDepthArgs}


def _eval_depth_schemas() -> dict[str, type]:
    from room.learn.evaluate import EvalDepthArgs

    return {"eval_depth_schema": EvalDepthArgs}


def _eval_pose_schemas() -> dict[str, type]:
    from room.learn.pose_run import PoseArgs

    return {"eval_pose_schema": PoseArgs}


def _fit_sensor_schemas() -> dict[str, type]:
    from room.sensor.fit import FitSensorConfig

    return {"fit_sensor_schema": FitSensorConfig}


def _navigate_schemas() -> dict[str, type]:
    from room.anatomy.prepare import SceneConfig
    from room.nav.suite import NavigateConfig
    from room.render.config import RenderConfig
    from room.robot.config import RobotConfig

    return {"navigate_schema": NavigateConfig, "scene/schema": SceneConfig,
            "robot/schema": RobotConfig, "render/schema": RenderConfig}


# primary config name -> the schemas its composition needs (imported only when used: the
# scene schema imports trimesh, the depth-learning ones torch)
SCHEMAS: dict[str, Callable[[], dict[str, type]]] = {
    "generate": _generate_schemas,
    "prepare": _prepare_schemas,
    "validate": _validate_schemas,
    "view": _view_schemas,
    "finetune_depth": _finetune_depth_schemas,
    "eval_depth": _eval_depth_schemas,
    "eval_pose": _eval_pose_schemas,
    "fit_sensor": _fit_sensor_schemas,
    "navigate": _navigate_schemas,
}


@functools.cache
def schema_of(cls: type) -> type:
    """The Hydra schema of config dataclass ``cls``: a mutable twin with the same fields, types
    and defaults (nested dataclasses twinned too). OmegaConf makes a frozen dataclass node
    read-only, so presets could not override it; the twin carries no validation, which runs
    when the composed config is converted to ``cls`` itself (:func:`room.config.to_dataclass`).
    The defaults are read from ``cls``, so they still live in one place."""
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        kw: dict[str, Any] = {}
        if f.default is not dataclasses.MISSING:
            kw["default"] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            factory = f.default_factory
            hint = hints[f.name]
            if dataclasses.is_dataclass(factory):
                kw["default_factory"] = schema_of(factory)
            elif dataclasses.is_dataclass(hint):  # a function returning a preset instance
                kw["default_factory"] = functools.partial(_twin_value, schema_of(hint), factory)
            else:
                kw["default_factory"] = factory
        fields.append((f.name, _twin_hint(hints[f.name]), dataclasses.field(**kw)))
    return dataclasses.make_dataclass(cls.__name__, fields, namespace={"__doc__": cls.__doc__})


def _twin_value(twin: type, factory: Callable[[], Any]) -> Any:
    """The schema ``twin``'s instance with the field values of ``factory()``."""
    value = factory()
    return twin(**{f.name: getattr(value, f.name) for f in dataclasses.fields(value)})


def _twin_hint(hint: Any) -> Any:
    """``hint`` with dataclass types replaced by their schemas (also inside ``X | None``)."""
    if dataclasses.is_dataclass(hint):
        return schema_of(hint)
    args = typing.get_args(hint)
    if args and any(dataclasses.is_dataclass(a) for a in args):
        return schema_of(next(a for a in args if dataclasses.is_dataclass(a))) | None
    return hint


def register(config_name: str | None = None) -> None:
    """Store the dataclass schemas of ``config_name`` (every command's when None) in Hydra's
    ConfigStore. Idempotent: storing the same node again replaces it."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    names = [config_name] if config_name is not None else list(SCHEMAS)
    for name in names:
        if name not in SCHEMAS:
            continue
        for path, cls in SCHEMAS[name]().items():
            group, _, node_name = path.rpartition("/")
            cs.store(group=group or None, name=node_name, node=schema_of(cls))


def hydra_main(config_name: str) -> Callable[[Callable[..., Any]], Callable[[], Any]]:
    """``@hydra.main`` for a console script of ``room/cli``: the packaged ``conf/`` folder, the
    schemas of ``config_name`` registered first."""
    import hydra

    def wrap(fn: Callable[..., Any]) -> Callable[[], Any]:
        register(config_name)
        return hydra.main(version_base=VERSION_BASE, config_path=str(conf_dir()),
                          config_name=config_name)(fn)

    return wrap


def compose(config_name: str, overrides: Sequence[str] = ()) -> Any:
    """The composed ``conf/<config_name>.yaml`` with Hydra ``overrides`` (a DictConfig), as the
    console script of that name would see it (Hydra's Compose API)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register(config_name.split("/")[0])
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(conf_dir()), version_base=VERSION_BASE):
        return hydra_compose(config_name, overrides=list(overrides))


def stage_config(cls: type, node: Any) -> Any:
    """``node`` (a composed group such as ``cfg.render``, a dict, or None) as dataclass ``cls``;
    unknown keys raise ConfigError."""
    from omegaconf import OmegaConf

    from room.config import to_dataclass

    if node is None:
        return cls()
    d = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
    return to_dataclass(cls, d)


def compose_generate(overrides: Sequence[str] = ()) -> Any:
    """The typed :class:`room.data.generate.GenerateJob` of ``room-generate`` with Hydra
    ``overrides`` (e.g. ``["camera=small", "seed=3", "out=/tmp/ds"]``)."""
    from room.data.generate import job_from_config

    return job_from_config(compose("generate", overrides))


def scene_config(overrides: Sequence[str] = ()) -> Any:
    """The :class:`room.anatomy.prepare.SceneConfig` that ``room-generate`` would use with
    ``overrides`` (e.g. ``["scene=phantom_gt", "scene.phantom.generations=3"]``)."""
    from room.anatomy.prepare import SceneConfig

    return stage_config(SceneConfig, compose("generate", overrides).scene)
