"""Visibility culling (room.render.culling): chunks and boxes are sound, and culled renders
equal unculled ones."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from room.anatomy.scene import AirwayScene
from room.render import CameraConfig, RenderConfig, culling, make_renderer
from room.render.camera import gl_projection
from room.transforms import invert, look_at

CAM = CameraConfig(width=160, height=128, fx=70.0, fy=70.0, cx=79.5, cy=63.5,
                   distortion_model="none")


@pytest.fixture(scope="module")
def fine_y(yscene):
    """The Y-bifurcation subdivided to ~44k triangles: enough chunks (of 512) for occlusion
    culling to skip some."""
    v, f, idx = trimesh.remesh.subdivide_to_size(yscene.mesh.vertices, yscene.mesh.faces,
                                                 0.006, return_index=True)
    mesh = trimesh.Trimesh(v, f, process=False)
    return AirwayScene(mesh=mesh, collision_mesh=yscene.collision_mesh, tree=yscene.tree,
                       face_branch=yscene.face_branch[idx])


def test_chunks_partition_faces_and_boxes_contain_them(fine_y):
    v, f = fine_y.mesh.vertices, fine_y.mesh.faces
    ch = culling.make_chunks(v, f, max_faces=512)
    assert np.array_equal(np.sort(ch.order), np.arange(len(f)))  # every face exactly once
    assert ch.count.max() <= 512 and ch.count.sum() == len(f)
    assert np.array_equal(ch.start, np.concatenate([[0], np.cumsum(ch.count)[:-1]]))
    for c in range(len(ch.start)):
        pts = v[f[ch.order[ch.start[c]:ch.start[c] + ch.count[c]]].ravel()]
        local = (pts - ch.center[c]) @ ch.axes[c].T
        # inside by at least the margin less float rounding (positions are ~0.1 m: 1e-12 m)
        assert np.all(np.abs(local) <= ch.half[c] - culling.MARGIN_M + 1e-12)
        # the corners are the box's
        corner_local = (ch.corners[c] - ch.center[c]) @ ch.axes[c].T
        assert np.allclose(np.abs(corner_local), ch.half[c], atol=1e-12)
        # box triangles wind outward (queries rasterize only the faces turned to the camera)
        tri = ch.corners[c][culling.BOX_INDICES.reshape(-1, 3)]
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        assert np.all(np.einsum("ij,ij->i", n, tri.mean(axis=1) - ch.center[c]) > 0)


def test_plan_keeps_every_chunk_in_view(fine_y):
    """A chunk with a vertex inside the view frustum is never dropped by the frustum test;
    chunks behind the camera are."""
    v, f = fine_y.mesh.vertices, fine_y.mesh.faces
    ch = culling.make_chunks(v, f, max_faces=512)
    intr = CAM.intrinsics()
    proj = gl_projection(intr)
    T = look_at([0.0, 0.001, 0.03], [0.0, 0.0, 0.1], up=[1, 0, 0])
    cw = invert(T)
    rounds = culling.plan(ch, cw, proj, intr.near)
    planned = np.concatenate(rounds)
    assert len(np.unique(planned)) == len(planned)
    pc = v @ cw[:3, :3].T + cw[:3, 3]
    uv = pc[:, :2] / pc[:, 2:] * [intr.fx, intr.fy] + [intr.cx, intr.cy]
    inview = ((pc[:, 2] > intr.near) & (pc[:, 2] < intr.far) & (uv[:, 0] > -0.5)
              & (uv[:, 0] < intr.width - 0.5) & (uv[:, 1] > -0.5) & (uv[:, 1] < intr.height - 0.5))
    chunk_of = np.repeat(np.arange(len(ch.start)), ch.count)
    face_in = inview[f[ch.order]].any(axis=1)
    must = np.unique(chunk_of[face_in])
    assert np.isin(must, planned).all()
    assert len(planned) < len(ch.start)  # the trachea behind the camera is out of view
    assert all(np.all(np.diff(_dist(ch, T, r)) >= 0) for r in rounds[1:])  # front to back


def _dist(ch, T, ids):
    local = np.einsum("ckj,cj->ck", ch.axes[ids], T[:3, 3] - ch.center[ids])
    return np.linalg.norm(np.maximum(np.abs(local) - ch.half[ids], 0.0), axis=1)


POSES = {
    "trachea_down": look_at([0.001, 0.0005, 0.02], [0.0, 0.0, 0.1], up=[1, 0, 0]),
    "near_carina": look_at([0.0, 0.0, 0.07], [0.003, 0.0, 0.09], up=[1, 0, 0]),
    "left_looking_back": look_at([0.0189, 0.0, 0.107], [0.0, 0.0, 0.06], up=[0, 1, 0]),
    "grazing_wall": look_at([0.0, 0.007, 0.05], [0.0, 0.0085, 0.09], up=[1, 0, 0]),
}


@pytest.fixture(scope="module")
def renderers(fine_y, monkeypatch_module):
    monkeypatch_module.setattr(culling, "CHUNK_FACES", 512)
    with (make_renderer(fine_y, CAM, RenderConfig(), cull=False) as plain,
          make_renderer(fine_y, CAM, RenderConfig(), cull=True) as culled):
        yield plain, culled


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


pytestmark = pytest.mark.gl


@pytest.mark.parametrize("pose", POSES)
def test_occlusion_culling_gives_the_same_frame(renderers, pose):
    """Frustum and occlusion culling alone (back faces drawn) change nothing: bit-identical
    frames, while fewer triangles are drawn."""
    plain, culled = renderers
    assert culled._closed  # the Y is closed with inward normals: back faces may be culled
    culled._raster.cull_back = False
    try:
        a, b = plain.render(POSES[pose]), culled.render(POSES[pose])
    finally:
        culled._raster.cull_back = True
    assert a.valid.mean() > 0.9
    assert a.equals(b)
    assert culled._raster.stats["drawn_faces"] < len(plain.scene.mesh.faces)


@pytest.mark.parametrize("pose", POSES)
def test_back_face_culling_changes_only_back_face_pixels(renderers, pose):
    """With back faces culled as well, a pixel may change only where the unculled render shows
    a back face (exactly, a camera inside a closed surface sees front faces only, but vertex
    snapping to 1/256 px lets one win the depth test here and there at a silhouette; culled,
    the pixel shows the front face behind it) or where its ray grazes the triangle shown
    (within 10 degrees of its plane: there two triangles of a fold come within the depth
    buffer's resolution of each other and the draw order, which culling changes, decides).
    At most 0.1 % of pixels."""
    plain, culled = renderers
    T = POSES[pose]
    a, b = plain.render(T), culled.render(T)
    assert not b.meta["outside"] and not a.meta["outside"]
    diff = a.face_id != b.face_id
    assert diff.mean() <= 1e-3
    if diff.any():
        i = a.intrinsics
        v, u = np.nonzero(diff)
        ray = np.stack([(u - i.cx) / i.fx, (v - i.cy) / i.fy, np.ones(u.size)], axis=1)
        ray /= np.linalg.norm(ray, axis=1, keepdims=True)
        fn = plain.scene.mesh.face_normals
        cos_a, cos_b = (np.einsum("ij,ij->i", fn[f.face_id[diff]] @ T[:3, :3], ray)
                        for f in (a, b))
        assert np.all(cos_b < 0)  # culled: a front face
        assert np.all(cos_a > -np.sin(np.deg2rad(10)))  # a back face (> 0) or grazing
    same = ~diff
    assert np.array_equal(a.depth[same], b.depth[same])
    assert np.array_equal(a.rgb[same & ~_near(diff)], b.rgb[same & ~_near(diff)])
    # the carina hides one bronchus, the trachea the other: about half the wall is skipped
    limit = {"near_carina": 0.6, "left_looking_back": 0.6}.get(pose, 1.0)
    assert culled._raster.stats["drawn_faces"] < limit * len(plain.scene.mesh.faces)


def _near(mask: np.ndarray) -> np.ndarray:
    """Pixels within one pixel of ``mask`` (shading uses screen-space derivatives, and
    auto-exposure a frame-wide median: an exact comparison of colour excludes the ring around
    changed pixels and relies on the median being unmoved by a few pixels)."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= out[:, :-1].copy()
    out[:, :-1] |= out[:, 1:].copy()
    return out


def test_outside_is_found_with_back_faces_culled(renderers):
    """From outside a closed mesh the near wall is culled; meta['outside'] comes from a ray
    cast of the camera centre instead and still says so."""
    _, culled = renderers
    out = culled.render(look_at([0.05, 0.0, 0.04], [0.0, 0.0, 0.04], up=[0, 0, 1]))
    assert out.meta["outside"]
    inside = culled.render(POSES["trachea_down"])
    assert not inside.meta["outside"]


def test_open_mesh_keeps_back_faces(fine_y):
    """A mesh that is not closed (here: the Y with its top cap removed) keeps back faces and
    the pixel-counting outside test."""
    m = fine_y.mesh
    top = np.flatnonzero(m.triangles_center[:, 2] < 1e-6)
    keep = np.setdiff1d(np.arange(len(m.faces)), top)
    open_mesh = trimesh.Trimesh(m.vertices, m.faces[keep], process=False)
    scene = AirwayScene(mesh=open_mesh, collision_mesh=fine_y.collision_mesh, tree=fine_y.tree,
                        face_branch=fine_y.face_branch[keep])
    with make_renderer(scene, CAM, RenderConfig()) as r:
        assert not r._closed and not r._raster.cull_back
        assert r.render(look_at([0.05, 0.0, 0.04], [0.0, 0.0, 0.04], up=[0, 0, 1])).meta["outside"]


def test_gl_objects_are_freed(fine_y):
    """Every GL object of a renderer (lens and culling included) is deleted without error;
    a second renderer in the same process still works afterwards."""
    cam = CameraConfig(width=64, height=48, fx=40.0, fy=40.0, cx=31.5, cy=23.5)  # radtan lens
    r = make_renderer(fine_y, cam, RenderConfig())
    r.render(POSES["trachea_down"])
    r.set_look(RenderConfig(seed=3))  # re-baked texture is freed too
    r._ctx.make_current()
    r._raster.delete_objects()
    r._ctx.close()
    r._ctx = None
    with make_renderer(fine_y, cam, RenderConfig()) as again:
        assert again.render(POSES["trachea_down"]).valid.mean() > 0.9
