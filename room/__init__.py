"""room: physics-based bronchoscopy simulator and synthetic multi-modal dataset generator.

Units everywhere in the public API: metres, radians, seconds. World frame: the CT patient frame
(LPS) in metres. Camera frame: OpenCV (x right, y down, z forward). Transforms are named
``T_a_b`` and map points in frame b to frame a; a camera pose is ``T_world_cam``.

The names below are the short way in; each is loaded on first use, so ``import room`` costs
milliseconds and loads no OpenGL, PyBullet or torch::

    import room

    scene = room.load_scene("phantom")          # preset, recipe file, CT path, scene folder ...
    T_world_cam = room.bifurcation_view(scene.tree)            # above the carina
    with room.make_renderer(scene) as renderer:
        frame = renderer.render(T_world_cam)                   # rgb, depth, normals, ...
    with room.Simulator(scene) as sim:
        state = sim.step(room.JointCommand.hold(sim.state))    # PyBullet continuum robot
    env = room.make_env()                                      # Gymnasium env
    job = room.compose_generate(["camera=small", "seed=3"])    # typed room-generate config

- scenes: :func:`load_scene` (any form a scene is named in: an AirwayScene, a SceneConfig,
  a preset name, a recipe file, a CT file or DICOM folder, a prepared scene folder);
- rendering: :func:`make_renderer`, :func:`bifurcation_view`, :class:`CameraConfig`,
  :class:`RenderConfig`; the sensor model: :class:`SensorModel`, :class:`SensorConfig`;
- the robot: :class:`Simulator`, :class:`JointCommand`, :class:`RobotConfig`,
  :class:`SimConfig`, :class:`CenterlineFollower`; the Gymnasium env: :func:`make_env`;
- pictures: :func:`frame_figure` (every modality of a frame), :func:`scene_figure` (the scene,
  camera poses and robot in 3D), matplotlib figures;
- configs: :func:`compose` (any command's config with Hydra overrides),
  :func:`compose_generate` (room-generate's typed job); datasets: :func:`generate_dataset`,
  :class:`SequenceReader`, :func:`validate_dataset`.
"""

from __future__ import annotations

import importlib
from typing import Any

from room._version import __version__

# public name -> (module, attribute); imported on first access
_API = {
    "load_scene": ("room.anatomy.load", "load_scene"),
    "AirwayScene": ("room.anatomy.scene", "AirwayScene"),
    "SceneConfig": ("room.anatomy.prepare", "SceneConfig"),
    "make_renderer": ("room.render", "make_renderer"),
    "bifurcation_view": ("room.render.camera", "bifurcation_view"),
    "CameraConfig": ("room.render.camera", "CameraConfig"),
    "RenderConfig": ("room.render.config", "RenderConfig"),
    "SensorModel": ("room.sensor.model", "SensorModel"),
    "SensorConfig": ("room.sensor.config", "SensorConfig"),
    "Simulator": ("room.sim.simulator", "Simulator"),
    "JointCommand": ("room.robot.interface", "JointCommand"),
    "RobotConfig": ("room.robot.config", "RobotConfig"),
    "SimConfig": ("room.sim.config", "SimConfig"),
    "CenterlineFollower": ("room.robot.controllers", "CenterlineFollower"),
    "frame_figure": ("room.viz.sheet", "frame_figure"),
    "scene_figure": ("room.viz.scene3d", "scene_figure"),
    "make_env": ("room.env.nav", "make_env"),
    "compose": ("room.compose", "compose"),
    "compose_generate": ("room.compose", "compose_generate"),
    "generate_dataset": ("room.data.generate", "generate_dataset"),
    "SequenceReader": ("room.data.reader", "SequenceReader"),
    "validate_dataset": ("room.data.validate", "validate_dataset"),
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'room' has no attribute {name!r}")
    module, attr = _API[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
