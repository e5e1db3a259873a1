"""Closed-loop driving through the built-in phantom: trachea, carina, both main bronchi and a
third-generation branch, with the tip near the centerline, the wall intact and the joints in
their limits."""

from __future__ import annotations

import numpy as np
import pytest

from room.robot.controllers import CenterlineFollower, FollowerConfig
from room.sim import SimConfig, Simulator
from tests.sim.controllers_helpers import drive
from tests.sim.helpers import wall_penetration

pytestmark = pytest.mark.slow

PEN_MAX = 3e-4  # metres, the bound


@pytest.fixture(scope="module")
def phantom():
    """The built-in phantom prepared by room.anatomy.prepare (generations 0-3, meshed from its
    ground-truth lumen, centerline extracted: about 13 s; the full default recipe with
    segmentation and six generations takes over a minute)."""
    from room.anatomy import load_scene
    from room.anatomy.phantom import PhantomConfig
    from room.anatomy.prepare import SceneConfig

    return load_scene(SceneConfig(phantom=PhantomConfig(generations=3),
                                  segmentation="ground_truth", preview=False))


def _turning(tree, branch_id: int) -> float:
    """Sum of the direction changes (rad) at the bifurcations on the path to a branch."""
    total, ids = 0.0, tree.path_to(branch_id)
    for a, b in zip(ids[:-1], ids[1:], strict=True):
        pa, pb = tree[a].points, tree[b].points
        da = pa[-1] - pa[max(0, len(pa) - 6)]
        db = pb[min(len(pb) - 1, 5)] - pb[0]
        cos = da @ db / (np.linalg.norm(da) * np.linalg.norm(db))
        total += float(np.arccos(np.clip(cos, -1.0, 1.0)))
    return total


def _turns(tree, branch_id: int) -> list[float]:
    """Direction change (rad) at each bifurcation on the path to a branch."""
    ids = tree.path_to(branch_id)
    return [_turning(tree, b) - _turning(tree, a) for a, b in zip(ids[:-1], ids[1:],
                                                                  strict=True)]


def _targets(tree):
    """Left (+x in LPS) and right main bronchi, the generation-3 branch with the least turning
    on its way, and a double turn: a generation-3 branch behind a parent no longer than the
    30 mm bending section, both turns over 38 degrees, the one with the sharpest last turn
    (53 degrees, 25 mm after a 40-degree turn, in this phantom). Three of the five such
    branches here still jam (a 45-51 degree turn followed by a 39-45 degree one within one
    bending length: docs/simulation.md)."""
    mains = sorted(tree.trachea.children, key=lambda b: tree[b].end[0])
    right, left = mains[0], mains[-1]
    gen3 = [b.id for b in tree if b.generation == 3]
    third = min(gen3, key=lambda b: _turning(tree, b))
    double = [b for b in gen3 if tree[tree[b].parent].length_m <= 0.030
              and min(_turns(tree, b)[-2:]) > np.radians(38)]
    out = {"left main": left, "right main": right, "generation 3": third}
    if double:
        out["double turn"] = max(double, key=lambda b: _turns(tree, b)[-1])
    return out


@pytest.mark.parametrize("which", ["left main", "right main", "generation 3", "double turn"])
def test_follower_through_phantom(phantom, which):
    tree = phantom.tree
    targets = _targets(tree)
    assert which in targets, f"no {which} branch in this phantom"
    target = targets[which]
    with Simulator(phantom, sim=SimConfig()) as sim:
        # goal: half-way down the target branch (a leaf of the phantom ends blind; pushing
        # into its dead end proves nothing)
        goal = FollowerConfig(goal_margin_m=0.5 * tree[target].length_m)
        ctl = CenterlineFollower(tree, target, sim.robot_cfg, goal, dt=sim.dt)
        s, pen, rel, viol = drive(sim, ctl, 2400 if which == "double turn" else 1200)
        assert ctl.done, f"{which} (branch {target}) not reached: {ctl.last}"
        assert tree.nearest(s.T_world_tip[:3, 3])[0] == target
        # the double turn rides the outer wall of its turns (tip centre at 1.0-1.1 local radii
        # where the lumen flares at a bifurcation); the wall overlap below stays as strict
        assert rel < (1.1 if which == "double turn" else 1.0), \
            f"tip left the lumen centre by {rel:.2f} radii"
        assert pen <= PEN_MAX, f"wall overlap {1e3 * pen:.3f} mm"
        assert wall_penetration(sim, s, sim.collision_mesh) <= PEN_MAX
        assert viol == 0
        s_start = sum(tree[i].length_m for i in tree.path_to(target)[:-1])
        assert ctl.last["s_tip"] > s_start + 0.4 * tree[target].length_m  # well inside it
