"""Robot spec, constant-curvature kinematics and controller math (no physics)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from room.errors import ConfigError
from room.robot import RobotConfig
from room.robot.controllers import FollowerConfig, ScriptedTeleop, solve_bend
from room.robot.kinematics import (
    cc_transform,
    discrete_transform,
    tip_pose,
    two_plane_to_single,
)
from room.robot.model import link_layout, urdf_text
from room.transforms import is_rigid

CONF = Path(__file__).resolve().parents[2] / "conf"


def test_defaults_are_realistic():
    cfg = RobotConfig()
    assert 0.003 <= cfg.outer_diameter_m <= 0.006
    assert math.radians(120) <= cfg.max_bend_rad <= math.radians(210)
    assert cfg.n_q == 3 and cfg.q_min[2] == 0.0 and cfg.q_max[2] == cfg.insertion_max_m


@pytest.mark.parametrize("kw", [
    {"outer_diameter_m": 0.012},  # larger than any bronchoscope
    {"outer_diameter_m": 0.0},
    {"bending_length_m": 0.0},  # zero-length section
    {"shaft_length_m": 0.0},
    {"bending_links": 0},
    {"shaft_links": 0},
    {"shaft_torque_limit_Nm": -1.0},  # negative stiffness
    {"bend_velocity_gain": -0.1},  # negative damping
    {"max_bend_rad": float("nan")},
    {"bending_planes": 3},
    {"insertion_max_m": 0.315},  # longer than the simulated shaft allows
    {"camera_offset_m": (0.0, 0.0)},
])
def test_impossible_parameters_raise(kw):
    with pytest.raises(ConfigError, match="RobotConfig"):
        RobotConfig(**kw)


def test_ultrathin_preset_is_thinner():
    """conf/robot/ultrathin.yaml composes into a RobotConfig thinner and more bendable than the
    default (every preset composing is tests/test_conf_compose.py's job)."""
    from room.compose import compose, stage_config

    thin = stage_config(RobotConfig, compose("generate", ["robot=ultrathin"]).robot)
    assert thin.outer_diameter_m < RobotConfig().outer_diameter_m
    assert thin.max_bend_rad > RobotConfig().max_bend_rad


def test_cc_arc_geometry():
    """The continuous arc: tip on a circle of radius L/theta, heading rotated by theta."""
    L = 0.03
    for theta in (1e-12, 0.3, math.pi / 2, math.pi):
        for phi in (0.0, 0.7, -2.0):
            T = cc_transform(theta, phi, L)
            assert is_rigid(T)
            d = np.array([math.sin(phi), -math.cos(phi), 0.0])
            if theta < 1e-6:
                np.testing.assert_allclose(T[:3, 3], [0, 0, L], atol=1e-12)
                continue
            R = L / theta
            centre = R * d  # centre of curvature
            assert np.linalg.norm(T[:3, 3] - centre) == pytest.approx(R, rel=1e-12)
            heading = T[:3, 2]
            assert math.acos(np.clip(heading[2], -1, 1)) == pytest.approx(theta, abs=1e-9)
            assert heading @ d == pytest.approx(math.sin(theta), abs=1e-12)


def test_discrete_chain_converges_to_arc():
    """Orientation exact; position error falls as 1/n^2 (trapezoid rule on the heading)."""
    L, theta = 0.03, math.pi
    errs = []
    for n in (6, 12, 24):
        Td, Tc = discrete_transform(theta, 0.4, L, n), cc_transform(theta, 0.4, L)
        np.testing.assert_allclose(Td[:3, :3], Tc[:3, :3], atol=1e-12)
        errs.append(np.linalg.norm(Td[:3, 3] - Tc[:3, 3]))
    assert errs[0] < L * theta**2 / (16 * 6**2)
    assert errs[0] / errs[1] == pytest.approx(4.0, rel=0.05)
    assert errs[1] / errs[2] == pytest.approx(4.0, rel=0.05)


def test_two_plane_equals_single_plane():
    """Continuous model: two-plane bending is the single-plane arc in the plane phi. The
    simulated two-plane section (hinges alternately about x and y) is modelled exactly by
    hinge_transform; hinge_command points its tip along the arc's tip axis."""
    cfg1, cfg2 = RobotConfig(), RobotConfig(bending_planes=2)
    theta, phi = two_plane_to_single(0.6, -0.8)
    assert theta == pytest.approx(1.0) and phi == pytest.approx(math.atan2(-0.8, 0.6))
    start = np.eye(4)
    T2 = tip_pose([0.6, -0.8, 0.3, 0.05], cfg2, start, discrete=False)
    Tb = tip_pose([1.0, 0.3, 0.05], cfg1, start, discrete=False)
    assert not np.allclose(T2, Tb)  # different plane ...
    from scipy.spatial.transform import Rotation

    from room.robot.kinematics import cc_transform, hinge_command, hinge_transform
    from room.transforms import make_T

    base = make_T(Rotation.from_rotvec([0, 0, 0.3]).as_matrix(), [0, 0, 0.05 - 0.03])
    np.testing.assert_allclose(T2, base @ cc_transform(1.0, phi, 0.03), atol=1e-12)
    Th = tip_pose([0.6, -0.8, 0.3, 0.05], cfg2, start)  # discrete: the hinge chain
    np.testing.assert_allclose(Th, base @ hinge_transform(0.6, -0.8, 0.03, 6), atol=1e-12)
    # one plane only: three double-length hinges, heading exact
    Hx = hinge_transform(0.9, 0.0, 0.03, 6)
    np.testing.assert_allclose(Hx[:3, :3], cc_transform(0.9, 0.0, 0.03)[:3, :3], atol=1e-12)
    # both planes: the finite rotations do not commute (heading off by degrees) ...
    axis = cc_transform(1.0, phi, 0.03)[:3, 2]
    assert np.degrees(np.arccos(hinge_transform(0.6, -0.8, 0.03, 6)[:3, 2] @ axis)) > 1.0
    # ... and the compensated command points the tip along the arc's axis (1e-4 rad)
    qa, qb = hinge_command(0.6, -0.8, 6)
    assert np.arccos(min(1.0, hinge_transform(qa, qb, 0.03, 6)[:3, 2] @ axis)) < 1e-4


def test_q1_bends_towards_image_top():
    """Positive q1 turns the camera towards its -y axis (top of the image)."""
    T = tip_pose([0.5, 0.0, 0.0], RobotConfig(), np.eye(4))
    assert T[1, 3] < 0 and T[1, 2] < 0 and abs(T[0, 3]) < 1e-12


def test_layout_and_urdf():
    cfg = RobotConfig()
    links = link_layout(cfg)
    assert len(links) == 1 + cfg.shaft_links + cfg.bending_links
    total = sum(s.length_m for s in links)
    assert total == pytest.approx(cfg.total_length_m, abs=1e-12)
    text = urdf_text(cfg, 1000.0)
    assert text.count("<joint ") == len(links) and 'type="prismatic"' in text


def test_solve_bend_points_tip_at_target():
    L, tmax = 0.03, math.pi
    for lat, ax in [(0.005, 0.04), (0.02, 0.03), (0.001, 0.1)]:
        th = solve_bend(lat, ax, L, tmax)
        tip = np.array([L / th * (1 - math.cos(th)), L / th * math.sin(th)])
        v = np.array([lat, ax]) - tip
        assert math.atan2(v[0], v[1]) == pytest.approx(th, abs=1e-6)
    assert solve_bend(0.0, 0.05, L, tmax) == 0.0
    assert solve_bend(0.05, -0.05, L, 1.0) == 1.0  # unreachable: clipped to the limit


def test_teleop_script():
    tele = ScriptedTeleop([(0.0, [0, 0, 0]), (1.0, [1.0, 0.5, 0.02])], dt=0.5)

    class S:
        time_s = 0.0

    np.testing.assert_allclose(tele.command(S()).values, [0.5, 0.25, 0.01])
    S.time_s = 5.0
    np.testing.assert_allclose(tele.command(S()).values, [1.0, 0.5, 0.02])
    with pytest.raises(ConfigError):
        ScriptedTeleop([(1.0, [0, 0, 0]), (0.5, [0, 0, 0])])
    with pytest.raises(ConfigError):
        FollowerConfig(force_soft_N=1.0, force_max_N=0.5)
