"""Core types: intrinsics validation, rigid transforms, Frame shape contract, scene round trip."""

from __future__ import annotations

import numpy as np
import pytest

from room import transforms as tf
from room.anatomy.scene import AirwayScene
from room.errors import ConfigError, SceneError
from room.types import Frame, Intrinsics


def test_intrinsics_validation_and_scaling():
    k = Intrinsics(200, 200, 127.0, 127.0, 97.5, 101.6, distortion_model="radtan",
                   distortion=(-0.101, -0.152, 0.0, 0.0, 0.102))
    assert k.K[0, 2] == 97.5 and k.is_distorted
    k3 = k.scaled(600, 600)
    assert k3.fx == pytest.approx(381.0)
    # pixel-centre convention: the image centre maps to the image centre
    assert Intrinsics(200, 200, 1, 1, 99.5, 99.5).scaled(600, 600).cx == pytest.approx(299.5)
    assert Intrinsics.from_dict(k.to_dict()) == k
    for bad in (dict(fx=-1.0), dict(near=0.1, far=0.05), dict(cx=500.0), dict(width=3),
                dict(distortion_model="fisheye", distortion=(1.0, 2.0))):
        args = dict(width=200, height=200, fx=100.0, fy=100.0, cx=99.5, cy=99.5) | bad
        with pytest.raises(ConfigError):
            Intrinsics(**args)


def test_rigid_transforms_roundtrip():
    rng = np.random.default_rng(0)
    from scipy.spatial.transform import Rotation

    T = tf.make_T(Rotation.random(random_state=1).as_matrix(), rng.normal(size=3))
    assert tf.is_rigid(T)
    assert np.allclose(tf.invert(T) @ T, np.eye(4), atol=1e-12)
    assert np.allclose(tf.from_tum(tf.to_tum(T)), T, atol=1e-12)
    p = rng.normal(size=(5, 3))
    assert np.allclose(tf.apply(tf.invert(T), tf.apply(T, p)), p)
    S = T.copy()
    S[:3, :3] *= 1.01  # scaled: not rigid
    with pytest.raises(ConfigError, match="not a rigid"):
        tf.check_rigid(S)


def test_look_at_is_opencv():
    T = tf.look_at([0, 0, 0], [0, 0, 1], up=[0, -1, 0])
    # camera z forward = world +z; image up = world -y, so camera y (down) = world +y
    assert np.allclose(T[:3, 2], [0, 0, 1]) and np.allclose(T[:3, 1], [0, 1, 0])
    assert tf.is_rigid(T)


def _frame(k: Intrinsics) -> Frame:
    h, w = k.shape
    return Frame(
        rgb=np.zeros((h, w, 3), np.uint8), rgb_clean=np.zeros((h, w, 3), np.uint8),
        depth=np.zeros((h, w), np.float32), normals=np.zeros((h, w, 3), np.float32),
        segmentation=np.full((h, w), -1, np.int32), face_id=np.full((h, w), -1, np.int32),
        T_world_cam=np.eye(4), intrinsics=k,
    )


def test_frame_shape_contract():
    k = Intrinsics(32, 24, 30.0, 30.0, 15.5, 11.5)
    f = _frame(k)
    assert f.equals(f.replace(meta={"x": 1}))
    with pytest.raises(ValueError, match="depth"):
        f.replace(depth=np.zeros((24, 32), np.float64))


def test_scene_roundtrip(yscene, tmp_path):
    p = yscene.save(tmp_path / "scene")
    s = AirwayScene.load(p)
    assert np.array_equal(s.face_branch, yscene.face_branch)
    assert np.allclose(s.mesh.vertices, yscene.mesh.vertices, atol=1e-6)
    assert s.tree.branches_per_generation() == {0: 1, 1: 2}
    assert s.tree.path_to(2) == [0, 2]
    with pytest.raises(SceneError, match="exists"):
        yscene.save(p)
    (p / "tree.json").unlink()
    with pytest.raises(SceneError, match="incomplete"):
        AirwayScene.load(p)


def test_y_scene_normals_point_inward(yscene):
    # a point on the trachea axis sees every wall face from its front side
    m = yscene.mesh
    trachea = yscene.face_branch == 0
    c = m.triangles_center[trachea]
    axis_pt = np.stack([np.zeros(len(c)), np.zeros(len(c)), c[:, 2]], axis=1)
    side = c[:, 2] < 0.07  # away from the caps and the junction
    cap = (c[:, 2] < 1e-6)
    sel = side & ~cap
    assert np.all(np.einsum("ij,ij->i", m.face_normals[trachea][sel], axis_pt[sel] - c[sel]) > 0)


def test_scene_folder_has_normal_permissions(yscene, tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        p = yscene.save(tmp_path / "perm")
    finally:
        os.umask(umask)
    assert (p.stat().st_mode & 0o777) == 0o755
