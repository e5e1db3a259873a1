"""The breathing field: gradient, inverse, invertibility bound, waveform, per-sequence draws."""

from __future__ import annotations

import numpy as np
import pytest

from room.anatomy.motion import BreathingMotion, MotionConfig, move_pose
from room.errors import ConfigError


def _motion(**over) -> BreathingMotion:
    cfg = MotionConfig(kind="breathing", **over)
    rng = np.random.default_rng(0)
    verts = rng.uniform([-0.1, -0.05, -0.25], [0.1, 0.08, 0.0], (2000, 3))  # phantom-sized
    return BreathingMotion.for_scene(cfg, verts)


def test_jacobian_matches_finite_differences_and_bound():
    m = _motion()
    x = np.random.default_rng(1).uniform(m.lo + 0.001, m.hi - 0.001, (50, 3))
    for t in (0.7, 1.9, 3.1):
        J = m.jacobian(x, t)
        h = 1e-6  # central differences: error ~ h^2 |u'''| ~ 1e-12, far below 1e-7
        Jn = np.stack([(m.displacement(x + h * e, t) - m.displacement(x - h * e, t)) / (2 * h)
                       for e in np.eye(3)], axis=2)
        np.testing.assert_allclose(J, Jn, atol=1e-7)
        assert np.linalg.norm(J, ord=2, axis=(1, 2)).max() <= m.K  # the proven bound holds
    assert m.K < 0.5


def test_inverse_round_trip_and_far_points():
    m = _motion()
    x = np.random.default_rng(2).uniform(m.lo - 0.05, m.hi + 0.05, (500, 3))  # also outside
    y = m.forward(x, 2.0)
    np.testing.assert_allclose(m.inverse(y, 2.0), x, atol=1e-11)
    assert np.abs(y - x).max() > 0.005  # it really moves (mm scale)


def test_waveform_lujan_asymmetry_and_reference_at_exhale():
    m = _motion(cardiac_amplitude_m=0.0)
    t = np.linspace(0, 4.0, 4001)
    b = np.array([m.signals(s)[0] for s in t])
    assert b[0] == 0.0 and abs(b.max() - 1.0) < 1e-6 and abs(t[np.argmax(b)] - 2.0) < 1e-2
    assert np.mean(b < 0.5) > 0.6  # cos^(2n), n = 3: most of the cycle near exhale
    x = np.array([[0.0, 0.0, -0.2]])
    np.testing.assert_array_equal(m.forward(x, 0.0), x)  # end-exhale is the reference


def test_motion_grows_toward_the_periphery_and_is_mostly_craniocaudal():
    m = _motion(cardiac_amplitude_m=0.0)
    top, base = np.array([[0.0, 0.0, -0.01]]), np.array([[0.0, 0.0, -0.24]])
    d_top, d_base = m.displacement(top, 2.0)[0], m.displacement(base, 2.0)[0]
    assert np.linalg.norm(d_top) < 1e-3 < 0.005 < np.linalg.norm(d_base) < 0.02
    assert abs(d_base[2]) > 0.9 * np.linalg.norm(d_base) and d_base[2] < 0  # caudal


def test_config_errors_and_refusal_of_folding_fields():
    with pytest.raises(ConfigError, match="motion.kind"):
        MotionConfig(kind="wobble")
    with pytest.raises(ConfigError, match="asymmetry_n"):
        MotionConfig(kind="breathing", asymmetry_n=0)
    with pytest.raises(ConfigError, match="fold"):  # a 4 cm excursion over a 2 cm scene
        BreathingMotion.for_scene(MotionConfig(kind="breathing", amplitude_m=0.04),
                                  np.array([[0, 0, 0], [0.01, 0.01, 0.02]], float))


def test_randomized_draw_is_deterministic_per_seed():
    cfg = MotionConfig(kind="breathing", randomize=True)
    assert cfg.draw(3) == cfg.draw(3) and cfg.draw(3) != cfg.draw(4)
    d = cfg.draw(3)
    assert 0.8 * 4.0 <= d.period_s <= 1.2 * 4.0 and not d.randomize
    assert MotionConfig(kind="breathing").draw(3) == MotionConfig(kind="breathing")


def test_parameters_round_trip_through_json():
    import json

    m = _motion()
    m2 = BreathingMotion.from_dict(json.loads(json.dumps(m.to_dict())))
    x = np.random.default_rng(5).uniform(m.lo, m.hi, (100, 3))
    np.testing.assert_array_equal(m.forward(x, 1.3), m2.forward(x, 1.3))


def test_move_pose_is_rigid_and_follows_the_tissue():
    m = _motion()
    T = np.eye(4)
    T[:3, 3] = [0.0, 0.0, -0.2]
    T2 = move_pose(m, T, 2.0)
    np.testing.assert_allclose(T2[:3, :3] @ T2[:3, :3].T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(T2[:3, 3], m.forward(T[None, :3, 3], 2.0)[0])
    assert move_pose(None, T, 2.0) is not T and np.array_equal(move_pose(None, T, 2.0), T)
