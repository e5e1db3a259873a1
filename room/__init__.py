"""room: physics-based bronchoscopy simulator and synthetic multi-modal dataset generator.

Units everywhere in the public API: metres, radians, seconds. World frame: the CT patient frame
(LPS) in metres. Camera frame: OpenCV (x right, y down, z forward). Transforms are named
``T_a_b`` and map points in frame b to frame a; a camera pose is ``T_world_cam``.

Nothing is imported here (the package root sits below every stage); a scene comes from
:func:`room.anatomy.load_scene`.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
