"""Airway lumen mask -> watertight, smooth, decimated surface mesh in metres (world frame, LPS).

Pipeline (:func:`mask_to_mesh`):

1. keep the largest 26-connected component of the mask and crop it to its bounding box, padded
   with background so that the surface closes where the airway touches the volume border;
2. Gaussian-smooth the binary mask as float (``sigma_vox``) and extract the 0.5 iso-surface with
   marching cubes (skimage, Lewiner): vertices land at sub-voxel positions, so there is no voxel
   staircase;
3. map vertices from voxel indices to world metres through the volume geometry (spacing, origin,
   direction; numpy axis order z, y, x is reversed to x, y, z);
4. keep the largest connected surface, Taubin-smooth it (volume preserving: a lambda / mu pair
   does not shrink like plain Laplacian smoothing) and quadric-decimate it to ``target_faces``;
5. wind the faces so that their normals point INTO the lumen (the renderer views the surface from
   inside); checked by the sign of the enclosed volume (negative = inward).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import trimesh

from room.anatomy.tree import CenterlineTree
from room.anatomy.volume import Volume
from room.errors import ConfigError, MeshError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MeshConfig:
    """Surface extraction settings. Lengths in voxels of the mask unless stated."""

    sigma_vox: float = 0.7  # Gaussian pre-smoothing of the binary mask (smallest spacing units)
    level: float = 0.5  # iso-level of the smoothed mask (0.5 = half-way between in and out)
    taubin_iterations: int = 40  # volume-preserving smoothing passes (0 = off; even: pairs)
    taubin_lambda: float = 0.5
    taubin_nu: float = 0.52  # inflate step; Taubin: 0 < 1/lambda - 1/nu < 0.1
    target_faces: int = 200_000  # visual mesh face budget (quadric decimation); 0 = no limit
    # collision mesh face budget: the physics (PyBullet) uses the scene's collision mesh as is,
    # and concave-trimesh contact cost grows with triangle density
    collision_faces: int = 30_000

    def __post_init__(self) -> None:
        if self.sigma_vox < 0:
            raise ConfigError(f"mesh.sigma_vox must be >= 0, got {self.sigma_vox}")
        if not 0.0 < self.level < 1.0:
            raise ConfigError(f"mesh.level must be in (0, 1), got {self.level}")
        if self.taubin_iterations < 0:
            raise ConfigError("mesh.taubin_iterations must be >= 0")
        if self.target_faces < 0 or self.collision_faces < 100:
            raise ConfigError(
                "mesh.target_faces must be >= 0 and mesh.collision_faces >= 100 "
                f"(got {self.target_faces}, {self.collision_faces})"
            )


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected component of a boolean array (empty stays empty)."""
    from scipy import ndimage

    lab, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    if n <= 1:
        return mask.astype(bool, copy=False)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))


def bounding_box(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) array indices (z, y, x) of the non-zero voxels, hi exclusive (axis projections:
    much cheaper than ``argwhere`` on a large volume)."""
    lo, hi = [], []
    for ax in range(3):
        other = tuple(a for a in range(3) if a != ax)
        nz = np.flatnonzero(np.any(mask, axis=other))
        lo.append(nz[0])
        hi.append(nz[-1] + 1)
    return np.array(lo), np.array(hi)


def crop_padded(mask: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """The largest connected component of ``mask``, cropped to its bounding box plus ``pad``
    background voxels on every side.

    Returns the crop and the (z, y, x) index of its first voxel in ``mask`` (negative where the
    padding extends beyond the volume)."""
    lo, hi = bounding_box(mask)
    crop = largest_component(mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]])
    lo2, hi2 = bounding_box(crop)
    crop = crop[lo2[0]:hi2[0], lo2[1]:hi2[1], lo2[2]:hi2[2]]
    return np.pad(crop, pad), lo + lo2 - pad


def orient_inward(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Wind faces so that normals point into the enclosed lumen (negative signed volume)."""
    if mesh.volume > 0:
        mesh.invert()
    return mesh


def decimate(mesh: trimesh.Trimesh, max_faces: int) -> trimesh.Trimesh:
    """At most ``max_faces`` faces, same winding, still watertight if the input is.

    Quadric decimation with fast-simplification first (fast); it does not check the link
    condition and now and then leaves a few non-manifold edges. Then manifold3d's
    topology-preserving simplification takes over, with its geometric tolerance searched until
    the face count fits (about a second per try on 200k faces)."""
    if max_faces <= 0 or len(mesh.faces) <= max_faces:
        return mesh
    import fast_simplification

    v, f = fast_simplification.simplify(
        np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int32),
        target_count=int(0.98 * max_faces),
    )
    out = trimesh.Trimesh(v, f, process=True)
    _clean(out)
    if (out.is_watertight or not mesh.is_watertight) and len(out.faces) <= max_faces:
        return out
    log.info("fast-simplification left non-manifold edges; decimating with manifold3d")
    return _decimate_manifold(mesh, max_faces)


def _decimate_manifold(mesh: trimesh.Trimesh, max_faces: int) -> trimesh.Trimesh:
    """manifold3d ``simplify(tolerance)``: doubles the tolerance (metres) until the face count
    fits, then bisects (log scale) towards the budget; keeps the fitting result with the most
    faces."""
    import manifold3d as mf

    man = mf.Manifold(mf.Mesh(vert_properties=np.asarray(mesh.vertices, np.float32),
                              tri_verts=np.asarray(mesh.faces, np.uint32)))
    if man.status() != mf.Error.NoError:
        raise MeshError(f"cannot decimate the surface: manifold3d reports {man.status()}")
    lo, hi = 0.0, 0.04 * float(mesh.edges_unique_length.mean())
    best = None
    for _ in range(12):
        eps = hi if best is None else float(np.sqrt(max(lo, 0.25 * hi) * hi))
        cand = man.simplify(eps)
        n = cand.num_tri()
        if n <= max_faces:
            best, hi = cand, eps
            if n >= 0.7 * max_faces:
                break
        elif best is None:
            lo, hi = eps, 2 * eps
        else:
            lo = eps
    if best is None:
        raise MeshError(f"cannot decimate the surface to {max_faces} faces; raise the budget")
    out_mesh = best.to_mesh()
    out = trimesh.Trimesh(out_mesh.vert_properties[:, :3], out_mesh.tri_verts, process=True)
    _clean(out)
    return out


def _clean(mesh: trimesh.Trimesh) -> None:
    mesh.update_faces(mesh.nondegenerate_faces())
    mesh.update_faces(mesh.unique_faces())
    mesh.remove_unreferenced_vertices()


def _largest_surface(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Keep the connected surface with the most faces (drops specks and inner bubbles)."""
    labels = trimesh.graph.connected_component_labels(mesh.face_adjacency, len(mesh.faces))
    if labels.max() == 0:
        return mesh
    keep = np.bincount(labels).argmax()
    out = mesh.submesh([np.flatnonzero(labels == keep)], append=True)
    return out


def _surface(mask: Volume, cfg: MeshConfig) -> trimesh.Trimesh:
    """Marching cubes on the smoothed mask, vertices in world metres (winding not fixed)."""
    from scipy import ndimage
    from skimage.measure import marching_cubes

    arr = np.asarray(mask.array) > 0
    if not arr.any():
        raise MeshError("the airway mask is empty; check the segmentation (nothing to mesh)")
    pad = int(np.ceil(3 * cfg.sigma_vox)) + 2
    crop, offset = crop_padded(arr, pad)
    f = crop.astype(np.float32)
    if cfg.sigma_vox > 0:
        # sigma in physical units = sigma_vox * smallest spacing, per axis in voxels (z, y, x)
        sp_zyx = mask.spacing[::-1]
        f = ndimage.gaussian_filter(f, sigma=cfg.sigma_vox * sp_zyx.min() / sp_zyx, truncate=3.0)
    if f.max() <= cfg.level:
        raise MeshError(
            f"the airway mask is too thin to mesh at sigma_vox={cfg.sigma_vox} "
            "(smoothed mask never reaches the iso-level); lower mesh.sigma_vox"
        )
    verts, faces, _, _ = marching_cubes(f, level=cfg.level, allow_degenerate=False)
    world = mask.zyx_to_world(verts + offset)
    mesh = trimesh.Trimesh(world, faces, process=True)
    _clean(mesh)
    return mesh


def mask_to_mesh(mask: Volume, cfg: MeshConfig | None = None) -> trimesh.Trimesh:
    """Watertight, smoothed, decimated lumen surface of a boolean mask.

    Args:
        mask: airway lumen mask (non-zero = lumen) with its world geometry.
        cfg: settings (defaults: sigma 0.7 voxel, 10 Taubin passes, 200k faces).

    Returns:
        ``trimesh.Trimesh`` in metres, world frame (LPS), faces wound so that normals point into
        the lumen (``mesh.volume < 0``).

    Raises:
        MeshError: empty mask, or a surface that cannot be closed.
    """
    cfg = cfg or MeshConfig()
    mesh = _largest_surface(_surface(mask, cfg))
    if len(mesh.faces) < 4:
        raise MeshError("the airway surface is degenerate (fewer than 4 faces); check the mask")
    if cfg.taubin_iterations > 0:
        trimesh.smoothing.filter_taubin(
            mesh, lamb=cfg.taubin_lambda, nu=cfg.taubin_nu, iterations=cfg.taubin_iterations
        )
    mesh = decimate(mesh, cfg.target_faces)
    _close(mesh)
    return orient_inward(mesh)


def _close(mesh: trimesh.Trimesh) -> None:
    """Make the surface watertight (marching cubes on a padded volume is closed; decimation can
    open a rare edge) or raise MeshError."""
    if mesh.is_watertight:
        return
    trimesh.repair.fix_winding(mesh)
    trimesh.repair.fill_holes(mesh)
    if not mesh.is_watertight:
        raise MeshError(
            "the airway surface is not watertight after decimation and repair; this happens "
            "when the mask has sheets thinner than a voxel (a segmentation that leaked into "
            "the lung): check the segmentation, or raise mesh.sigma_vox or mesh.target_faces"
        )


def make_collision_mesh(mesh: trimesh.Trimesh, max_faces: int = 30_000) -> trimesh.Trimesh:
    """Decimated copy of ``mesh`` for physics (PyBullet), at most ``max_faces`` triangles,
    same frame and inward winding. The scene writes it to ``collision.obj``."""
    if len(mesh.faces) == 0:
        raise MeshError("cannot build a collision mesh from an empty surface")
    out = decimate(mesh.copy(), max_faces)
    if mesh.is_watertight and not out.is_watertight:
        raise MeshError("the collision mesh is not watertight after decimation; raise "
                        "mesh.collision_faces")
    return orient_inward(out)


def face_branch_ids(mesh: trimesh.Trimesh, tree: CenterlineTree) -> np.ndarray:
    """Branch id per face: the branch whose centerline is nearest to the face centroid,
    measured relative to the local radius so thin branches are not swallowed by wide ones."""
    from scipy.spatial import cKDTree

    dense_p, dense_r, dense_i = [], [], []
    for b in tree:  # densify each polyline so nearest-sample is close to nearest-segment
        s = b.arclength()
        n = max(2, int(np.ceil(s[-1] / (0.25 * max(b.radii.min(), 1e-6)))) + 1)
        t = np.linspace(0.0, s[-1], n)
        dense_p.append(np.stack([np.interp(t, s, b.points[:, k]) for k in range(3)], axis=1))
        dense_r.append(np.interp(t, s, b.radii))
        dense_i.append(np.full(n, b.id))
    p, r, i = np.concatenate(dense_p), np.concatenate(dense_r), np.concatenate(dense_i)
    r = np.maximum(r, 1e-6)
    kd = cKDTree(p)
    c = mesh.triangles_center
    dist, idx = kd.query(c, k=min(16, len(p)))
    dist, idx = dist.reshape(len(c), -1), idx.reshape(len(c), -1)
    score = dist / r[idx]
    best = idx[np.arange(len(c)), np.argmin(score, axis=1)]
    return i[best].astype(np.int32)
