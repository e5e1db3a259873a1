"""Closed-loop driving: the centerline follower steers into each child of the Y-bifurcation;
scripted teleoperation replays joint targets."""

from __future__ import annotations

import numpy as np
import pytest

from room.robot.controllers import CenterlineFollower, ScriptedTeleop
from room.sim import SimConfig, Simulator
from tests.sim.controllers_helpers import drive
from tests.sim.helpers import wall_penetration

PEN_MAX = 3e-4  # metres, the bound


@pytest.mark.parametrize("target", [1, 2])
def test_follower_enters_each_child(saved_yscene, target):
    tree = saved_yscene.tree
    with Simulator(saved_yscene, sim=SimConfig()) as sim:
        ctl = CenterlineFollower(tree, target, sim.robot_cfg, dt=sim.dt)
        s, pen, rel, viol = drive(sim, ctl, 700)
        assert ctl.done, f"did not reach branch {target}: {ctl.last}"
        bid, _, dist = tree.nearest(s.T_world_tip[:3, 3])
        assert bid == target
        child = tree[target]
        assert np.linalg.norm(s.T_world_tip[:3, 3] - child.end) < 0.01
        assert rel < 1.0  # tip within one airway radius of the centerline all the way
        assert pen <= PEN_MAX
        assert wall_penetration(sim, s, saved_yscene.collision_mesh) <= PEN_MAX
        assert viol == 0
        # the camera looks down the child branch (within 30 degrees of its axis)
        axis = child.end - child.start
        axis /= np.linalg.norm(axis)
        assert s.T_world_cam[:3, 2] @ axis > np.cos(np.radians(30))


def test_scripted_teleop_replays_targets(saved_tube):
    script = [(0.0, [0.0, 0.0, 0.0]), (1.0, [0.4, 0.5, 0.01]), (2.0, [0.4, 0.5, 0.01])]
    with Simulator(saved_tube) as sim:
        tele = ScriptedTeleop(script, dt=sim.dt)
        s = sim.state
        for _ in range(int(2.0 / sim.dt)):
            s = sim.step(tele.command(s))
        assert np.all(np.abs(s.q - [0.4, 0.5, 0.01]) < [0.01, 0.01, 2e-4]), s.q
    with Simulator(saved_tube) as sim:  # a callable script
        tele = ScriptedTeleop(lambda t: [0.0, 0.0, min(0.01 * t, 0.005)], dt=sim.dt)
        s = sim.state
        for _ in range(60):
            s = sim.step(tele.command(s))
        assert s.q[2] == pytest.approx(0.005, abs=2e-4)
