"""Rendered flow (reprojection, photometric check) and lens distortion against pinhole renders
and Embree, on the Y-bifurcation. Module-scoped renderers: GL contexts are costly on CPU."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from trimesh.ray.ray_pyembree import RayMeshIntersector

from room.render import CameraConfig, RenderConfig, make_renderer
from room.render.geometry import backproject, optical_flow, warp
from room.transforms import look_at

pytestmark = pytest.mark.gl

SIZE = dict(width=112, height=112, fx=71.0, fy=71.0, cx=54.8, cy=56.9)
PIN = CameraConfig(**SIZE, distortion_model="none")
LENS = CameraConfig(**SIZE, distortion_model="radtan")  # the reference bronchoscope lens
LOOK = RenderConfig(exposure="fixed", gain=2.0)
POSE_A = look_at([0.002, 0.001, 0.03], [0.0, 0.0, 0.1], up=[1, 0, 0])


def _moved(T, dz=0.0015, yaw=0.03):
    c, s = np.cos(yaw), np.sin(yaw)
    M = np.eye(4)
    M[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    M[2, 3] = dz
    return T @ M  # move in the camera frame: forward and turn


@pytest.fixture(scope="module")
def pin(yscene):
    with make_renderer(yscene, PIN, LOOK) as r:
        yield r


@pytest.fixture(scope="module")
def lens(yscene):
    with make_renderer(yscene, LENS, LOOK) as r:
        yield r


@pytest.mark.parametrize("which", ["pin", "lens"])
def test_rendered_flow_reprojection_and_photometric(which, request):
    r = request.getfixturevalue(which)
    a, b = r.render(POSE_A), r.render(_moved(POSE_A))
    flow, valid = optical_flow(a, b)
    assert valid.mean() > 0.5
    v, u = np.mgrid[0 : a.intrinsics.height, 0 : a.intrinsics.width]
    tu, tv = u + flow[..., 0], v + flow[..., 1]
    # 1. the same triangle is seen at the target, or one sharing a vertex with it: the nearest
    #    pixel centre is up to 0.7 px from the exact target, and the y-scene's wall triangles
    #    are long slivers only a few pixels wide
    fb = b.face_id[np.rint(tv).astype(int).clip(0, 111), np.rint(tu).astype(int).clip(0, 111)]
    fa = a.face_id
    faces = r.scene.mesh.faces
    share = (faces[fa[valid]][:, :, None] == faces[fb[valid]][:, None, :]).any(axis=(1, 2))
    assert (fa[valid] == fb[valid]).mean() > 0.6 and share.mean() > 0.99
    # 2. independent reprojection: b's depth, back-projected at the (bilinear) target and taken
    #    to the world, is a's world point (bilinear interpolation of depth over one pixel of a
    #    smooth wall: well under 1 % of depth for 99 % of pixels)
    pb = backproject(b.depth, b.intrinsics)
    pbx = np.stack([cv2.remap(pb[..., k].astype(np.float32), tu.astype(np.float32),
                              tv.astype(np.float32), cv2.INTER_LINEAR) for k in range(3)], -1)
    wa = backproject(a.depth, a.intrinsics) @ a.T_world_cam[:3, :3].T + a.T_world_cam[:3, 3]
    wb = pbx @ b.T_world_cam[:3, :3].T + b.T_world_cam[:3, 3]
    err = np.linalg.norm(wa - wb, axis=-1)[valid] / a.depth[valid]
    assert np.quantile(err, 0.99) < 0.01
    # 3. photometric: the lights move with the scope, so shading changes when it translates;
    #    for a turn about the lens centre (LEDs move by 1.2 mm x 0.05 rad = 60 um) the image must
    #    warp back onto itself up to bilinear resampling of fine texture (vessels, capillaries),
    #    bump shading from screen-space derivatives (per 2x2 pixel quad) and the spot-cone edge:
    #    a few grey levels on average, against >10 for the unwarped pair
    c = r.render(_moved(POSE_A, dz=0.0, yaw=0.05))
    fc, vc = optical_flow(a, c)
    wc = warp(c.rgb.astype(np.float32), fc, vc)
    d_warp = np.abs(wc - a.rgb)[vc].mean()
    d_none = np.abs(c.rgb.astype(np.float32) - a.rgb)[vc].mean()
    assert d_warp < 0.35 * d_none and d_warp < 5.0, (d_warp, d_none)
    # backward flow of the same pair is consistent: a -> b -> a returns (1e-3 px tolerance of
    # float32 depth; only pixels valid both ways and away from triangle edges)
    back, vback = optical_flow(b, a)
    bu = cv2.remap(back[..., 0], tu.astype(np.float32), tv.astype(np.float32), cv2.INTER_LINEAR)
    m = valid & cv2.remap(vback.astype(np.uint8), tu.astype(np.float32), tv.astype(np.float32),
                          cv2.INTER_NEAREST).astype(bool)
    assert np.quantile(np.abs(flow[..., 0] + bu)[m], 0.95) < 0.05


def test_distorted_ground_truth_is_exact_per_ray(lens, yscene):
    """Every distorted pixel's depth is the Embree hit along that pixel's own (undistorted) ray
    (Embree: float32, ~1e-7 relative; 1e-4 allowed on shared edges, see test_render_gl)."""
    f = lens.render(POSE_A)
    assert f.meta["valid_fraction"] == 1.0
    p = backproject(f.depth, f.intrinsics)[f.valid]
    T = f.T_world_cam
    dirs = p @ T[:3, :3].T
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    loc, idx, tri = RayMeshIntersector(yscene.mesh).intersects_location(
        np.broadcast_to(T[:3, 3], dirs.shape), dirs, multiple_hits=False)
    dist = np.full(len(p), np.nan)
    dist[idx] = np.linalg.norm(loc - T[:3, 3], axis=1)
    rel = np.abs(dist - np.linalg.norm(p, axis=1)) / np.linalg.norm(p, axis=1)
    assert np.quantile(rel, 0.999) < 1e-6 and rel.max() < 1e-4
    fid = np.full(len(p), -2)
    fid[idx] = tri
    assert (fid == f.face_id[f.valid]).mean() > 0.99


def test_undistorting_the_lens_render_gives_the_pinhole_render(lens, pin):
    """cv2.undistort of the distorted RGB, depth and segmentation agrees with a pinhole render
    of the same K (differences: double bilinear resampling of RGB; nearest-pixel jumps of
    labels at branch borders; bilinear depth within 1 % on smooth walls)."""
    fl, fp = lens.render(POSE_A), pin.render(POSE_A)
    i = fl.intrinsics
    mx, my = cv2.initUndistortRectifyMap(i.K, i.distortion_coeffs, None, i.K, i.shape[::-1],
                                         cv2.CV_32FC1)
    inside = (mx >= 1) & (mx <= i.width - 2) & (my >= 1) & (my <= i.height - 2)
    rgb_u = cv2.remap(fl.rgb, mx, my, cv2.INTER_LINEAR)
    d_rgb = np.abs(rgb_u.astype(float) - fp.rgb)[inside]
    assert d_rgb.mean() < 4 and np.quantile(d_rgb, 0.99) < 40
    seg_u = cv2.remap(fl.segmentation, mx, my, cv2.INTER_NEAREST)
    assert (seg_u == fp.segmentation)[inside].mean() > 0.99
    dep_u = cv2.remap(fl.depth, mx, my, cv2.INTER_LINEAR)
    rel = np.abs(dep_u - fp.depth)[inside] / fp.depth[inside]
    assert np.quantile(rel, 0.99) < 0.01


@pytest.mark.parametrize("which", ["pin", "lens"])
def test_render_rgbd_equals_render(which, request):
    """The RGB + depth fast path returns exactly the full frame's rgb and depth (pinhole and
    lens-corrected), bit for bit."""
    r = request.getfixturevalue(which)
    T = _moved(POSE_A)
    f = r.render(T)
    rgb, depth = r.render_rgbd(T)
    assert f.valid.mean() > 0.5  # a real view, not an empty frame
    assert np.array_equal(rgb, f.rgb) and rgb.dtype == np.uint8
    assert np.array_equal(depth, f.depth) and depth.dtype == np.float32
