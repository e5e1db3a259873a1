"""Tiny analytic airway scenes (a straight tube, a Y-bifurcation) built directly as meshes.

They are the test fixtures of the later stages: geometry known exactly, built in milliseconds,
no CT needed. Lengths in metres; the tube axis is world +z starting at the origin.
"""

from __future__ import annotations

import numpy as np
import trimesh

from room.anatomy.mesh import face_branch_ids
from room.anatomy.scene import AirwayScene
from room.anatomy.tree import NO_PARENT, Branch, CenterlineTree

__all__ = ["face_branch_ids", "tube_scene", "y_scene"]


def _segment_mesh(a: np.ndarray, b: np.ndarray, radius: float, sections: int) -> trimesh.Trimesh:
    """Closed cylinder of ``radius`` from point a to point b (outward normals)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return trimesh.creation.cylinder(radius=radius, segment=np.stack([a, b]), sections=sections)


def tube_scene(radius: float = 0.009, length: float = 0.12, sections: int = 256,
               n_points: int = 25) -> AirwayScene:
    """A straight closed cylindrical airway along +z from z = 0 to z = length, viewed from
    inside (normals point inward). One branch, id 0, generation 0."""
    mesh = _segment_mesh([0, 0, 0], [0, 0, length], radius, sections)
    mesh.invert()
    z = np.linspace(0.0, length, n_points)
    pts = np.stack([np.zeros_like(z), np.zeros_like(z), z], axis=1)
    tree = CenterlineTree(
        branches={0: Branch(0, NO_PARENT, 0, pts, np.full(n_points, radius), name="trachea")},
        root=0,
    )
    return AirwayScene(
        mesh=mesh,
        collision_mesh=mesh.copy(),
        tree=tree,
        face_branch=np.zeros(len(mesh.faces), np.int32),
        metadata={"source": "synthetic tube", "radius_m": radius, "length_m": length},
    )


def y_scene(trachea_radius: float = 0.009, trachea_length: float = 0.08,
            child_radius: float = 0.0065, child_length: float = 0.04,
            angle_rad: float = np.deg2rad(35.0), sections: int = 96) -> AirwayScene:
    """A trachea along +z splitting into two children at +-angle in the x-z plane.

    Branch ids: 0 trachea, 1 left (+x), 2 right (-x). The union is watertight (manifold
    booleans) and inverted so that it is seen from inside.
    """
    top = np.array([0.0, 0.0, trachea_length])
    dirs = [np.array([np.sin(s * angle_rad), 0.0, np.cos(s * angle_rad)]) for s in (1, -1)]
    ends = [top + child_length * d for d in dirs]
    parts = [_segment_mesh([0, 0, 0], top, trachea_radius, sections)]
    parts += [_segment_mesh(top - 0.5 * trachea_radius * d, e, child_radius, sections)
              for d, e in zip(dirs, ends, strict=True)]
    joint = trimesh.creation.icosphere(subdivisions=3, radius=trachea_radius)
    parts.append(joint.apply_translation(top))
    mesh = trimesh.boolean.union(parts, engine="manifold")
    mesh.invert()

    def line(a, b, r, n=20):
        t = np.linspace(0, 1, n)[:, None]
        return a + t * (b - a), np.full(n, r)

    p0, r0 = line(np.zeros(3), top, trachea_radius)
    branches = {0: Branch(0, NO_PARENT, 0, p0, r0, children=[1, 2], name="trachea")}
    for k, (e, name) in enumerate(zip(ends, ("left", "right"), strict=True), start=1):
        p, r = line(top, e, child_radius)
        branches[k] = Branch(k, 0, 1, p, r, name=f"{name} main bronchus")
    tree = CenterlineTree(branches=branches, root=0)
    return AirwayScene(
        mesh=mesh,
        collision_mesh=mesh.copy(),
        tree=tree,
        face_branch=face_branch_ids(mesh, tree),
        metadata={"source": "synthetic Y-bifurcation"},
    )
