"""Renderer ground truth against closed forms (cylinder, sphere), conventions, distortion, bad
input. One renderer per scene and camera, module-scoped: GL contexts are costly on CPU."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from room.errors import ConfigError
from room.render import CameraConfig, RenderConfig, make_renderer
from room.render.geometry import backproject
from room.transforms import apply, look_at, make_T
from tests.render import scenes

pytestmark = pytest.mark.gl

PIN = CameraConfig(width=96, height=80, fx=60.0, fy=60.0, cx=47.3, cy=39.6,
                   distortion_model="none")


@pytest.fixture(scope="module")
def cyl():
    with make_renderer(scenes.cylinder_scene(), PIN, RenderConfig()) as r:
        yield r


@pytest.fixture(scope="module")
def sph():
    with make_renderer(scenes.sphere_scene(), PIN, RenderConfig()) as r:
        yield r


def _rays_world(frame):
    """Unit-z camera rays (x, y, 1) of every pixel rotated to world, and the camera centre."""
    i = frame.intrinsics
    v, u = np.mgrid[0 : i.height, 0 : i.width].astype(float)
    d = np.stack([(u - i.cx) / i.fx, (v - i.cy) / i.fy, np.ones_like(u)], axis=-1)
    return d @ frame.T_world_cam[:3, :3].T, frame.T_world_cam[:3, 3], d


def _float32_tol(frame, cos_inc):
    """Depth is the pixel's own ray intersected with the plane of the triangle the rasterizer
    assigns to it, computed in float32 relative to the camera: e = n . (v0 - c) and n . ray
    carry ~1e-7 relative rounding each (a few ulps), and z = e / (n . ray) amplifies the
    latter by 1 / cos(incidence). Bound: (5e-7 z + 2e-8 m) / cos(incidence)."""
    return (5e-7 * frame.depth + 2e-8) / np.maximum(cos_inc, 1e-3)


CYL_POSES = {
    "on_axis": look_at([0, 0, 0.03], [0, 0, 0.2], up=[1, 0, 0]),
    "off_axis_tilted": look_at([0.004, -0.003, 0.05], [-0.006, 0.004, 0.07], up=[0, 0, 1]),
    "facing_wall": look_at([0.0, 0.005, 0.1], [0.0, -0.009, 0.1], up=[0, 0, 1]),
}


@pytest.mark.parametrize("pose", CYL_POSES)
def test_cylinder_depth_normals_points(cyl, pose):
    f = cyl.render(CYL_POSES[pose])
    assert not f.meta["empty"] and not f.meta["outside"]
    dw, c, d = _rays_world(f)
    # closed form: |c_xy + t d_xy| = R, positive root; z-depth = t since d_z = 1
    a = dw[..., 0] ** 2 + dw[..., 1] ** 2
    b = 2 * (c[0] * dw[..., 0] + c[1] * dw[..., 1])
    c0 = c[0] ** 2 + c[1] ** 2 - scenes.CYL_R**2
    t = (-b + np.sqrt(b * b - 4 * a * c0)) / (2 * np.maximum(a, 1e-30))
    hit_z = c[2] + t * dw[..., 2]
    p = c + t[..., None] * dw
    n_true = -np.concatenate([p[..., :2], np.zeros_like(p[..., :1])], -1) / scenes.CYL_R
    n_cam = n_true @ f.T_world_cam[:3, :3]
    ray = d / np.linalg.norm(d, axis=-1, keepdims=True)
    cos_inc = -(n_cam * ray).sum(-1)
    # wall pixels away from the caps and not at grazing incidence (> 80 deg)
    m = (f.depth > 0) & (hit_z > 0.002) & (hit_z < scenes.CYL_L - 0.002) & (cos_inc > 0.17)
    assert m.mean() > 0.3
    sag = scenes.CYL_R * (1 - np.cos(np.pi / scenes.CYL_SECTIONS))  # 85 nm
    tol = sag / cos_inc + _float32_tol(f, cos_inc)
    err = np.abs(f.depth - t)
    assert np.all(err[m] <= tol[m]), err[m].max()
    # normals: facet normal vs radial normal, at most half a facet angle apart (+ float32)
    ang = np.arccos(np.clip((f.normals * n_cam).sum(-1), -1, 1))
    assert ang[m].max() <= np.pi / scenes.CYL_SECTIONS + 1e-4
    # back-projected points lie on the surface: radial distance within sagitta + depth error
    pw = apply(f.T_world_cam, backproject(f.depth, f.intrinsics)[m])
    r = np.linalg.norm(pw[:, :2], axis=1)
    assert np.all(np.abs(r - scenes.CYL_R) <= sag + tol[m] * 1.0 + 1e-9)


SPH_POSES = {
    "centre": make_T(np.eye(3), [0, 0, 0]),
    "off_centre": look_at([0.004, 0.003, -0.005], [-0.01, 0.0, 0.01], up=[0, 1, 0]),
}


@pytest.mark.parametrize("pose", SPH_POSES)
def test_sphere_depth_normals_points(sph, pose):
    f = sph.render(SPH_POSES[pose])
    dw, c, d = _rays_world(f)
    a = (dw * dw).sum(-1)
    b = 2 * (dw @ c)
    c0 = c @ c - scenes.SPHERE_R**2
    t = (-b + np.sqrt(b * b - 4 * a * c0)) / (2 * a)
    p = c + t[..., None] * dw
    n_cam = (-p / scenes.SPHERE_R) @ f.T_world_cam[:3, :3]
    ray = d / np.linalg.norm(d, axis=-1, keepdims=True)
    cos_inc = -(n_cam * ray).sum(-1)
    m = (f.depth > 0) & (cos_inc > 0.17)
    assert f.valid.all() and m.mean() > 0.9  # inside a closed sphere every pixel hits
    sag, ang_max = scenes.sphere_tessellation_error(sph.scene.mesh)
    tol = sag / cos_inc + _float32_tol(f, cos_inc)
    assert np.all(np.abs(f.depth - t)[m] <= tol[m])
    ang = np.arccos(np.clip((f.normals * n_cam).sum(-1), -1, 1))
    assert ang[m].max() <= ang_max + 1e-4
    pw = apply(f.T_world_cam, backproject(f.depth, f.intrinsics)[m])
    assert np.all(np.abs(np.linalg.norm(pw, axis=1) - scenes.SPHERE_R) <= sag + tol[m])


def test_marker_lands_on_expected_pixel():
    """A small triangle centred at a known camera-frame point covers exactly the pixel the
    pinhole formula predicts, with its exact depth; the camera pose is arbitrary."""
    T = look_at([0.01, 0.02, 0.03], [0.05, 0.0, 0.02], up=[0, 0, 1])
    i = PIN.intrinsics()
    u, v, z = 61.1, 23.9, 0.03  # 0.14 px from the centre of pixel (61, 24)
    p_cam = np.array([(u - i.cx) * z / i.fx, (v - i.cy) * z / i.fy, z])
    # circumradius 0.6 px, inradius 0.3 px: covers that pixel centre and no other
    sc = scenes.marker_scene(T, p_cam, 0.6 * z / i.fx)  # the marker is face 0
    with make_renderer(sc, PIN, RenderConfig()) as r:
        f = r.render(T)
    hits = np.argwhere(f.face_id == 0)
    assert len(hits) >= 1
    assert np.all(hits == [round(v), round(u)]), (hits, (v, u))
    assert f.depth[round(v), round(u)] == pytest.approx(p_cam[2], rel=1e-6)


def test_depth_lands_on_the_mesh_and_segmentation(yscene):
    """Back-projected depth through T_world_cam lands on the mesh: on the plane of its own
    triangle (to float32 rounding) and where Embree's independent ray cast hits;
    segmentation = face_branch[face_id]; looking down the trachea,
    both main bronchi are in view."""
    from trimesh.ray.ray_pyembree import RayMeshIntersector

    cam = dataclasses.replace(PIN, width=128, height=128, fx=70.0, fy=70.0, cx=63.5, cy=63.5)
    with make_renderer(yscene, cam, RenderConfig()) as r:
        f = r.render(look_at([0.001, 0.0, 0.02], [0.0, 0.0, 0.1], up=[1, 0, 0]))
    assert set(np.unique(f.segmentation)) == {0, 1, 2}
    assert np.array_equal(f.segmentation, yscene.face_branch[f.face_id])
    pw = apply(f.T_world_cam, backproject(f.depth, f.intrinsics)[f.valid])
    fid = f.face_id[f.valid]
    m = yscene.mesh
    own = np.abs(((pw - m.triangles[fid][:, 0]) * m.face_normals[fid]).sum(1))
    assert own.max() < 2e-8  # float32 ray-plane solve, see _float32_tol (z < 0.1 m here)
    c = f.T_world_cam[:3, 3]
    dirs = (pw - c) / np.linalg.norm(pw - c, axis=1, keepdims=True)
    loc, ray_idx, _ = RayMeshIntersector(m).intersects_location(
        np.broadcast_to(c, dirs.shape), dirs, multiple_hits=False)
    dist_embree = np.full(len(pw), np.nan)
    dist_embree[ray_idx] = np.linalg.norm(loc - c, axis=1)
    dist_ours = np.linalg.norm(pw - c, axis=1)
    assert np.all(np.isfinite(dist_embree))
    rel = np.abs(dist_embree - dist_ours) / dist_ours
    # Embree is float32 (~1e-7 relative); a ray through a shared edge of a crease may be given
    # to either triangle by Embree and by the rasterizer (their planes meet on the edge, so the
    # difference stays small): allow 1e-4 there, 1e-6 for 99.9 % of pixels.
    assert np.quantile(rel, 0.999) < 1e-6 and rel.max() < 1e-4


def test_camera_outside_and_bad_pose(cyl):
    away = cyl.render(look_at([0.05, 0, 0.1], [0.2, 0, 0.1], up=[0, 0, 1]))
    assert away.meta["empty"] and not away.valid.any()
    assert np.all(away.segmentation == -1) and np.all(away.face_id == -1)
    outside = cyl.render(look_at([0.05, 0, 0.1], [0, 0, 0.1], up=[0, 0, 1]))
    assert outside.meta["outside"] and not outside.meta["empty"]
    T = np.eye(4)
    T[:3, :3] *= 1.1
    with pytest.raises(ConfigError):
        cyl.render(T)
    with pytest.raises(ConfigError):
        cyl.render(np.eye(3))


def test_frame_fields_and_determinism(cyl):
    T = CYL_POSES["off_axis_tilted"]
    a, b = cyl.render(T, index=3, time_s=0.1), cyl.render(T, index=3, time_s=0.1)
    assert a.equals(b) and a.index == 3 and a.time_s == 0.1
    assert np.array_equal(a.rgb, a.rgb_clean)
    assert a.meta["gl"]["platform"] in ("egl", "osmesa") and a.meta["gl"]["renderer"]
    assert cyl.gl_info == a.meta["gl"]
    assert a.rgb[a.valid].mean() > 20  # lit


def test_gpu_ground_truth_matches_float64_reference(cyl):
    """The shader's float32 ray-plane depth and normals equal the float64 numpy reference for
    the same triangle ids (see _float32_tol: 1e-6 relative except at grazing incidence)."""
    T = CYL_POSES["off_axis_tilted"]
    f = cyl.render(T)
    depth64, normals64 = cyl._depth_normals(f.face_id, T)
    hit = f.valid
    rel = np.abs(f.depth - depth64)[hit] / depth64[hit]
    assert np.quantile(rel, 0.99) < 1e-6 and rel.max() < 1e-4
    assert np.abs(f.normals - normals64)[hit].max() < 1e-6
    assert np.array_equal(hit, depth64 > 0)
