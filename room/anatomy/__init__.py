"""Anatomy stage: CT or phantom -> airway segmentation -> meshes + centerline -> AirwayScene.

:func:`load_scene` returns a scene from whatever names it (scene, recipe, preset, folder).
"""

from __future__ import annotations

__all__ = ["load_scene"]


def __getattr__(name: str):
    if name == "load_scene":
        from room.anatomy.load import load_scene

        return load_scene
    raise AttributeError(f"module 'room.anatomy' has no attribute {name!r}")
