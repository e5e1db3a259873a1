"""Pure-numpy ground truth: back-projection, point clouds, optical flow and its masks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from room.render.geometry import backproject, optical_flow, point_cloud, warp
from room.transforms import make_T
from room.types import Frame, Intrinsics

PIN = Intrinsics(width=64, height=48, fx=50.0, fy=50.0, cx=31.7, cy=23.2)
RADTAN = Intrinsics(width=64, height=48, fx=50.0, fy=50.0, cx=31.7, cy=23.2,
                    distortion_model="radtan", distortion=(-0.101, -0.152, 0.0, 0.0, 0.102))


def frame(depth, T, intr=PIN, rgb=None):
    h, w = intr.shape
    rgb = np.zeros((h, w, 3), np.uint8) if rgb is None else rgb
    hit = depth > 0
    return Frame(rgb=rgb, rgb_clean=rgb, depth=depth.astype(np.float32),
                 normals=np.zeros((h, w, 3), np.float32),
                 segmentation=np.where(hit, 0, -1).astype(np.int32),
                 face_id=np.where(hit, 0, -1).astype(np.int32), T_world_cam=T, intrinsics=intr)


def plane_depth(intr, Z):
    return np.full(intr.shape, Z, np.float32)


def test_backproject_round_trips_through_projection():
    for intr in (PIN, RADTAN):
        rng = np.random.default_rng(0)
        d = rng.uniform(0.01, 0.1, intr.shape).astype(np.float32)
        p = backproject(d, intr)
        assert np.allclose(p[..., 2], d)
        img, _ = cv2.projectPoints(p.reshape(-1, 3), np.zeros(3), np.zeros(3), intr.K,
                                   intr.distortion_coeffs)
        v, u = np.mgrid[0 : intr.height, 0 : intr.width]
        uv = img[:, 0].reshape(intr.height, intr.width, 2)
        assert np.abs(uv[..., 0] - u).max() < 1e-6 and np.abs(uv[..., 1] - v).max() < 1e-6


def test_point_cloud_camera_and_world():
    T = make_T(Rotation.from_euler("xyz", [0.3, -0.2, 1.0]).as_matrix(), [0.1, -0.2, 0.3])
    d = plane_depth(PIN, 0.04)
    d[:5] = 0  # no hit in the top rows
    rgb = np.random.default_rng(1).integers(0, 255, PIN.shape + (3,), dtype=np.uint8)
    f = frame(d, T, rgb=rgb)
    pts, col, nrm = point_cloud(f)
    assert len(pts) == (d > 0).sum() and np.allclose(pts[:, 2], 0.04)
    assert np.array_equal(col, rgb[d > 0])
    pw, colw, _ = point_cloud(f, world=True)
    assert np.allclose(pw, pts @ T[:3, :3].T + T[:3, 3]) and np.array_equal(col, colw)


@pytest.mark.parametrize("intr", [PIN, RADTAN], ids=["pinhole", "radtan"])
def test_flow_of_a_plane_matches_reprojection(intr):
    """Fronto-parallel plane at Z, camera b moved and rotated: flow equals OpenCV's projection
    of the back-projected points into b (1e-5 px: float32 depth and the lens inverse)."""
    Z = 0.05
    Ta = make_T(np.eye(3), [0, 0, 0])
    Tb = make_T(Rotation.from_euler("y", 0.02).as_matrix(), [0.002, -0.001, 0.003])
    a, b = frame(plane_depth(intr, Z), Ta, intr), frame(plane_depth(intr, Z), Tb, intr)
    # b sees the plane too, but at its own depths: rebuild b's depth from the plane geometry
    rays = backproject(np.ones(intr.shape, np.float32), intr)
    dirs_w = rays @ Tb[:3, :3].T
    t = (Z - Tb[2, 3]) / dirs_w[..., 2]
    b = frame(t.astype(np.float32), Tb, intr)
    flow, valid = optical_flow(a, b)
    pa = backproject(a.depth, intr).reshape(-1, 3)
    T_b_a = np.linalg.inv(Tb) @ Ta
    pb = pa @ T_b_a[:3, :3].T + T_b_a[:3, 3]
    uv, _ = cv2.projectPoints(pb, np.zeros(3), np.zeros(3), intr.K, intr.distortion_coeffs)
    v, u = np.mgrid[0 : intr.height, 0 : intr.width]
    expect = uv[:, 0].reshape(intr.height, intr.width, 2) - np.stack([u, v], -1)
    inside = ((uv[:, 0, 0] >= 0) & (uv[:, 0, 0] <= intr.width - 1) & (uv[:, 0, 1] >= 0)
              & (uv[:, 0, 1] <= intr.height - 1)).reshape(intr.shape)
    assert np.array_equal(valid, inside)  # out-of-view pixels are invalid, the rest valid
    assert np.abs(flow[valid] - expect[valid]).max() < 1e-4
    assert np.all(flow[~valid] == 0)


def test_flow_marks_occlusion_and_misses():
    """An occluder in front of the plane in frame b hides what is behind it; pixels with no hit
    in a are invalid."""
    Z = 0.05
    Ta, Tb = np.eye(4), make_T(np.eye(3), [0.001, 0, 0])
    da = plane_depth(PIN, Z)
    da[:, :3] = 0
    db = plane_depth(PIN, Z)
    db[10:20, 20:30] = 0.02  # occluder
    flow, valid = optical_flow(frame(da, Ta), frame(db, Tb))
    assert not valid[:, :3].any()
    du = -PIN.fx * 0.001 / Z  # -1 px
    assert np.allclose(flow[valid][:, 0], du, atol=1e-4)
    # a pixel of a whose target lands well inside the occluder is invalid, one far away valid
    assert not valid[15, 26] and valid[40, 40]


def test_warp_moves_images_by_flow():
    img = np.random.default_rng(3).uniform(0, 1, (48, 64)).astype(np.float32)
    flow = np.zeros((48, 64, 2), np.float32)
    flow[..., 0] = 2.0
    out = warp(img, flow)
    assert np.allclose(out[:, :-2], img[:, 2:])
