"""mask_to_mesh / make_collision_mesh / face_branch_ids on masks of exactly known shape."""

from __future__ import annotations

import numpy as np
import pytest

from room.anatomy.mesh import MeshConfig, face_branch_ids, make_collision_mesh, mask_to_mesh
from room.anatomy.volume import Volume
from room.errors import ConfigError, MeshError

SP = 0.6e-3  # voxel size (m)
FLIP_Z = np.diag([1.0, 1.0, -1.0])  # a direction matrix with determinant -1 (mirrored axes)


def sphere_mask(n=30, r=8.3, c=(14.6, 15.2, 14.9), direction=None):
    """Voxels whose centres lie within r voxels of c (x, y, z index order); off-grid centre."""
    z, y, x = np.mgrid[:n, :n, :n]
    m = (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= r**2
    vol = Volume(m, spacing=[SP] * 3, origin=[0.01, 0.02, -0.03],
                 direction=np.eye(3) if direction is None else direction)
    return vol, vol.index_to_world(np.array([c]))[0], r


def radial_stats(mesh, centre, r_vox):
    """Vertex radius error (voxels) and angle (deg) between face normals and the inward radial
    direction of the analytic sphere."""
    r = np.linalg.norm(mesh.vertices - centre, axis=1) / SP
    radial = mesh.triangles_center - centre
    radial /= np.linalg.norm(radial, axis=1, keepdims=True)
    ang = np.degrees(np.arccos(np.clip(-(mesh.face_normals * radial).sum(1), -1, 1)))
    return r - r_vox, ang


@pytest.mark.parametrize("direction", [None, FLIP_Z], ids=["identity", "mirrored"])
def test_sphere_surface_accurate_closed_inward(direction):
    vol, centre, r = sphere_mask(direction=direction)
    mesh = mask_to_mesh(vol, MeshConfig())
    err, ang = radial_stats(mesh, centre, r)
    # The voxelized sphere's boundary is known to within the voxel grid: the 0.5 iso-surface
    # lies on average half-way between the last inside and first outside voxel centres, i.e. at
    # r, minus the Gaussian curvature shrink sigma^2 / r = 0.06 voxel; local digitization
    # ripples stay well below half a voxel.
    assert abs(err.mean()) < 0.25
    assert np.abs(err).mean() < 0.15
    assert np.abs(err).max() < 0.5
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume < 0  # inward winding: signed volume negative
    assert np.mean(ang < 90) > 0.999  # every face normal points towards the centre
    # no staircase: normals follow the analytic sphere (raw marching cubes on the binary mask
    # gives a median of ~20 degrees, see test_binary_marching_cubes_is_staircased)
    assert np.median(ang) < 10 and np.percentile(ang, 95) < 20
    vol_true = 4 / 3 * np.pi * (r * SP) ** 3
    assert abs(-mesh.volume / vol_true - 1) < 0.04


def test_binary_marching_cubes_is_staircased():
    """The smoothness check above can fail: without smoothing the surface is a staircase."""
    vol, centre, r = sphere_mask()
    mesh = mask_to_mesh(vol, MeshConfig(sigma_vox=0, taubin_iterations=0))
    _, ang = radial_stats(mesh, centre, r)
    assert np.median(ang) > 15


def test_cylinder_cut_by_volume_border_is_closed():
    """A tube that runs through the whole volume is capped where it leaves it."""
    n, r, c = 40, 6.4, (19.3, 20.6)
    z, y, x = np.mgrid[:n, :32, :32]
    m = (x - c[0] + 4) ** 2 + (y - c[1] + 4) ** 2 <= r**2
    vol = Volume(m, spacing=[SP, SP, 2 * SP])  # anisotropic spacing along z
    mesh = mask_to_mesh(vol)
    assert mesh.is_watertight and mesh.volume < 0
    v = mesh.vertices / SP
    mid = (v[:, 2] > 3 * 2) & (v[:, 2] < (n - 4) * 2)
    rv = np.hypot(v[mid, 0] - (c[0] - 4), v[mid, 1] - (c[1] - 4))
    # same reasoning as the sphere; cylinder curvature shrink sigma^2 / (2 r) = 0.04 voxel
    assert abs(rv.mean() - r) < 0.25
    assert np.abs(rv - r).max() < 0.5
    assert v[:, 2].min() < 0 and v[:, 2].max() > 2 * (n - 1)  # caps just outside the volume


def test_face_budget_and_collision_mesh():
    vol, centre, r = sphere_mask(n=50, r=20.2, c=(24.5, 25.1, 24.8))
    full = mask_to_mesh(vol, MeshConfig(target_faces=0))
    small = mask_to_mesh(vol, MeshConfig(target_faces=3000))
    assert len(full.faces) > 10_000
    assert len(small.faces) <= 3000
    assert small.is_watertight and small.volume < 0
    err, _ = radial_stats(small, centre, r)
    # quadric decimation to 7 % of the faces keeps the shape: vertices stay on the sphere to
    # ~0.1 voxel on average and within ~half a voxel at worst (measured 0.53)
    assert np.abs(err).mean() < 0.15 and np.abs(err).max() < 0.75
    col = make_collision_mesh(full, max_faces=1000)
    assert len(col.faces) <= 1000 and col.is_watertight and col.volume < 0
    assert abs(col.volume / full.volume - 1) < 0.02


def test_keeps_largest_component_and_rejects_empty():
    vol, centre, _ = sphere_mask()
    arr = vol.array.copy()
    arr[0:3, 0:3, 0:3] = True  # a speck in the corner, disconnected
    mesh = mask_to_mesh(vol.with_array(arr))
    assert np.linalg.norm(mesh.vertices - centre, axis=1).max() < 9 * SP
    with pytest.raises(MeshError, match="empty"):
        mask_to_mesh(vol.with_array(np.zeros_like(arr)))


def test_config_validation():
    with pytest.raises(ConfigError):
        MeshConfig(level=1.5)
    with pytest.raises(ConfigError):
        MeshConfig(sigma_vox=-1)


def test_face_branch_ids_on_meshed_tree():
    from tests.anatomy.voxel_trees import make_tree, voxelize_tree

    tree = make_tree(generations=1, r0=0.006, trachea_length=0.03)
    vol = voxelize_tree(tree, spacing=0.0008)
    mesh = mask_to_mesh(vol)
    ids = face_branch_ids(mesh, tree)
    assert ids.shape == (len(mesh.faces),) and ids.dtype == np.int32
    c = mesh.triangles_center
    top = tree.trachea.start[2]
    bif = tree.trachea.end
    trachea_faces = c[:, 2] > bif[2] + 0.012  # well above the carina
    assert np.all(ids[trachea_faces] == 0)
    low = c[:, 2] < bif[2] - 0.015  # well below: left (+x) / right (-x) main bronchi
    left, right = tree.trachea.children
    assert np.all(ids[low & (c[:, 0] > bif[0])] == left)
    assert np.all(ids[low & (c[:, 0] < bif[0])] == right)
    assert top > bif[2]


def test_decimation_falls_back_to_manifold_when_fast_path_breaks_topology(monkeypatch):
    """fast-simplification now and then leaves non-manifold edges; then manifold3d's
    topology-preserving simplification must deliver a closed surface within the budget."""
    import fast_simplification

    vol, centre, r = sphere_mask(n=50, r=20.2, c=(24.5, 25.1, 24.8))
    full = mask_to_mesh(vol, MeshConfig(target_faces=0))
    real = fast_simplification.simplify

    def broken(points, faces, **kw):  # decimate, then punch a hole (drop one face)
        v, f = real(points, faces, **kw)
        return v, f[1:]

    monkeypatch.setattr(fast_simplification, "simplify", broken)
    small = mask_to_mesh(vol, MeshConfig(target_faces=3000))
    assert 0.7 * 3000 <= len(small.faces) <= 3000
    assert small.is_watertight and small.volume < 0
    err, _ = radial_stats(small, centre, r)
    assert np.abs(err).mean() < 0.15 and np.abs(err).max() < 0.75
    assert abs(small.volume / full.volume - 1) < 0.02
