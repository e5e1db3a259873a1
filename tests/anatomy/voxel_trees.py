"""Test helpers: analytic airway trees and their exact voxelization (no CT, no segmentation).

A tree of straight tubes with constant radius per branch, voxelized as the union of capsules
(points within ``radius`` of a branch segment), so the centerline and radius of every branch are
known exactly.
"""

from __future__ import annotations

import numpy as np

from room.anatomy.tree import NO_PARENT, Branch, CenterlineTree
from room.anatomy.volume import Volume


def _rotate(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues rotation of v about a unit axis."""
    axis = axis / np.linalg.norm(axis)
    return (v * np.cos(angle) + np.cross(axis, v) * np.sin(angle)
            + axis * (axis @ v) * (1 - np.cos(angle)))


def make_tree(generations: int = 3, r0: float = 0.009, trachea_length: float = 0.05,
              ratio: float = 0.79, angles_deg: tuple[float, float] = (40.0, 30.0),
              top: tuple[float, float, float] = (0.0, 0.0, 0.2), n_points: int = 20
              ) -> CenterlineTree:
    """Bronchial-like tree: trachea from ``top`` along world -z (inferior), each branch splitting
    into two children at +angles[0] (towards +x at the first split, patient left in LPS) and
    -angles[1], branching planes rotating 90 degrees per generation, radius x ``ratio`` per
    generation, child length 6 x radius (3 diameters)."""
    branches: dict[int, Branch] = {}

    def line(a, b, r):
        t = np.linspace(0.0, 1.0, n_points)[:, None]
        return a + t * (b - a), np.full(n_points, r)

    start = np.asarray(top, float)
    end = start + np.array([0.0, 0.0, -trachea_length])
    p, r = line(start, end, r0)
    branches[0] = Branch(0, NO_PARENT, 0, p, r, name="trachea")
    queue = [(0, np.array([0.0, 0.0, -1.0]), np.array([0.0, 1.0, 0.0]))]  # id, dir, plane normal
    next_id = 1
    while queue:
        pid, d, normal = queue.pop(0)
        parent = branches[pid]
        if parent.generation >= generations:
            continue
        rc = parent.radius_m * ratio
        for sign, ang in ((1, angles_deg[0]), (-1, angles_deg[1])):
            dc = _rotate(d, normal, -sign * np.deg2rad(ang))
            p, r = line(parent.end, parent.end + 6 * rc * dc, rc)
            b = Branch(next_id, pid, parent.generation + 1, p, r)
            branches[next_id] = b
            parent.children.append(next_id)
            queue.append((next_id, dc, _rotate(normal, dc, np.pi / 2)))
            next_id += 1
    tree = CenterlineTree(branches=branches, root=0)
    kids = tree.trachea.children
    if kids:
        tree[kids[0]].name, tree[kids[1]].name = "left main bronchus", "right main bronchus"
    return tree


def voxelize_tree(tree: CenterlineTree, spacing: float = 0.001, margin: float = 0.004,
                  direction: np.ndarray | None = None, shift: float = 0.37) -> Volume:
    """Boolean lumen mask of the union of the tree's capsules, on a grid of ``spacing`` metres.

    ``shift`` (voxels) moves the grid off the tree's round coordinates so that axes do not sit
    on voxel centres; ``direction`` (3x3 rotation) tests non-identity geometry."""
    direction = np.eye(3) if direction is None else np.asarray(direction, float)
    pts = np.concatenate([b.points for b in tree])
    rmax = max(b.radii.max() for b in tree)
    # bounding box in index space of the rotated frame
    local = pts @ direction  # world -> index-aligned axes (direction is orthonormal)
    lo = local.min(axis=0) - rmax - margin - shift * spacing
    hi = local.max(axis=0) + rmax + margin
    shape_xyz = np.ceil((hi - lo) / spacing).astype(int) + 1
    origin = direction @ lo
    vol = Volume(np.zeros(shape_xyz[::-1], bool), spacing=[spacing] * 3, origin=origin,
                 direction=direction)
    for b in tree:
        for a, c, r in zip(b.points[:-1], b.points[1:], b.radii[1:], strict=True):
            _fill_capsule(vol, a, c, r)
    return vol


def _fill_capsule(vol: Volume, a: np.ndarray, b: np.ndarray, r: float) -> None:
    ia, ib = vol.world_to_index(np.stack([a, b]))
    rv = r / vol.spacing[0]
    lo = np.maximum(np.floor(np.minimum(ia, ib) - rv - 1).astype(int), 0)
    hi = np.minimum(np.ceil(np.maximum(ia, ib) + rv + 2).astype(int), vol.shape_xyz)
    xs, ys, zs = (np.arange(lo[k], hi[k]) for k in range(3))
    gz, gy, gx = np.meshgrid(zs, ys, xs, indexing="ij")
    q = np.stack([gx, gy, gz], axis=-1).astype(float)
    ab = ib - ia
    t = np.clip(((q - ia) @ ab) / max(ab @ ab, 1e-12), 0.0, 1.0)
    d = np.linalg.norm(q - (ia + t[..., None] * ab), axis=-1)
    vol.array[lo[2]:hi[2], lo[1]:hi[1], lo[0]:hi[0]] |= d <= rv


def cut_branch(vol: Volume, branch: Branch, at: float, gap_m: float) -> int:
    """Cut ``branch`` across its axis: clear the voxels within 1.5 radii of the axis whose
    position along it lies within ``gap_m / 2`` of the fraction ``at`` of its length. Returns
    the number of voxels cleared."""
    a, b = branch.start, branch.end
    axis = (b - a) / np.linalg.norm(b - a)
    centre = a + at * (b - a)
    zyx = np.argwhere(vol.array)
    p = vol.zyx_to_world(zyx.astype(float))
    t = (p - centre) @ axis
    radial = np.linalg.norm((p - centre) - t[:, None] * axis, axis=1)
    hit = (np.abs(t) <= gap_m / 2) & (radial <= 1.5 * branch.radius_m)
    vol.array[tuple(zyx[hit].T)] = False
    return int(hit.sum())


def add_speckle(vol: Volume, n: int, seed: int = 0, clearance_vox: int = 3) -> int:
    """Set ``n`` isolated single voxels at random places at least ``clearance_vox`` voxels away
    from the mask and from each other's neighbours. Returns how many were set."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    busy = ndimage.binary_dilation(vol.array, iterations=clearance_vox)
    done = 0
    for _ in range(50 * n):
        z, y, x = (int(rng.integers(1, s - 1)) for s in vol.array.shape)
        if busy[z, y, x]:
            continue
        vol.array[z, y, x] = True
        busy[max(0, z - 2):z + 3, max(0, y - 2):y + 3, max(0, x - 2):x + 3] = True
        done += 1
        if done == n:
            break
    return done
