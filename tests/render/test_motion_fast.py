"""The breathing renderer's per-frame shortcuts are exact: GL tables in one pass equal the
float32 rounding of the float64 reference, boxes bounded from the field contain every moved
face (chunks and BVH) and leave every frame bit for bit as exact refits make it, and the
generator's three surface-motion requests per frame compute it twice."""

from __future__ import annotations

import numpy as np
import pytest

from room.anatomy.motion import MotionConfig, make_motion
from room.render import CameraConfig, RenderConfig, culling, deform, kernels, make_renderer
from room.render.bvh import MovingBVH
from room.transforms import look_at
from tests.render.test_motion_kernels import _mesh_and_motion

# (t, cardiac sign): the default cardiac period 0.857 s gives k > 0 at 0.1 s and k < 0 at
# 0.6 s, both with breathing b > 0 (period 4 s)
TIMES = (0.1, 0.6, 1.7, 2.0)


def test_field_signals_cover_both_cardiac_signs():
    _, _, motion = _mesh_and_motion()
    ks = [motion.signals(t)[1] for t in TIMES]
    assert min(ks) < -0.1 and max(ks) > 0.1 and all(motion.signals(t)[0] > 0 for t in TIMES)


def test_gl_tables_are_the_float32_rounding_of_the_float64_reference():
    v, f, motion = _mesh_and_motion()
    mm = deform.MeshMotion(motion, v)
    rng = np.random.default_rng(1)
    source = rng.integers(0, len(v), 2 * len(v))  # GL vertices: split copies of scene ones
    normals = rng.normal(size=(len(source), 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    arc = rng.uniform(0, 0.3, len(source))
    order = rng.permutation(len(f))
    origin = v.mean(axis=0)
    for t in TIMES:
        vt = mm.at(t)
        jb, jc = mm.jacobian_parts(source)
        b, k = mm.signals(t)
        pos, pos_arc, nrm = kernels.gl_vertices(vt, source, origin, arc, normals, jb, jc, b, k)
        ref_pos = (vt[source] - origin).astype(np.float32)
        np.testing.assert_array_equal(pos, ref_pos)
        np.testing.assert_array_equal(pos_arc, np.column_stack([ref_pos, arc]).astype(np.float32))
        ref_n = kernels.carried_normals(normals, jb, jc, b, k)
        np.testing.assert_array_equal(nrm[:, :3], ref_n.astype(np.float32))
        assert not nrm[:, 3].any()
        fn, off = kernels.face_planes(vt, f, origin)
        np.testing.assert_array_equal(kernels.gl_planes(vt, f, origin, order),
                                      np.column_stack([fn, off])[order].astype(np.float32))
        sub = order[:50]  # the lens fallback's per-face planes equal the full table's rows
        np.testing.assert_array_equal(kernels.face_planes(vt, f[sub], origin)[0], fn[sub])


def test_field_bounded_chunk_boxes_contain_their_moved_faces():
    v, f, motion = _mesh_and_motion()
    chunks = culling.make_chunks(v, f, max_faces=64)
    cv = culling.chunk_vertices(chunks, f)
    fb, fc = motion.basis(v)
    cf = culling.chunk_field(chunks, cv, v, fb, fc)
    for t in TIMES:
        vt = motion.forward(v, t)
        exact = culling.refit(chunks, cv, vt)
        bound = culling.refit_field(chunks, cf, *motion.signals(t))
        np.testing.assert_array_equal(bound.axes, exact.axes)
        for c in range(len(chunks.start)):
            faces = chunks.order[chunks.start[c]:chunks.start[c] + chunks.count[c]]
            local = (vt[f[faces]].reshape(-1, 3) - bound.center[c]) @ bound.axes[c].T
            # inside by the margin less float rounding (coordinates ~0.02 m: 1e-15 m)
            assert np.all(np.abs(local) <= bound.half[c] - culling.MARGIN_M + 1e-15)
        # loose by at most the parts' variation over a chunk: here (2 mm amplitude, a 4 cm
        # sphere, chunks of 64 faces) well under 0.3 mm per half extent
        slack = bound.half - exact.half
        assert slack.min() >= -1e-15 and slack.max() < 3e-4
    with pytest.raises(ValueError, match="must be >= 0"):
        culling.refit_field(chunks, cf, -0.1, 0.0)


def test_field_bounded_bvh_contains_the_exact_boxes_and_finds_the_same_hits():
    v, f, motion = _mesh_and_motion()
    fb, fc = motion.basis(v)
    exact, bound = MovingBVH(v, f), MovingBVH(v, f)
    bound.set_field(fb, fc)
    rng = np.random.default_rng(2)
    dirs = rng.normal(size=(4000, 3))
    for t in TIMES:
        vt = motion.forward(v, t)
        exact.refit(vt)
        bound.refit_field(vt, *motion.signals(t))
        assert np.all(bound.box[:, :3] <= exact.box[:, :3] + 1e-15)
        assert np.all(bound.box[:, 3:] >= exact.box[:, 3:] - 1e-15)
        org = rng.normal(scale=0.004, size=3)  # inside the sphere of radius ~0.02 m
        hit = bound.first_hit(org, dirs)
        assert (hit >= 0).all()  # closed mesh, origin inside: every ray hits
        np.testing.assert_array_equal(hit, exact.first_hit(org, dirs))


@pytest.mark.gl
def test_bounded_boxes_leave_breathing_frames_bit_for_bit(yscene):
    """The same breathing frames (radtan lens: the BVH fallback runs) with the field-bounded
    chunk and BVH boxes and with exact per-frame refits."""
    motion = make_motion(MotionConfig(kind="breathing", amplitude_m=0.004), yscene, 0)
    cam = CameraConfig(width=96, height=88, fx=60.0, fy=60.0, cx=47.5, cy=43.5,
                       distortion_model="radtan")
    pose = look_at([0.002, 0.001, 0.03], [0.0, 0.0, 0.1], up=[1, 0, 0])

    def frames():
        with make_renderer(yscene, cam, RenderConfig(), motion=motion) as r:
            out = [r.render(pose, index=i, time_s=t) for i, t in enumerate(TIMES)]
            assert r._bvh is not None  # the fallback cast ran on the moving mesh
            return out

    fast = frames()
    slow = _frames_with_exact_refits(yscene, cam, motion, pose)
    for a, b in zip(fast, slow, strict=True):
        for name in ("rgb", "depth", "normals", "face_id", "segmentation"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def _frames_with_exact_refits(scene, cam, motion, pose):
    """The frames of TIMES with exact per-frame box refits (chunks from the moved GL
    vertices, BVH from the moved faces): the reference the bounded boxes must reproduce."""
    from room.render.renderer import Renderer

    class Exact(Renderer):
        def _moved_chunks(self, b, k):
            if self._chunks0 is None:
                return None
            cv = culling.chunk_vertices(self._chunks0, self._gm.faces)
            v = self._ref_vertices + b * self._moving.fb + k * self._moving.fc
            return culling.refit(self._chunks0, cv, v[self._gm.source] - self._origin)

    with Exact(scene, cam, RenderConfig(), motion=motion) as r:
        r._bvh = MovingBVH(r._ref_vertices, r._faces)
        r._bvh.refit_field = lambda vertices, b, k: r._bvh.refit(vertices)
        return [r.render(pose, index=i, time_s=t) for i, t in enumerate(TIMES)]


@pytest.mark.gl
def test_generator_pattern_computes_surface_motion_twice(yscene, monkeypatch):
    motion = make_motion(MotionConfig(kind="breathing"), yscene, 0)
    cam = CameraConfig(width=48, height=40, fx=30.0, fy=30.0, cx=23.5, cy=19.5,
                       distortion_model="none")
    pose = look_at([0.002, 0.001, 0.03], [0.0, 0.0, 0.1], up=[1, 0, 0])
    calls = []
    real = kernels.surface_motion
    monkeypatch.setattr(kernels, "surface_motion", lambda *a: calls.append(1) or real(*a))
    with make_renderer(yscene, cam, RenderConfig(), motion=motion) as r:
        prev, cur, nxt = (r.render(pose, index=i, time_s=0.5 + 0.1 * i) for i in range(3))
        fwd = r.optical_flow(cur, nxt)
        r.optical_flow(cur, prev)  # backward
        sf = r.scene_flow(cur, nxt)
        assert len(calls) == 2
        assert np.abs(sf).max() > 0 and fwd[1].any()
