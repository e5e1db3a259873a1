"""The Gymnasium env with breathing airways (``motion=``): observations follow the moving wall
at the simulation time, deterministically."""

from __future__ import annotations

import numpy as np
import pytest

from room.anatomy.motion import MotionConfig

pytestmark = pytest.mark.gl


def _run(motion, steps=12):
    from room.env.nav import BronchoscopyNavEnv, EnvConfig

    env = BronchoscopyNavEnv("y", task=EnvConfig(image_size=48, observation="depth"),
                             motion=motion)
    obs, _ = env.reset(seed=0)
    out = [obs["depth"].copy()]
    for _ in range(steps):
        obs, _, _, _, info = env.step(np.zeros(env.action_space.shape, np.float32))
        out.append(obs["depth"].copy())
    env.close()
    return np.stack(out), info


def test_env_breathing_moves_the_observed_wall_deterministically():
    still, _ = _run(None)
    a, info = _run(MotionConfig(kind="breathing", period_s=1.0))
    b, _ = _run(MotionConfig(kind="breathing", period_s=1.0))
    np.testing.assert_array_equal(a, b)
    assert info["time_s"] > 0.3  # a good part of the 1 s breath
    # the robot is held still: the rigid airway's depth barely changes, the breathing one's does
    moving = np.abs(a[1:] - a[0]).max()
    assert moving > 1e-3 and moving > 10 * np.abs(still[1:] - still[0]).max() + 1e-4
