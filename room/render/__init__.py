"""Render stage: an airway scene and a camera pose -> one multi-modal :class:`~room.types.Frame`.

Public API (imports are lazy: nothing touches OpenGL until a renderer is made):

- :class:`~room.render.camera.CameraConfig` (Hydra group ``camera``),
- :class:`~room.render.config.RenderConfig` (group ``render``: lights, material, exposure,
  ``backend``: ``raster`` or ``cycles``, :class:`~room.render.cycles_config.CyclesConfig`),
- :func:`make_renderer` -> :class:`~room.render.renderer.Renderer` (``render(T_world_cam)``),
- ``Renderer.optical_flow(frame_a, frame_b)``: flow and validity on the GL side
  (:mod:`room.render.flowpass`; what datasets store),
- :mod:`room.render.geometry`: back-projection, point clouds, optical flow (pure numpy; the
  reference the GL flow is tested against).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from room.render.camera import CameraConfig
from room.render.config import LightConfig, MaterialConfig, RenderConfig
from room.render.cycles_config import CyclesConfig

if TYPE_CHECKING:
    from room.anatomy.scene import AirwayScene
    from room.render.renderer import Renderer

__all__ = ["CameraConfig", "CyclesConfig", "LightConfig", "MaterialConfig", "RenderConfig",
           "make_renderer"]


def make_renderer(scene: AirwayScene, camera: CameraConfig | None = None,
                  render: RenderConfig | None = None, cull: bool = True,
                  motion: Any = None) -> Renderer | Any:
    """A renderer of ``scene`` (defaults: the bronchoscope camera, the default look; ``cull``:
    skip triangles that cannot be seen, same images, see :mod:`room.render.renderer`;
    ``motion``: a :class:`room.anatomy.motion.BreathingMotion` of the scene, or None).
    ``render.backend == "cycles"`` gives a :class:`~room.render.cycles.CyclesRenderer` (RGB
    path traced by Blender Cycles, ground truth from the raster; needs the extra ``[cycles]``).
    """
    if render is not None and render.backend == "cycles":
        if motion is not None:
            from room.errors import RenderError

            raise RenderError("render.backend=cycles draws a rigid airway only; use "
                              "motion=static with Cycles, or render.backend=raster for "
                              "breathing airways")
        from room.render.cycles import CyclesRenderer

        return CyclesRenderer(scene, camera, render, cull=cull)
    from room.render.renderer import Renderer

    return Renderer(scene, camera, render, cull=cull, motion=motion)


def __getattr__(name: str) -> Any:
    if name == "Renderer":
        from room.render.renderer import Renderer

        return Renderer
    raise AttributeError(f"module 'room.render' has no attribute {name!r}")
