"""A breathing tube with an analytic radius: depth and flow of the moving wall are exact."""

from __future__ import annotations

import numpy as np
import pytest

from room.anatomy.motion import BreathingMotion
from room.render import CameraConfig, make_renderer
from room.render.camera import _pixel_rays, project
from tests.render.scenes import CYL_R, cylinder_scene

pytestmark = pytest.mark.gl

EPS = 0.05  # peak relative expansion
C = np.array([0.0, 0.0, 0.1])  # expansion centre on the tube axis


def _tube_motion() -> BreathingMotion:
    """Pure expansion about C: the tube lies where g(h) = 1 (h >= 1), so the field is affine,
    phi_t(x) = C + (1 + EPS b(t)) (x - C), and maps the tessellated tube onto the tube of
    radius CYL_R (1 + EPS b(t)) exactly (affine maps keep flat facets flat)."""
    return BreathingMotion({
        "period_s": 4.0, "asymmetry_n": 2, "amplitude_m": 0.0, "expansion": EPS, "phase": 0.0,
        "cardiac_amplitude_m": 0.0, "cardiac_period_s": 1.0, "cardiac_phase": 0.0,
        "cardiac_radius_m": 0.03, "superior": [0, 0, 1], "box_lo": [-0.05, -0.05, -0.05],
        "box_hi": [0.05, 0.05, 0.25], "centre": C.tolist(), "heart": [0, 0, 0],
        "z_top": 1.0, "length_m": 0.5})


def _side_pose() -> np.ndarray:
    """Camera on the axis 2 cm above C, looking along world +x (x_cam = -y, y_cam = -z)."""
    T = np.eye(4)
    T[:3, :3] = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], float)
    T[:3, 3] = C + [0, 0, 0.02]
    return T


def test_breathing_tube_depth_and_flow_are_analytic():
    m = _tube_motion()
    T = _side_pose()
    times = (0.0, 1.0, 1.6, 2.0)
    with make_renderer(cylinder_scene(), CameraConfig(width=96, height=96),
                       motion=m) as r:
        frames = [r.render(T, index=k, time_s=t) for k, t in enumerate(times)]
        rays = _pixel_rays(r.intrinsics)
        for f, t in zip(frames, times, strict=True):
            rho = CYL_R * (1 + EPS * m.signals(t)[0])
            # ray (x, y, 1) meets the tube (axis through the camera) where |(1, -x)| z = rho;
            # tolerance: the facet sagitta (85 nm, scaled by <= 1.05) plus float32 rounding
            z = rho / np.sqrt(1 + rays[..., 0] ** 2)
            assert (f.face_id >= 0).all()
            np.testing.assert_allclose(f.depth, z, atol=1.2e-7)
            row = f.depth[r.intrinsics.height // 2]
            np.testing.assert_allclose(row, z[r.intrinsics.height // 2], atol=1.2e-7)
            assert f.meta["motion"]["breath"] == m.signals(t)[0]
        for a, b in zip(frames[:-1], frames[1:], strict=True):
            flow, valid = r.optical_flow(a, b)
            # analytic: P' = s P + (s - 1) D, s the radius ratio, D = camera - C (camera axes)
            s = (1 + EPS * m.signals(b.time_s)[0]) / (1 + EPS * m.signals(a.time_s)[0])
            D = T[:3, :3].T @ (T[:3, 3] - C)
            za = CYL_R * (1 + EPS * m.signals(a.time_s)[0]) / np.sqrt(1 + rays[..., 0] ** 2)
            P = np.concatenate([rays * za[..., None], za[..., None]], axis=-1).reshape(-1, 3)
            uv = project(s * P + (s - 1) * D, r.intrinsics).reshape(flow.shape)
            v, u = np.mgrid[0:96, 0:96]
            ref = uv - np.stack([u, v], -1)
            assert valid.mean() > 0.9 and np.abs(ref).max() > 0.3  # the wall visibly moves
            # float32 GL arithmetic (~1e-4 px) and the facets' sagitta (~0.01 px / 85 nm)
            np.testing.assert_allclose(flow[valid], ref[valid], atol=2e-3)
            sf = r.scene_flow(a, b)  # world motion of each point, camera-a axes
            np.testing.assert_allclose(sf.reshape(-1, 3), (s - 1) * (P + D), atol=1e-7)


def test_rigid_renderer_is_unchanged_by_a_motion_switched_off():
    scene = cylinder_scene()
    T = _side_pose()
    with make_renderer(scene, CameraConfig(width=64, height=64)) as r0:
        f0 = r0.render(T)
    with make_renderer(scene, CameraConfig(width=64, height=64), motion=_tube_motion()) as r:
        r.render(T, time_s=1.5)
        r.set_motion(None)
        f1 = r.render(T)
    for k in ("rgb", "depth", "normals", "face_id"):
        np.testing.assert_array_equal(getattr(f0, k), getattr(f1, k))
    assert "motion" not in f1.meta


def test_breath_preview_video_of_one_pose(tmp_path):
    from room.viz.breathing import breath_frames, write_breath_video

    with make_renderer(cylinder_scene(), CameraConfig(width=64, height=64),
                       motion=_tube_motion()) as r:
        frames, times = breath_frames(r, _side_pose(), n=4)
        out = write_breath_video(r, _side_pose(), tmp_path / "breath.mp4", n=4)
    assert np.allclose(times, [0, 1, 2, 3]) and out.stat().st_size > 1000
    # the wall is farthest at full inhale (t = T/2) and back at exhale
    centre = [f.depth[32, 32] for f in frames]
    assert centre[2] > centre[1] > centre[0] and abs(centre[3] - centre[1]) < 1e-7
