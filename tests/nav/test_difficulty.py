"""Target difficulty (room.env.task.path_turn, difficulty): the largest turn of the path within
one bending length, on centerlines whose turn is known exactly (a circular arc between two
straight runs), and the split it makes in room-navigate's plan and results."""

from __future__ import annotations

import numpy as np
import pytest

from room.anatomy.path import CenterlinePath
from room.anatomy.tree import Branch, CenterlineTree
from room.env.task import NavTask, TaskConfig, difficulty, path_turn, target_turns
from room.errors import ConfigError

R = 0.010  # m, the arc's radius
L_IN = 0.040  # m, straight run before the arc (the trachea)


def _arc_points(phi: float, after: float = 0.040, n_arc: int = 400) -> np.ndarray:
    """Straight along z for L_IN, a circular arc of radius R turning by ``phi`` (rad) towards
    +x, then straight for ``after`` (m)."""
    z = np.linspace(0.0, L_IN, 81)
    p0 = np.stack([0 * z, 0 * z, z], 1)
    a = np.linspace(0.0, phi, n_arc)[1:]
    p1 = np.stack([R * (1 - np.cos(a)), 0 * a, L_IN + R * np.sin(a)], 1)
    d = np.array([np.sin(phi), 0.0, np.cos(phi)])
    t = np.linspace(0.0, after, 81)[1:]
    return np.concatenate([p0, p1, p1[-1] + t[:, None] * d])


def _tree(phi: float) -> CenterlineTree:
    """Trachea (the straight run and half the arc) and one child (the rest), 4 mm radius."""
    p = _arc_points(phi)
    k = 81 + 200
    return CenterlineTree({
        0: Branch(0, -1, 0, p[:k], np.full(k, 0.004), [1]),
        1: Branch(1, 0, 1, p[k - 1:], np.full(len(p) - k + 1, 0.004), [])}, root=0)


@pytest.mark.parametrize("phi_deg", [45.0, 120.0])
def test_turn_within_a_window_on_a_circular_arc(phi_deg):
    phi = np.radians(phi_deg)
    path = CenterlinePath(_tree(phi), 1)
    arc = R * phi
    # a window longer than the arc (plus the 5 mm chord of the tangents) sees the whole turn
    turn, where = path_turn(path, arc + 0.01)
    # chord tangents straddling the arc's ends: within half a chord of it the tangent is
    # partly the straight run's; the sampling (0.5 mm, 0.05 rad of the arc) bounds the error
    assert np.degrees(turn) == pytest.approx(phi_deg, abs=0.5)
    assert where < L_IN
    # a window shorter than the arc turns by window / R (radians) on the arc
    w = 0.5 * arc
    assert path_turn(path, w)[0] == pytest.approx(w / R, abs=0.03)
    # ... and up to the straight run only (s_max half a chord before the arc): no turn
    assert path_turn(path, w, s_max=L_IN - 0.003)[0] == pytest.approx(0.0, abs=1e-6)


def test_difficulty_threshold_and_task_metrics():
    assert difficulty(np.radians(89.0)) == "normal" and difficulty(np.radians(91.0)) == "hard"
    assert difficulty(np.radians(50.0), hard_turn_deg=45.0) == "hard"
    sharp, gentle = _tree(np.radians(120.0)), _tree(np.radians(45.0))
    for tree, want in ((sharp, "hard"), (gentle, "normal")):
        task = NavTask(tree, 1, bend_length_m=0.030)
        m = task.metrics()
        assert m["difficulty"] == want and task.difficulty == want
        assert 0.0 < m["turn_deg"] < 180.0
    # 30 mm of window on a 10 mm radius: the whole 120 degrees (arc 20.9 mm)
    assert target_turns(sharp, [1], 0.030)[1] == pytest.approx(np.radians(120.0), abs=0.01)
    # a 10 mm bending section sees 10 mm / 10 mm = 1 rad = 57 degrees of it: normal
    assert NavTask(sharp, 1, bend_length_m=0.010).difficulty == "normal"


def test_bad_difficulty_settings_are_refused():
    with pytest.raises(ConfigError, match="hard_turn_deg"):
        TaskConfig(hard_turn_deg=0.0)
    with pytest.raises(ConfigError, match="window_m"):
        path_turn(CenterlinePath(_tree(1.0), 1), 0.0)
    from room.nav.suite import NavigateConfig

    with pytest.raises(ConfigError, match="difficulty"):
        NavigateConfig(difficulty="easy")


def test_plan_keeps_the_targets_of_one_difficulty():
    from room.nav.suite import NavigateConfig, plan_trials

    tree = _tree(np.radians(120.0))
    cfg = NavigateConfig(scene="y", generations=(1,), navigators=("follower",))
    assert [t for _, t, _ in plan_trials(cfg, tree, 0.0021)] == [1]
    hard = NavigateConfig(scene="y", generations=(1,), navigators=("follower",),
                          difficulty="hard")
    assert [t for _, t, _ in plan_trials(hard, tree, 0.0021)] == [1]
    normal = NavigateConfig(scene="y", generations=(1,), navigators=("follower",),
                            difficulty="normal")
    assert plan_trials(normal, tree, 0.0021) == []


def test_navigate_settings_reach_the_suite(run_cli, tmp_path):
    """room-navigate difficulty=... and task.hard_turn_deg=... compose into the suite's config;
    a wrong difficulty ends the command with exit 2 and the message, before any work."""
    from room.compose import compose
    from room.config import to_dataclass
    from room.nav.suite import NavigateConfig

    cfg = to_dataclass(NavigateConfig, compose("navigate", ["difficulty=normal",
                                                            "task.hard_turn_deg=80"]))
    assert cfg.difficulty == "normal" and cfg.task.hard_turn_deg == 80.0
    r = run_cli("room.cli.navigate", "difficulty=easy", f"out={tmp_path / 'nav'}")
    assert r.returncode == 2, r.stderr[-1500:]
    assert "difficulty='easy'" in r.stderr and "Traceback" not in r.stderr, r.stderr[-1500:]
    assert not (tmp_path / "nav" / "results.json").exists()


def _hard_targets(name):
    from room.anatomy.load import load_scene
    from room.env.task import reachable_branches
    from room.nav.suite import navigation_scope

    rc = navigation_scope()
    scene = load_scene(name, on_disk=True)
    ok = reachable_branches(scene.tree, rc.radius_m, mesh=scene.collision_mesh,
                            link_length_m=rc.bending_length_m / rc.bending_links)
    ok = [b for b in ok if scene.tree[b].generation <= 4]
    turns = target_turns(scene.tree, ok, rc.bending_length_m,
                         rc.bending_length_m / rc.bending_links)
    return ok, sorted(b for b in ok if difficulty(turns[b]) == "hard"), turns


@pytest.mark.slow
def test_the_phantom_has_no_hard_target():
    """The documented split (README, docs/simulation.md): every reachable phantom target up to
    generation 4 turns at most 64 degrees within one bending length."""
    ok, hard, turns = _hard_targets("phantom")
    assert len(ok) == 23 and hard == []
    assert np.degrees(max(turns.values())) == pytest.approx(63.5, abs=1.0)


@pytest.mark.slow
def test_carina_crop_hard_targets_are_branch_6_and_three_more(shared_data):
    """On the real CT crop: branch 6 (about 98 degrees into it) and its subtree, and 10, 19,
    22 are hard (12 of 26 reachable targets up to generation 4)."""
    ok, hard, _ = _hard_targets("carina_crop")
    assert len(ok) == 26
    assert hard == [6, 10, 13, 14, 15, 19, 22, 28, 30, 31, 32, 33]
