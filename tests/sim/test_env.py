"""Gymnasium environment: API contract, determinism, vectorisation, reward and termination."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

pytestmark = pytest.mark.gl


@pytest.fixture(scope="module")
def cam():
    from room.render import CameraConfig

    return CameraConfig(width=32, height=32, distortion_model="none")


def make(cam, **kw):
    import room.env  # noqa: F401 - registers the id

    return gym.make("room/BronchoscopyNav-v0", scene="y", camera=cam, **kw)


def test_registered_and_check_env(cam):
    from gymnasium.utils.env_checker import check_env

    import room.env as env_mod

    assert env_mod.ENV_ID in gym.registry
    env = make(cam)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def test_same_seed_same_observations(cam):
    envs = [make(cam), make(cam)]
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (15, 3)).astype(np.float32)
    actions[:, 2] = 1.0  # keep inserting
    try:
        traj = []
        for env in envs:
            obs, _ = env.reset(seed=7)
            seq = [obs]
            for a in actions:
                seq.append(env.step(a)[0])
            traj.append(seq)
        for oa, ob in zip(*traj, strict=True):
            for k in oa:
                assert np.array_equal(oa[k], ob[k]), k
        assert traj[0][-1]["joints"][2] > 0.005  # it moved
    finally:
        for env in envs:
            env.close()


def test_vector_env(cam):
    venv = gym.vector.SyncVectorEnv([lambda: make(cam) for _ in range(2)])
    try:
        obs, _ = venv.reset(seed=[3, 3])
        assert obs["rgb"].shape == (2, 32, 32, 3) and obs["depth"].dtype == np.float32
        for _ in range(3):
            obs, rew, term, trunc, _ = venv.step(np.tile([0.0, 0.0, 1.0], (2, 1)))
        assert np.array_equal(obs["rgb"][0], obs["rgb"][1]) and rew.shape == (2,)
    finally:
        venv.close()


def test_bad_action_and_truncation(cam):
    from room.env import EnvConfig
    from room.errors import ConfigError

    env = make(cam, task=EnvConfig(max_steps=3, target_branch=2))
    try:
        env.reset(seed=0)
        with pytest.raises(ConfigError, match="finite"):
            env.step(np.array([np.nan, 0, 0], np.float32))
        out = [env.step(np.array([0, 0, 1.0], np.float32)) for _ in range(3)]
        assert [o[3] for o in out] == [False, False, True]
        assert all(o[1] > 0 for o in out[1:])  # inserting along the path earns progress
        assert out[-1][4]["target"] == 2
        from room.errors import SimulationError

        with pytest.raises(SimulationError, match="call reset"):  # not one more penalty
            env.step(np.array([0, 0, 1.0], np.float32))
        env.reset(seed=0)
        env.step(np.array([0, 0, 1.0], np.float32))  # a new episode steps again
    finally:
        env.close()


def test_calls_after_close_say_so(cam):
    from room.env.nav import BronchoscopyNavEnv
    from room.errors import SimulationError

    env = BronchoscopyNavEnv("y", camera=cam)
    env.reset(seed=0)
    env.close()
    env.close()  # idempotent
    for call in (lambda: env.step(np.zeros(3, np.float32)), lambda: env.reset(seed=0)):
        with pytest.raises(SimulationError, match="after close"):
            call()


def test_scene_dir_names_a_prepared_folder(cam, saved_yscene, tmp_path):
    from room.env.nav import BronchoscopyNavEnv
    from room.errors import ConfigError

    env = BronchoscopyNavEnv(scene_dir=str(saved_yscene.path), camera=cam)
    try:
        assert env.scene.path == saved_yscene.path
    finally:
        env.close()
    with pytest.raises(ConfigError, match="not a scene folder"):
        BronchoscopyNavEnv(scene_dir=str(tmp_path), camera=cam)


@pytest.mark.slow
def test_reaching_the_target_terminates(cam):
    """Drive the env with the centerline follower (targets turned into rates): the episode
    ends with success in the target branch."""
    from room.env import EnvConfig
    from room.robot.controllers import CenterlineFollower

    env = make(cam, task=EnvConfig(target_branch=1))
    u = env.unwrapped
    try:
        env.reset(seed=0)
        ctl = CenterlineFollower(u.scene.tree, 1, u.sim.robot_cfg, dt=u.sim.dt)
        period = u.sim.dt * u.task.control_steps_per_action
        info, term = {}, False
        for _ in range(400):
            s = u.sim.state
            target = ctl.command(s).values
            a = np.clip((target - s.q) / (u._vmax * period), -1, 1).astype(np.float32)
            _, _, term, trunc, info = env.step(a)
            if term or trunc:
                break
        assert term and info["success"], info
    finally:
        env.close()
