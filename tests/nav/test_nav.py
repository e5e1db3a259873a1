"""Navigation: the env's goal observation and seeded starts, the task's judging, navigators on
the Y-bifurcation (follower, MPC on ground-truth depth, random), determinism of a trial, the
results.json schema, and the MPC on depth predicted by a room.learn checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.gl


def _cfg(**kw):
    from room.nav.suite import NavigateConfig

    return NavigateConfig(**{"scene": "y", "image_size": 32, **kw})


def test_goal_observation_changes_with_target():
    from room.env import BronchoscopyNavEnv, EnvConfig
    from room.env.task import TaskConfig

    env = BronchoscopyNavEnv("y", task=EnvConfig(observation="none",
                                                 task=TaskConfig(lookahead_m=0.03)))
    try:
        goals = {}
        for t in (1, 2):  # tip 10 mm before the bifurcation, waypoint 20 mm past it
            obs, info = env.reset(seed=0, options={"target_branch": t, "start_insertion_m": 0.055,
                                                   "start_roll_rad": 0.0})
            assert set(obs) == {"joints", "goal", "tip_pose"} and info["target"] == t
            assert info["difficulty"] == "normal"  # the Y's branches leave at 35 degrees
            assert env.observation_space.contains(obs)
            goals[t] = obs["goal"]
        g1, g2 = goals[1], goals[2]
        assert np.isclose(np.linalg.norm(g1[:3]), 1.0, atol=1e-5) and g1[5] == 1.0
        assert np.degrees(np.arccos(np.clip(g1[:3] @ g2[:3], -1, 1))) > 10.0  # other side
    finally:
        env.close()


def test_seeds_vary_start_and_target():
    from room.env import BronchoscopyNavEnv, EnvConfig

    env = BronchoscopyNavEnv("y", task=EnvConfig(observation="none"))
    try:
        starts = [env.reset(seed=s) for s in range(6)]
        joints = {tuple(np.round(o["joints"][:3], 4)) for o, _ in starts}
        assert len(joints) == 6  # roll and insertion drawn per seed
        assert {i["target"] for _, i in starts} == {1, 2}
        again = env.reset(seed=3)[0]
        assert np.array_equal(again["joints"], starts[3][0]["joints"])
    finally:
        env.close()


@pytest.mark.parametrize("mode,keys", [("rgbd", {"rgb", "depth"}), ("depth", {"depth"}),
                                       ("rgb", {"rgb"}), ("none", set())])
def test_observation_modes(mode, keys):
    from room.env import BronchoscopyNavEnv, EnvConfig
    from room.render import CameraConfig

    env = BronchoscopyNavEnv("y", camera=CameraConfig(width=16, height=16),
                             task=EnvConfig(observation=mode, include_pose=False))
    try:
        obs, _ = env.reset(seed=0)
        assert set(obs) == keys | {"joints", "goal"}
        assert env.observation_space.contains(obs)
        if "depth" in obs:
            assert obs["depth"].shape == (16, 16) and obs["depth"].max() > 0
    finally:
        env.close()


def test_task_outcomes():
    """The task's rules on synthetic states: force limit, no progress, success after dwell."""
    from types import SimpleNamespace

    from room.anatomy.synthetic import y_scene
    from room.env.task import NavTask, TaskConfig

    tree = y_scene().tree
    cfg = TaskConfig(dwell_s=0.1, no_progress_s=1.0, force_limit_N=1.0)

    def state(t, p, f=0.0):
        T = np.eye(4)
        T[:3, 3] = p
        c = SimpleNamespace(link=np.zeros(1 if f else 0))
        return SimpleNamespace(time_s=t, T_world_tip=T, max_force_N=f, contacts=c)

    task = NavTask(tree, 1, cfg)
    assert task.update(state(0.0, task.path.points[10], 2.0)) == "force"
    task = NavTask(tree, 1, cfg)
    for k in range(40):
        out = task.update(state(0.05 * k, task.path.points[10]))
    assert out == "no_progress" and task.metrics()["success"] is False
    task = NavTask(tree, 1, cfg)
    p = task.path.point_at(task.s_goal + 0.003)
    outs = [task.update(state(0.05 * k, p, 0.1 * (k == 1))) for k in range(4)]
    assert outs[:2] == ["running", "running"] and outs[-1] == "success"
    m = task.metrics()
    assert m["wall_contacts"] == 1 and m["peak_force_N"] == pytest.approx(0.1)


def test_task_progress_counts_only_near_the_path():
    """A tip in a neighbouring lumen projects onto the path wherever that is nearest: that is
    no progress. Points ahead on the path, moved sideways by 1.6 local lumen radii (beyond
    progress_radius_factor = 1.5), leave the best progress where it was, so the trial fails
    no_progress_s after the last real progress; at 1.4 radii they count."""
    from types import SimpleNamespace

    from room.anatomy.synthetic import y_scene
    from room.env.task import NavTask, TaskConfig

    tree = y_scene().tree
    cfg = TaskConfig(no_progress_s=1.0)

    def state(t, p):
        T = np.eye(4)
        T[:3, 3] = p
        return SimpleNamespace(time_s=t, T_world_tip=T, max_force_N=0.0,
                               contacts=SimpleNamespace(link=np.zeros(0)))

    def run(factor):
        task = NavTask(tree, 1, cfg)
        path = task.path
        outs = []
        for k in range(40):  # 2 s, creeping 1 mm every 0.05 s from 10 mm
            s = 0.010 + 0.001 * k
            i = int(np.searchsorted(path.s, s))
            d = path.points[min(i + 1, len(path.s) - 1)] - path.points[max(i - 1, 0)]
            side = np.cross(d, [0.0, 0.0, 1.0] if abs(d[2]) < 0.9 * np.linalg.norm(d)
                            else [1.0, 0.0, 0.0])
            side /= np.linalg.norm(side)
            off = factor * path.radii[i] if k > 0 else 0.0  # the first sample on the path
            outs.append(task.update(state(0.05 * k, path.points[i] + off * side)))
        return outs

    far = run(1.6)
    assert "no_progress" in far and far.index("no_progress") <= 22  # 1 s after t = 0
    assert "no_progress" not in run(1.4)


def test_follower_trial_is_deterministic_and_succeeds():
    from room.nav.suite import make_env, make_navigator, run_trial

    cfg = _cfg()
    nav = make_navigator("follower", cfg)
    env = make_env(cfg, nav.observation)
    try:
        a, b = (run_trial(env, nav, 2, seed=5) for _ in range(2))
    finally:
        env.close()
    a.pop("wall_s"), b.pop("wall_s")
    assert a == b and a["success"], a


def _double_turn_scene(turn_deg: float = 45.0, gap_m: float = 0.025):
    """A trachea (60 mm along +z, radius 8 mm), a 5 mm branch turning ``turn_deg`` towards +x,
    and 25 mm (``gap_m``, shorter than the 30 mm bending section) further a 4 mm branch turning
    ``turn_deg`` again in the perpendicular plane (towards +y): two sharp turns within one
    bending length, in planes 90 degrees apart (the phantom's jams). Branch ids 0, 1, 2."""
    import trimesh

    from room.anatomy.scene import AirwayScene
    from room.anatomy.synthetic import face_branch_ids
    from room.anatomy.tree import NO_PARENT, Branch, CenterlineTree

    a = np.radians(turn_deg)
    d1 = np.array([np.sin(a), 0.0, np.cos(a)])
    d2 = np.cos(a) * d1 + np.sin(a) * np.array([0.0, 1.0, 0.0])
    knots = [np.zeros(3), np.array([0.0, 0.0, 0.06])]
    knots += [knots[1] + gap_m * d1, knots[1] + gap_m * d1 + 0.035 * d2]
    radii = (0.008, 0.005, 0.004)
    parts = []
    for k, r in enumerate(radii):
        parts.append(trimesh.creation.cylinder(radius=r, segment=np.stack(knots[k:k + 2]),
                                               sections=64))
        if k:  # rounded joint: the wider parent's sphere at the turn
            parts.append(trimesh.creation.icosphere(3, radius=radii[k - 1]).apply_translation(
                knots[k]))
    mesh = trimesh.boolean.union(parts, engine="manifold")
    mesh.invert()
    branches = {}
    for k, r in enumerate(radii):
        t = np.linspace(0, 1, 20)[:, None]
        branches[k] = Branch(k, NO_PARENT if k == 0 else k - 1, k,
                             knots[k] + t * (knots[k + 1] - knots[k]), np.full(20, r),
                             children=[k + 1] if k < 2 else [])
    tree = CenterlineTree(branches=branches, root=0)
    return AirwayScene(mesh=mesh, collision_mesh=mesh.copy(), tree=tree,
                       face_branch=face_branch_ids(mesh, tree),
                       metadata={"source": "synthetic double turn"})


def test_follower_takes_a_double_turn():
    """The follower on the navigation scope (two tendon planes, room-navigate's default)
    reaches the end branch of two 55-degree turns 25 mm apart in perpendicular planes (the
    single-plane scope, robot=default, with the same follower does not reach it, seed 0; with
    the earlier spherical bending joints and follower tuning both scopes jammed at 55
    degrees: measured 2026-12-03)."""
    from room.nav.suite import make_env, make_navigator, run_trial

    cfg = _cfg(scene=_double_turn_scene(55.0))
    assert cfg.robot.bending_planes == 2 and cfg.robot.bending_length_m > 0.025
    nav = make_navigator("follower", cfg)
    env = make_env(cfg, nav.observation)
    try:
        m = run_trial(env, nav, 2, seed=0)
    finally:
        env.close()
    assert m["success"] and m["generation"] == 2, m
    assert m["peak_force_N"] < cfg.task.force_limit_N


def test_mpc_on_ground_truth_depth_reaches_both_branches():
    from room.nav.suite import make_env, make_navigator, run_trial

    cfg = _cfg()
    nav = make_navigator("mpc_gt", cfg)
    env = make_env(cfg, nav.observation)
    try:
        out = [run_trial(env, nav, t, seed=1) for t in (1, 2)]
    finally:
        env.close()
    assert [m["success"] for m in out] == [True, True], out
    assert all(m["peak_force_N"] < 1.0 for m in out)


def test_results_json_schema(tmp_path):
    from room.nav.suite import FORMAT, run_suite, table

    res = run_suite(_cfg(navigators=("follower", "random"), generations=(1,), out=str(tmp_path),
                         task=__import__("room.env.task", fromlist=["TaskConfig"]).TaskConfig(
                             no_progress_s=1.0)))
    disk = json.loads((tmp_path / "results.json").read_text())
    assert disk == json.loads(json.dumps(res))
    assert disk["format"] == FORMAT and set(disk["navigators"]) == {"follower", "random"}
    assert disk["config"]["robot"]["bending_planes"] == 2  # the scope driven is recorded
    for nav in disk["navigators"].values():
        g = nav["per_generation"]["1"]
        assert g["trials"] == 2 and 0 <= g["successes"] <= 2
        for m in nav["trials"]:
            for k in ("success", "time_s", "path_length_m", "mean_force_N", "peak_force_N",
                      "wall_contacts", "target", "generation", "seed", "outcome", "turn_deg",
                      "difficulty"):
                assert k in m, k
            assert m["difficulty"] == "normal"  # the Y's branches leave at 35 degrees
        assert sum(d["trials"] for d in nav["per_difficulty"].values()) == len(nav["trials"])
    assert disk["navigators"]["follower"]["per_generation"]["1"]["successes"] == 2
    assert "follower" in table(res) and "gen 1" in table(res) and "hard" in table(res)
    png = tmp_path / "results.png"  # every trial at its target's turn, one panel a navigator
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import cv2

    h, w = cv2.imread(str(png)).shape[:2]
    assert w > 1.5 * h  # two panels side by side


@pytest.mark.slow
def test_mpc_on_predicted_depth_runs_from_a_checkpoint(tmp_path):
    """A tiny U-Net trained for a few steps on Y-scene frames, saved as room-finetune-depth
    saves it, drives the MPC (no success required of so short a training)."""
    torch = pytest.importorskip("torch")
    from room.learn.models import ModelConfig, build_model, model_payload
    from room.nav.depth import DepthPredictor
    from room.nav.navigators import MPCNavigator
    from room.nav.suite import make_env, run_trial

    torch.manual_seed(0)
    model = build_model(ModelConfig(base_channels=4, levels=2, max_depth=0.15))
    env = make_env(_cfg(), "rgbd")
    try:
        rgb, depth = [], []
        a = np.zeros(env.action_space.shape, np.float32)
        a[0], a[-2], a[-1] = 0.3, 0.5, 1.0  # bend, roll, insert
        for s in range(6):
            obs, _ = env.reset(seed=s)
            for _ in range(4):
                obs = env.step(a)[0]
                rgb.append(obs["rgb"])
                depth.append(obs["depth"])
        x = torch.from_numpy(np.stack(rgb)).permute(0, 3, 1, 2).float() / 255
        y = torch.from_numpy(np.stack(depth))[:, None]
        opt = torch.optim.Adam(model.parameters(), 1e-2)
        for _ in range(30):
            loss = ((model(x) - y).abs() * (y > 0)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        ckpt = tmp_path / "last.pt"
        torch.save({**model_payload(model), "train_config": {"data": {"size": [32, 32]}}}, ckpt)
        pred = DepthPredictor(ckpt)
        d = pred(rgb[0])
        assert d.shape == (32, 32) and np.all(np.isfinite(d)) and d.max() > 0
        nav = MPCNavigator(depth=pred)
        assert nav.name == "mpc_pred" and nav.observation == "rgb"
    finally:
        env.close()
    env = make_env(_cfg(), nav.observation)
    try:
        m = run_trial(env, nav, 1, seed=0)
    finally:
        env.close()
    assert m["navigator"] == "mpc_pred" and m["time_s"] > 0


def _make_y_env():
    from room.env import BronchoscopyNavEnv, EnvConfig
    from room.render import CameraConfig

    return BronchoscopyNavEnv("y", camera=CameraConfig(width=16, height=16),
                              task=EnvConfig(observation="depth"))


@pytest.mark.slow
def test_async_vector_env_over_processes():
    """Two envs in two spawned processes (a fork of a process holding a GL context is unsafe);
    different seeds, different starts."""
    import gymnasium as gym

    venv = gym.vector.AsyncVectorEnv([_make_y_env] * 2, context="spawn")
    try:
        obs, info = venv.reset(seed=[0, 1])
        assert obs["depth"].shape == (2, 16, 16) and obs["goal"].shape == (2, 6)
        assert not np.array_equal(obs["joints"][0], obs["joints"][1])
        for _ in range(3):
            obs, rew, term, trunc, _ = venv.step(np.tile([0.0, 0.0, 1.0], (2, 1)))
        assert rew.shape == (2,) and np.all(rew > 0)
    finally:
        venv.close()


def test_navigate_preset_is_the_navigation_scope():
    """room-navigate's robot=navigation (conf/robot/navigation.yaml) and navigation_scope() are
    the same scope: two tendon planes and a shaft of 10 mm links (the default's are 20 mm)."""
    from room.compose import SCHEMAS, compose
    from room.config import to_dataclass
    from room.nav.suite import navigation_scope
    from room.robot.config import RobotConfig

    typed = to_dataclass(next(iter(SCHEMAS["navigate"]().values())), compose("navigate", []))
    scope = navigation_scope()
    assert typed.robot == scope
    assert scope.bending_planes == 2
    assert scope.shaft_length_m / scope.shaft_links == pytest.approx(0.010)
    assert RobotConfig().shaft_links == 16  # the dataset's scope is unchanged


@pytest.mark.parametrize("bad", [{"progress_radius_factor": 0.0},
                                 {"progress_radius_factor": float("nan")},
                                 {"no_progress_s": -1.0}])
def test_task_config_rejects_bad_values(bad):
    from room.env.task import TaskConfig
    from room.errors import ConfigError

    with pytest.raises(ConfigError, match=next(iter(bad))):
        TaskConfig(**bad)


def test_navigate_render_preset_reaches_the_env():
    """room-navigate render=textured: the env renders the textured look (what a depth model
    trained on that look must see); the default is RenderConfig()."""
    from room.compose import compose
    from room.config import to_dataclass
    from room.nav.suite import NavigateConfig, make_env
    from room.render.config import RenderConfig

    assert to_dataclass(NavigateConfig, compose("navigate", [])).render == RenderConfig()
    import dataclasses

    cfg = to_dataclass(NavigateConfig, compose("navigate", ["render=textured"]))
    cfg = dataclasses.replace(cfg, scene="y")
    assert cfg.render != RenderConfig() and cfg.render.light.ambient == pytest.approx(0.004)
    env = make_env(cfg, "none")
    try:
        assert env._render_args[1] == cfg.render
    finally:
        env.close()
