"""Optical flow of Renderer.optical_flow (the GL pass and the numba loop) against the numpy
reference (geometry.optical_flow) and an independent float64 reprojection of depth through the
two poses, pinhole, radtan and fisheye, forward and backward. Module-scoped renderers: GL
contexts are costly on CPU."""

from __future__ import annotations

import numpy as np
import pytest

from room.data.schema import canonical_frame
from room.render import CameraConfig, RenderConfig, make_renderer
from room.render.camera import project
from room.render.geometry import backproject, optical_flow
from room.transforms import invert, look_at

pytestmark = pytest.mark.gl

SIZE = dict(width=120, height=112, fx=76.0, fy=75.0, cx=58.3, cy=56.9)
CAMERAS = {
    "pinhole": CameraConfig(**SIZE, distortion_model="none"),
    "radtan": CameraConfig(**SIZE, distortion_model="radtan"),  # the bronchoscope's lens
    "fisheye": CameraConfig(**SIZE, distortion_model="fisheye",
                            distortion=(0.05, -0.02, 0.01, -0.003)),
}
POSE_A = look_at([0.002, 0.001, 0.03], [0.0, 0.0, 0.1], up=[1, 0, 0])


def _moved(T, dz=0.0015, yaw=0.03):
    c, s = np.cos(yaw), np.sin(yaw)
    M = np.eye(4)
    M[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    M[2, 3] = dz
    return T @ M


@pytest.fixture(scope="module", params=list(CAMERAS))
def pair(request, yscene):
    """Renderer and two canonical frames (depth on the dataset's grid, as the generator uses)."""
    with make_renderer(yscene, CAMERAS[request.param], RenderConfig()) as r:
        a = canonical_frame(r.render(POSE_A))
        b = canonical_frame(r.render(_moved(POSE_A)))
        yield request.param, r, a, b


def _reprojected(a, b) -> np.ndarray:
    """Independent reference: every pixel of a back-projected with its depth, moved with the
    poses and projected into b through the lens model, float64 (no occlusion test)."""
    p = backproject(a.depth, a.intrinsics).reshape(-1, 3)
    T = invert(b.T_world_cam) @ a.T_world_cam
    q = p @ T[:3, :3].T + T[:3, 3]
    q[q[:, 2] <= 0, 2] = np.nan
    v, u = np.mgrid[0 : a.intrinsics.height, 0 : a.intrinsics.width]
    return project(q, b.intrinsics).reshape(a.depth.shape + (2,)) - np.stack([u, v], -1)


@pytest.fixture(params=["gl", "cpu"])
def backend(request, pair):
    """Both places Renderer.optical_flow can run (the GL pass; the numba loop, the default on
    a software rasterizer), whatever this machine's default."""
    r = pair[1]
    default, r.flow_backend = r.flow_backend, request.param
    yield request.param
    r.flow_backend = default


def test_default_flow_backend_follows_the_rasterizer(pair):
    from room.render.gl import is_software

    r = pair[1]
    assert r.flow_backend == ("cpu" if is_software(r.gl_info) else "gl")
    assert is_software({"renderer": "llvmpipe (LLVM 15.0.7, 256 bits)"})
    assert not is_software({"renderer": "NVIDIA H200/PCIe/SSE2"})


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_gl_flow_matches_numpy_and_reprojection(pair, backend, direction):
    name, r, a, b = pair
    if direction == "backward":
        a, b = b, a
    flow, valid = r.optical_flow(a, b)
    ref, ref_valid = optical_flow(a, b)
    if backend == "cpu":  # same float64 formulas in the same order: the reference, bit for bit
        assert np.array_equal(flow, ref) and np.array_equal(valid, ref_valid)
    assert flow.dtype == np.float32 and flow.shape == a.depth.shape + (2,)
    assert valid.dtype == bool and valid.mean() > 0.6, valid.mean()
    # The same formulas and occlusion test in float32 instead of float64: the motion is
    # applied as (R - I) p + t, so rounding is ~1e-7 of the pixel position (~1e-5 px) plus the
    # float32 lens polynomial (fisheye's atan: ~3e-4 px). Validity flips only where a point
    # lies within float32 rounding (~1e-6 relative) of the 1 % depth tolerance or of the image
    # border: none to a handful of 13,440 pixels, so 99.9 % agreement.
    assert (valid == ref_valid).mean() >= 0.999
    both = valid & ref_valid
    d = np.abs(flow - ref)[both]
    assert np.median(d) < 0.01 and d.max() < 1e-3, (np.median(d), d.max())
    assert not flow[~valid].any()  # flow is 0 where invalid, as in the reference
    # independent reprojection, float64 through camera.project: the GL flow's only error is
    # float32 rounding (< 1e-3 px) against the 0.05 px required
    rep = _reprojected(a, b)
    e = np.abs(flow - rep)[valid]
    assert np.median(e) < 0.05 and np.quantile(e, 0.999) < 1e-3, (name, np.median(e))


def test_gl_flow_is_deterministic_and_pure(pair, backend):
    """The pass depends on the two depth maps and poses alone (generate.write_sequence relies on
    it: a resumed run reads the previous frame back from disk): repeated and interleaved calls
    give the same bytes."""
    _, r, a, b = pair
    f1, v1 = r.optical_flow(a, b)
    r.render(_moved(POSE_A, dz=0.003))  # other GL work in between
    r.optical_flow(b, a)
    f2, v2 = r.optical_flow(a.replace(rgb=a.rgb * 0), b)
    assert f1.tobytes() == f2.tobytes() and np.array_equal(v1, v2)


def test_gl_flow_of_another_camera_falls_back_to_numpy(pair, yscene):
    _, r, a, b = pair
    other = CameraConfig(width=40, height=40, distortion_model="none")
    with make_renderer(yscene, other, RenderConfig()) as r2:
        c, d = r2.render(POSE_A), r2.render(_moved(POSE_A))
    flow, valid = r.optical_flow(c, d)
    ref, ref_valid = optical_flow(c, d)
    assert np.array_equal(flow, ref) and np.array_equal(valid, ref_valid)
