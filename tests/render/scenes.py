"""Analytic test scenes for the renderer: finely tessellated cylinder and sphere, a marker."""

from __future__ import annotations

import numpy as np
import trimesh

from room.anatomy.scene import AirwayScene
from room.anatomy.tree import NO_PARENT, Branch, CenterlineTree

CYL_R, CYL_L, CYL_SECTIONS = 0.009, 0.2, 720
SPHERE_R, SPHERE_SUBDIV = 0.012, 6


def _scene(mesh: trimesh.Trimesh, a, b, r) -> AirwayScene:
    pts = np.linspace(a, b, 10)
    tree = CenterlineTree(branches={0: Branch(0, NO_PARENT, 0, pts, np.full(10, r))}, root=0)
    return AirwayScene(mesh=mesh, collision_mesh=mesh, tree=tree,
                       face_branch=np.zeros(len(mesh.faces), np.int32))


def cylinder_scene() -> AirwayScene:
    """Closed cylinder, radius CYL_R, axis world z from 0 to CYL_L, seen from inside.

    Tessellation error: a facet lies inside the circle by at most the sagitta
    R (1 - cos(pi / n)) = 85 nm for n = 720, and its normal is off the radial one by at most
    pi / n = 0.25 degrees.
    """
    m = trimesh.creation.cylinder(radius=CYL_R, segment=[[0, 0, 0], [0, 0, CYL_L]],
                                  sections=CYL_SECTIONS)
    m.invert()
    return _scene(m, [0, 0, 0], [0, 0, CYL_L], CYL_R)


def sphere_scene() -> AirwayScene:
    """Sphere of radius SPHERE_R centred at the origin, seen from inside (icosphere, 82k faces).

    Its vertices lie on the sphere; the largest facet deviation (sagitta) and normal error are
    measured from the mesh itself by :func:`sphere_tessellation_error`.
    """
    m = trimesh.creation.icosphere(subdivisions=SPHERE_SUBDIV, radius=SPHERE_R)
    m.invert()
    return _scene(m, [0, 0, -SPHERE_R / 2], [0, 0, SPHERE_R / 2], SPHERE_R)


def sphere_tessellation_error(mesh: trimesh.Trimesh) -> tuple[float, float]:
    """(max distance of a facet below the sphere, max facet-normal angle to the radial)."""
    tri = mesh.triangles
    c = tri.mean(axis=1)
    # circumradius bounds the angular half-size of a facet seen from the centre
    e = np.linalg.norm(tri - c[:, None], axis=2).max()
    ang = np.arcsin(min(1.0, e / SPHERE_R))
    return SPHERE_R * (1 - np.cos(ang)), ang


def marker_scene(T_world_cam: np.ndarray, p_cam: np.ndarray, size: float) -> AirwayScene:
    """A small equilateral triangle (circumradius ``size``) centred at camera-frame point p_cam,
    parallel to the image plane, plus a big far sphere around everything as background."""
    ang = np.deg2rad([90, 210, 330])
    tri = np.stack([size * np.cos(ang), size * np.sin(ang), np.zeros(3)], axis=1) + p_cam
    tri = tri @ T_world_cam[:3, :3].T + T_world_cam[:3, 3]
    marker = trimesh.Trimesh(tri, [[0, 1, 2]], process=False)
    back = trimesh.creation.icosphere(subdivisions=2, radius=0.2)
    back.invert()
    m = trimesh.util.concatenate([marker, back])
    sc = _scene(m, [0, 0, -0.01], [0, 0, 0.01], 0.2)
    sc.face_branch[1:] = 0
    return sc
