"""Geometric checks shared by the simulator tests (independent of the engine's contacts)."""

from __future__ import annotations

import numpy as np
import trimesh


def axis_samples(sim, state, step_m: float = 5e-4) -> np.ndarray:
    """Points on the capsule axis segments (cylinder part: the hemispherical caps are at
    distance >= r of every sample) of the links inside the airway (metres, world)."""
    pts = []
    r = sim.robot_cfg.radius_m
    last = sim.n_links - 1
    for k in np.flatnonzero(sim._enabled):
        T = state.link_poses[k]
        length = sim.body.layout[k].length_m
        if k == last:  # the tip capsule ends exactly at the distal face
            length = max(length - r, 0.05 * r)
        for t in np.linspace(0.0, length, max(2, int(length / step_m) + 1)):
            pts.append(T[:3, 3] + t * T[:3, 2])
    return np.array(pts)


def wall_penetration(sim, state, lumen_mesh: trimesh.Trimesh) -> float:
    """Deepest overlap (m) of the scope's capsules with the airway wall from exact
    point-to-surface distances: radius minus the distance of each axis sample to the wall
    (a sample outside the lumen counts its distance on top)."""
    pts = axis_samples(sim, state)
    if len(pts) == 0:
        return 0.0
    outward = lumen_mesh.copy()
    outward.invert()  # scene meshes face into the lumen; trimesh wants outward normals
    d = trimesh.proximity.signed_distance(outward, pts)  # > 0 inside the lumen
    return float(np.max(sim.robot_cfg.radius_m - d))
