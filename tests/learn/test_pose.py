"""Trajectory metrics: hand-checkable cases, and equality with evo (GPL-3, tests only) on the
same TUM files."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from room.errors import ConfigError, InputFileError
from room.learn.pose import (
    PoseEvalConfig,
    align_poses,
    associate,
    evaluate_poses,
    evaluate_tum,
    read_tum,
    umeyama,
    write_tum,
)
from room.transforms import make_T


def _trajectory(n=60, seed=0):
    """A curved GT path and a noisy, rotated, scaled, shifted estimate of it."""
    rng = np.random.default_rng(seed)
    s = np.linspace(0, 1, n)
    pos = np.stack([0.02 * np.sin(3 * s), 0.01 * np.cos(2 * s), 0.1 * s], 1)
    rot = Rotation.from_rotvec(np.stack([0.3 * s, 0.5 * np.sin(2 * s), 0.1 * s], 1)).as_matrix()
    gt = np.stack([make_T(R, p) for R, p in zip(rot, pos, strict=True)])
    G = make_T(Rotation.from_rotvec([0.2, -0.4, 1.0]).as_matrix(), [0.5, -1.0, 2.0])
    est = []
    for T in gt:
        noise = make_T(Rotation.from_rotvec(rng.normal(0, 0.02, 3)).as_matrix(),
                       rng.normal(0, 0.002, 3))
        E = G @ T @ noise
        E[:3, 3] = 0.5 * E[:3, 3]  # scale drift of a monocular method
        est.append(E)
    return np.linspace(0, 2, n), gt, np.stack(est)


def test_umeyama_recovers_similarity():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(20, 3))
    R = Rotation.from_rotvec([0.3, -0.2, 0.9]).as_matrix()
    dst = 2.5 * src @ R.T + [1.0, 2.0, 3.0]
    s, R2, t = umeyama(src, dst)
    assert s == pytest.approx(2.5) and np.allclose(R2, R) and np.allclose(t, [1, 2, 3])


def test_perfect_estimate_has_zero_error():
    _, gt, _ = _trajectory()
    G = make_T(Rotation.from_rotvec([0.1, 0.2, 0.3]).as_matrix(), [1.0, 0.0, 0.0])
    est = np.stack([G @ T for T in gt])
    est[:, :3, 3] *= 3.0
    r = evaluate_poses(gt, est, PoseEvalConfig())
    assert r["ate_m"]["rmse"] < 1e-12 and r["rpe_rot_deg"]["max"] < 1e-5
    assert r["scale"] == pytest.approx(1 / 3)
    # the same estimate without scale correction has an error
    assert evaluate_poses(gt, est, PoseEvalConfig(alignment="se3"))["ate_m"]["rmse"] > 1e-3


def test_rpe_by_hand():
    # GT moves 1 m along x per frame; the estimate moves 1.1 m: RPE translation 0.1 m per pair
    gt = np.stack([make_T(t=[i, 0, 0]) for i in range(5)])
    est = np.stack([make_T(t=[1.1 * i, 0, 0]) for i in range(5)])
    r = evaluate_poses(gt, est, PoseEvalConfig(alignment="none"))
    assert r["rpe_trans_m"]["rmse"] == pytest.approx(0.1)
    assert r["ate_m"]["max"] == pytest.approx(0.4)
    assert r["ate_m"]["mean"] == pytest.approx(0.2)


def test_tum_roundtrip_and_association(tmp_path):
    t, gt, _ = _trajectory(10)
    write_tum(tmp_path / "a.txt", t, gt)
    t2, gt2 = read_tum(tmp_path / "a.txt")
    np.testing.assert_allclose(t2, t, atol=1e-9)
    np.testing.assert_allclose(gt2, gt, atol=1e-9)
    ig, ie = associate(t, t[[0, 3, 4]] + 0.001, 0.005)
    assert ig.tolist() == [0, 3, 4] and ie.tolist() == [0, 1, 2]
    assert len(associate(t, t + 0.5, 0.01)[0]) == 0
    (tmp_path / "bad.txt").write_text("0 1 2 3\n")
    with pytest.raises(InputFileError, match="8 numbers"):
        read_tum(tmp_path / "bad.txt")
    with pytest.raises(InputFileError, match="not found"):
        read_tum(tmp_path / "none.txt")
    with pytest.raises(ConfigError):
        PoseEvalConfig(alignment="sim4")


@pytest.mark.parametrize("alignment", ["sim3", "se3"])
def test_equals_evo(tmp_path, alignment):
    """ATE and RPE equal evo's (APE/RPE, align=True, correct_scale for sim3) within 1e-6."""
    pytest.importorskip("evo")
    from evo.core import metrics, sync
    from evo.tools import file_interface

    t, gt, est = _trajectory()
    write_tum(tmp_path / "gt.txt", t, gt)
    write_tum(tmp_path / "est.txt", t, est)
    ours = evaluate_tum(tmp_path / "gt.txt", tmp_path / "est.txt",
                        PoseEvalConfig(alignment=alignment))

    ref = file_interface.read_tum_trajectory_file(str(tmp_path / "gt.txt"))
    traj = file_interface.read_tum_trajectory_file(str(tmp_path / "est.txt"))
    ref, traj = sync.associate_trajectories(ref, traj, max_diff=0.01)
    traj.align(ref, correct_scale=(alignment == "sim3"))
    for relation, key in [(metrics.PoseRelation.translation_part, "ate_m"),
                          (metrics.PoseRelation.rotation_angle_deg, "ate_rot_deg")]:
        ape = metrics.APE(relation)
        ape.process_data((ref, traj))
        evo_stats = ape.get_all_statistics()
        for k in ("rmse", "mean", "median", "std", "min", "max"):
            assert ours[key][k] == pytest.approx(evo_stats[k], abs=1e-6), (key, k)
    for relation, key in [(metrics.PoseRelation.translation_part, "rpe_trans_m"),
                          (metrics.PoseRelation.rotation_angle_deg, "rpe_rot_deg")]:
        rpe = metrics.RPE(relation, delta=1, delta_unit=metrics.Unit.frames, all_pairs=False)
        rpe.process_data((ref, traj))
        evo_stats = rpe.get_all_statistics()
        for k in ("rmse", "mean", "median", "std", "min", "max"):
            assert ours[key][k] == pytest.approx(evo_stats[k], abs=1e-6), (key, k)
    assert ours["ate_m"]["rmse"] > 1e-3  # the comparison is not between zeros


def test_align_none_is_identity():
    _, gt, est = _trajectory(5)
    out, tf = align_poses(gt, est, "none")
    assert np.array_equal(out, est) and tf["scale"] == 1.0
