"""GPU-ready copy of the scene mesh: per-corner shading normals and branch-aware tree coordinates.

Triangles keep their order (so ``gl_PrimitiveID`` is the scene's face index) and their exact
vertex positions; only vertices are duplicated where shading attributes differ: across creases
(normals are smoothed only between faces within ``crease_deg`` of each other) and across branch
boundaries (each branch's vertices carry that branch's arclength, so cartilage rings stay
continuous along a branch however long its triangles are). Duplicated vertices have bitwise
identical positions, so the surface stays watertight for the rasterizer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from room.anatomy.tree import CenterlineTree


@dataclass
class GPUMesh:
    """Arrays for upload. ``positions`` float64 world (m), ``normals`` unit shading normals,
    ``tree`` and ``branches`` (see :func:`_tree_coordinates`), ``faces`` (F, 3) indices,
    ``source`` the scene vertex each GPU vertex copies (for moving the mesh)."""

    positions: np.ndarray
    normals: np.ndarray
    tree: np.ndarray
    faces: np.ndarray
    branches: np.ndarray
    source: np.ndarray | None = None  # scene vertex index of each GPU vertex


def corner_normals(mesh: trimesh.Trimesh, crease_deg: float) -> np.ndarray:
    """(F, 3, 3) area-weighted normals per face corner, averaged only over incident faces whose
    normal is within ``crease_deg`` of the corner's face."""
    fn = np.asarray(mesh.face_normals, np.float64)
    area = np.asarray(mesh.area_faces, np.float64)
    faces = np.asarray(mesh.faces, np.int64)
    cos_t = np.cos(np.deg2rad(crease_deg))
    cf = np.repeat(np.arange(len(faces)), 3)
    cv = faces.ravel()
    order = np.argsort(cv, kind="stable")
    deg = np.bincount(cv, minlength=len(mesh.vertices))
    starts = np.concatenate([[0], np.cumsum(deg)[:-1]])
    k = deg[cv]  # every (corner, face incident to the corner's vertex) pair
    rep = np.repeat(np.arange(len(cv)), k)
    offset = np.arange(len(rep)) - np.repeat(np.cumsum(k) - k, k)
    g = cf[order][starts[cv[rep]] + offset]
    w = area[g] * (np.einsum("ij,ij->i", fn[cf[rep]], fn[g]) >= cos_t)
    out = np.stack([np.bincount(rep, w * fn[g, j], minlength=len(cv)) for j in range(3)], 1)
    out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-30
    return out.reshape(-1, 3, 3)


def prepare(mesh: trimesh.Trimesh, face_branch: np.ndarray, tree: CenterlineTree,
            crease_deg: float = 45.0, ring_max_generation: int = 1) -> GPUMesh:
    """Split vertices by (vertex, shading normal, branch) and compute tree coordinates."""
    faces = np.asarray(mesh.faces, np.int64)
    cn = corner_normals(mesh, crease_deg).reshape(-1, 3)
    cv = faces.ravel()
    cb = np.repeat(np.asarray(face_branch, np.int64), 3)
    key = np.concatenate([cv[:, None].astype(np.float64), cb[:, None].astype(np.float64), cn],
                         axis=1)
    uniq, inverse = np.unique(key, axis=0, return_inverse=True)
    verts = np.asarray(mesh.vertices, np.float64)[uniq[:, 0].astype(np.int64)]
    branch = uniq[:, 1].astype(np.int64)
    tree_attr, table = _tree_coordinates(tree, verts, branch, ring_max_generation)
    return GPUMesh(positions=verts, normals=uniq[:, 2:5], tree=tree_attr,
                   faces=inverse.reshape(-1, 3), branches=table,
                   source=uniq[:, 0].astype(np.int64))


def _tree_coordinates(tree: CenterlineTree, verts: np.ndarray, branch: np.ndarray,
                      max_gen: int) -> tuple[np.ndarray, np.ndarray]:
    """Per vertex (arclength along its own branch s in m, branch row) and the branch table:
    one row per branch (flags, mean radius r, length L or 1e3 for a leaf, 0), flags = 1 if the
    generation bears cartilage rings, + 2 for the root branch.

    The shader's ring weight is ``ring * fade_in(s / r) * fade_out((L - s) / r)``: rings fade
    out within about one radius of a branch end at a bifurcation (none across the carina).
    """
    ids = sorted(b.id for b in tree)
    row = {bid: k for k, bid in enumerate(ids)}
    table = np.zeros((max(len(ids), 1), 4), np.float32)
    table[:, 1:3] = 1.0
    attr = np.zeros((len(verts), 2), np.float32)
    for b in tree:
        k = row[b.id]
        s = b.arclength()
        table[k] = (float(b.generation <= max_gen) + 2.0 * (b.parent < 0),
                    float(np.mean(b.radii)), s[-1] if b.children else 1e3, 0.0)
        sel = np.flatnonzero(branch == b.id)
        if sel.size == 0:
            continue
        r_min = max(float(np.min(b.radii)), 1e-4)
        n = max(2, int(np.ceil(s[-1] / (0.1 * r_min))) + 1)
        t = np.linspace(0.0, s[-1], n)
        p = np.stack([np.interp(t, s, b.points[:, j]) for j in range(3)], axis=1)
        d = np.gradient(p, axis=0)
        d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-12
        _, i = cKDTree(p).query(verts[sel])
        # arclength of the vertex's projection on the local axis (exact for straight pieces)
        attr[sel, 0] = t[i] + np.einsum("ij,ij->i", verts[sel] - p[i], d[i])
        attr[sel, 1] = k
    return attr, table
