"""The moving mesh's numba kernels and BVH equal their numpy / Embree references."""

from __future__ import annotations

import numpy as np
import trimesh

from room.anatomy.motion import BreathingMotion, MotionConfig
from room.render import deform, geometry, kernels
from room.render.bvh import MovingBVH
from room.types import Frame, Intrinsics


def _mesh_and_motion():
    m = trimesh.creation.icosphere(subdivisions=4, radius=0.02)
    m.invert()
    rng = np.random.default_rng(0)
    v = np.asarray(m.vertices) * (1 + 0.1 * rng.uniform(size=(len(m.vertices), 1)))
    motion = BreathingMotion.for_scene(MotionConfig(kind="breathing", amplitude_m=0.002,
                                                    cardiac_radius_m=0.01), v,
                                       carina=np.zeros(3))
    return v, np.asarray(m.faces, np.int64), motion


def test_kernels_match_the_numpy_references():
    v, f, motion = _mesh_and_motion()
    vt = motion.forward(v, 1.7)
    origin = v.mean(axis=0)
    n, off = kernels.face_planes(vt, f, origin)
    n_ref, off_ref = deform.face_planes(vt, f, origin)
    np.testing.assert_allclose(n, n_ref, atol=1e-12)
    np.testing.assert_allclose(off, off_ref, atol=1e-15)
    normals = np.asarray(trimesh.Trimesh(v, f, process=False).vertex_normals, np.float64)
    jb, jc = motion.basis_jacobians(v)
    b, k = motion.signals(1.7)
    np.testing.assert_allclose(kernels.carried_normals(normals, jb, jc, b, k),
                               deform.cofactor_normals(normals, motion.jacobian(v, 1.7)),
                               atol=1e-12)


def test_surface_motion_kernel_matches_numpy():
    v, f, motion = _mesh_and_motion()
    va, vb = motion.forward(v, 1.0), motion.forward(v, 1.2)
    intr = Intrinsics(width=40, height=30, fx=30.0, fy=30.0, cx=19.5, cy=14.5, near=1e-4,
                      far=1.0)
    T = np.eye(4)
    bvh = MovingBVH(v, f)
    bvh.refit(va)
    rays = np.stack(np.meshgrid((np.arange(40) - 19.5) / 30, (np.arange(30) - 14.5) / 30), -1)
    d = np.concatenate([rays.reshape(-1, 2), np.ones((1200, 1))], axis=1)
    face = bvh.first_hit(T[:3, 3], d)
    tri = va[f[face]]
    nrm = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    z = np.einsum("ij,ij->i", nrm, tri[:, 0]) / np.einsum("ij,ij->i", nrm, d)
    frame = Frame(rgb=np.zeros((30, 40, 3), np.uint8), rgb_clean=np.zeros((30, 40, 3), np.uint8),
                  depth=z.reshape(30, 40).astype(np.float32),
                  normals=np.zeros((30, 40, 3), np.float32),
                  segmentation=np.zeros((30, 40), np.int32),
                  face_id=face.reshape(30, 40).astype(np.int32), T_world_cam=T,
                  intrinsics=intr)
    ref = geometry.surface_motion(frame, f, va, vb)
    rx, ry = geometry._ray_columns(intr)
    out = kernels.surface_motion(frame.depth.ravel(), frame.face_id.ravel(), rx, ry, f, va, vb,
                                 T[:3, :3].copy(), T[:3, 3].copy())
    np.testing.assert_allclose(out.reshape(ref.shape), ref, atol=1e-15)
    assert np.abs(ref).max() > 1e-5


def test_refitted_bvh_finds_the_first_hit_like_embree():
    from trimesh.ray.ray_pyembree import RayMeshIntersector

    v, f, motion = _mesh_and_motion()
    bvh = MovingBVH(v, f)
    rng = np.random.default_rng(1)
    dirs = rng.normal(size=(3000, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    org = np.array([0.002, -0.001, 0.003])
    for t in (0.0, 2.0):
        vt = motion.forward(v, t)
        bvh.refit(vt)
        ref = RayMeshIntersector(trimesh.Trimesh(vt, f, process=False)).intersects_first(
            np.broadcast_to(org, dirs.shape), dirs)
        hit = bvh.first_hit(org, dirs)
        assert (hit >= 0).all() and np.mean(hit == ref) > 0.999  # ties on shared edges aside


def test_refitted_chunk_boxes_contain_their_moved_faces():
    from room.render import culling

    v, f, motion = _mesh_and_motion()
    chunks = culling.make_chunks(v, f, max_faces=64)
    cv = culling.chunk_vertices(chunks, f)
    vt = motion.forward(v, 2.0)
    moved = culling.refit(chunks, cv, vt)
    for c in range(len(chunks.start)):
        faces = chunks.order[chunks.start[c]:chunks.start[c] + chunks.count[c]]
        local = (vt[f[faces]].reshape(-1, 3) - moved.center[c]) @ moved.axes[c].T
        assert np.all(np.abs(local) <= moved.half[c] + 1e-12)
        # tight: each box touches its vertices (within the margin) on every axis
        np.testing.assert_allclose(np.abs(local).max(axis=0), moved.half[c] - culling.MARGIN_M,
                                   atol=1e-12)
