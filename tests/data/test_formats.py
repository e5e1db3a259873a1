"""File formats: exact round trips and real third-party readers (cv2, trimesh, evo)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from room.data import formats, schema
from room.transforms import make_T
from tests.data.analytic import plane_frame


def test_flo_roundtrip_and_cv2_reads_it(tmp_path):
    rng = np.random.default_rng(0)
    flow = rng.normal(0, 5, (7, 11, 2)).astype(np.float32)
    f = tmp_path / "a.flo"
    f.write_bytes(formats.encode_flo(flow))
    assert np.array_equal(formats.decode_flo(f), flow)
    assert np.array_equal(cv2.readOpticalFlow(str(f)), flow)


def test_depth_png_roundtrip_is_exact(tmp_path):
    frame = schema.canonical_frame(plane_frame(3))
    q = schema.encode_depth(frame.depth)
    back = schema.decode_depth(formats.decode_png(formats.encode_png(q)))
    assert back.dtype == np.float32 and np.array_equal(back, frame.depth)
    # canonicalization is idempotent and within half a quantization step of the raw depth
    assert np.array_equal(schema.canonical_frame(frame).depth, frame.depth)
    raw = plane_frame(3).depth
    assert np.abs(raw - frame.depth).max() <= 0.5 * schema.DEPTH_SCALE_M * 1.001
    # a generic reader sees the documented 16-bit values
    f = tmp_path / "d.png"
    f.write_bytes(formats.encode_png(q))
    assert np.array_equal(cv2.imread(str(f), cv2.IMREAD_UNCHANGED), q)


def test_normals_segmentation_face_id_roundtrip():
    frame = schema.canonical_frame(plane_frame(1))
    n = schema.decode_normals(formats.decode_png(formats.encode_png(
        schema.encode_normals(frame.normals))))
    assert np.array_equal(n, frame.normals)
    assert np.all(n[frame.depth == 0] == 0)
    # the 16-bit grid keeps unit length to ~1/32767 (half a step per component)
    hit = frame.depth > 0
    assert np.abs(np.linalg.norm(n[hit], axis=1) - 1).max() < 1e-4
    s = schema.decode_segmentation(formats.decode_png(formats.encode_png(
        schema.encode_segmentation(frame.segmentation))))
    assert np.array_equal(s, frame.segmentation)
    fid = schema.decode_face_id(formats.decode_png(formats.encode_png(
        schema.encode_face_id(frame.face_id))))
    assert np.array_equal(fid, frame.face_id) and fid.min() == -1 and fid.max() > 65535


def test_ply_roundtrip_and_trimesh_reads_it(tmp_path):
    rng = np.random.default_rng(1)
    p = rng.normal(size=(50, 3)).astype(np.float32)
    nrm = rng.normal(size=(50, 3)).astype(np.float32)
    c = rng.integers(0, 256, (50, 3), dtype=np.uint8)
    f = tmp_path / "c.ply"
    f.write_bytes(formats.encode_ply(p, c, nrm))
    p2, c2, n2 = formats.decode_ply(f)
    assert np.array_equal(p, p2) and np.array_equal(c, c2) and np.array_equal(nrm, n2)
    cloud = trimesh.load(f)
    assert isinstance(cloud, trimesh.PointCloud)
    assert np.allclose(cloud.vertices, p)
    assert np.array_equal(np.asarray(cloud.colors)[:, :3], c)


def test_tum_file_read_by_evo(tmp_path):
    file_interface = pytest.importorskip("evo.tools.file_interface")
    rng = np.random.default_rng(2)
    poses = np.stack([make_T(Rotation.random(random_state=k).as_matrix(), rng.normal(size=3))
                      for k in range(5)])
    times = np.arange(5) / 30.0
    f = tmp_path / "poses_tum.txt"
    f.write_bytes(formats.encode_tum(times, poses))
    traj = file_interface.read_tum_trajectory_file(str(f))
    assert traj.num_poses == 5
    # 9 decimals in the file: positions to 1e-9 m, rotations to ~1e-9 rad
    assert np.allclose(np.stack(traj.poses_se3), poses, atol=1e-8)
    assert np.allclose(traj.timestamps, times, atol=1e-6)
    t2, p2 = formats.decode_tum(f)
    assert np.allclose(p2, poses, atol=1e-8)
