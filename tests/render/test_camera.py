"""Camera model: defaults, OpenCV -> GL projection, lens model round trips (no GL needed)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from room.errors import ConfigError
from room.render.camera import (
    CameraConfig,
    distort,
    gl_projection,
    pixel_rays,
    project,
    undistort_pixels,
)
from room.types import Intrinsics


def test_default_is_the_reference_bronchoscope_scaled():
    i = CameraConfig().intrinsics()
    assert (i.width, i.height) == (600, 600)
    assert i.fx == pytest.approx(127 * 3) and i.fy == pytest.approx(127 * 3)
    assert i.cx == pytest.approx((97.5 + 0.5) * 3 - 0.5)
    assert i.distortion_model == "radtan"
    assert i.distortion_coeffs == pytest.approx([-0.101, -0.152, 0, 0, 0.102])
    assert 0 < i.near <= 0.001 and i.far >= 0.2
    small = CameraConfig(width=200, height=200).intrinsics()
    assert (small.fx, small.cx, small.cy) == pytest.approx((127, 97.5, 101.6))


def test_fov_and_explicit_focal():
    i = CameraConfig(width=100, height=80, fov_deg=90, distortion_model="none").intrinsics()
    assert i.fx == pytest.approx(50.0) and i.fy == pytest.approx(50.0)
    j = CameraConfig(width=64, height=64, fx=40, cx=31.5, cy=31.5).intrinsics()
    assert (j.fx, j.fy, j.cx) == (40, 40, 31.5)


@pytest.mark.parametrize("kw", [dict(width=0), dict(near=0.1, far=0.01), dict(fov_deg=200),
                                dict(fx=-3.0), dict(cx=1e4), dict(distortion_model="spline")])
def test_impossible_intrinsics_raise_config_error(kw):
    with pytest.raises(ConfigError):
        CameraConfig(**{"width": 64, "height": 64, **kw}).intrinsics()


def test_gl_projection_maps_points_to_their_pixels():
    """A camera-frame point must land, after the GL matrix, viewport and row order used by the
    rasterizer, on the pixel that the OpenCV pinhole formula gives (1e-9 px: float64 algebra)."""
    i = Intrinsics(width=64, height=48, fx=40.0, fy=42.0, cx=30.2, cy=25.7, near=0.001, far=1.0)
    rng = np.random.default_rng(0)
    p = np.column_stack([rng.uniform(-0.02, 0.02, 50), rng.uniform(-0.02, 0.02, 50),
                         rng.uniform(0.01, 0.5, 50)])
    clip = np.column_stack([p, np.ones(50)]) @ gl_projection(i).T
    ndc = clip[:, :3] / clip[:, 3:]
    col = (ndc[:, 0] + 1) / 2 * i.width - 0.5  # window x of a fragment centre is col + 0.5
    row = (ndc[:, 1] + 1) / 2 * i.height - 0.5  # first row read back is window y = 0.5
    uv = project(p, i)
    assert np.allclose(col, uv[:, 0], atol=1e-9) and np.allclose(row, uv[:, 1], atol=1e-9)
    # depth: near -> -1, far -> +1, monotonic
    z = np.array([[0, 0, i.near, 1], [0, 0, i.far, 1]]) @ gl_projection(i).T
    assert z[:, 2] / z[:, 3] == pytest.approx([-1.0, 1.0])


@pytest.mark.parametrize("model,coeffs", [("radtan", (-0.101, -0.152, 0.001, -0.002, 0.102)),
                                          ("fisheye", (0.05, -0.02, 0.01, -0.003))])
def test_lens_model_matches_opencv_and_inverts(model, coeffs):
    """Our forward model equals OpenCV's (1e-9 px) and undistort_pixels inverts it (1e-6 px)."""
    i = Intrinsics(width=120, height=100, fx=76.0, fy=76.0, cx=58.5, cy=50.8,
                   distortion_model=model, distortion=coeffs)
    rng = np.random.default_rng(1)
    xy = rng.uniform(-0.7, 0.7, (200, 2))
    p = np.column_stack([xy, np.ones(200)])
    uv = project(p, i)
    if model == "radtan":
        ref = cv2.projectPoints(p, np.zeros(3), np.zeros(3), i.K, i.distortion_coeffs)[0][:, 0]
    else:
        ref = cv2.fisheye.projectPoints(p[:, None], np.zeros(3), np.zeros(3), i.K,
                                        i.distortion_coeffs)[0][:, 0]
    assert np.abs(uv - ref).max() < 1e-9
    back = undistort_pixels(uv, i)
    assert np.abs(back - xy).max() * i.fx < 1e-6
    rays = pixel_rays(i)
    xd, yd = distort(rays[..., 0], rays[..., 1], i)
    v, u = np.mgrid[0:100, 0:120]
    assert np.abs(xd * i.fx + i.cx - u).max() < 1e-6 and np.abs(yd * i.fy + i.cy - v).max() < 1e-6
