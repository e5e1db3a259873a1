"""Retract-and-retry of the navigators on a wedged scope: the tip held still (the same
simulator state replayed at later times, as when it is stuck against the wall) makes the
follower back off after ``jam_time_s``, re-advance with the next look-ahead, back off longer
at the next jam; the MPC retracts for ``backoff_s`` after ``jam_time_s`` without progress."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest


@pytest.fixture(scope="module")
def wedged():
    """The navigation scope in the Y scene, 30 mm in, aimed at branch 1 (observation none)."""
    from room.env import BronchoscopyNavEnv, EnvConfig
    from room.nav.suite import navigation_scope

    env = BronchoscopyNavEnv("y", robot=navigation_scope(), task=EnvConfig(observation="none"))
    env.reset(seed=0, options={"target_branch": 1, "start_insertion_m": 0.03,
                               "start_roll_rad": 0.0})
    yield env
    env.close()


def _replay(ctl, state, t_end: float, dt: float):
    """Command at the same state for times 0..t_end: (t, v, jams, look-ahead) rows."""
    rows = []
    for k in range(int(round(t_end / dt))):
        ctl.command(dataclasses.replace(state, time_s=state.time_s + k * dt))
        rows.append((k * dt, ctl.last["v"], ctl.last["jams"], ctl._lookahead()))
    return rows


def test_follower_retries_with_other_aim_and_longer_backoff(wedged):
    from room.nav.navigators import NAV_FOLLOWER
    from room.robot.controllers import CenterlineFollower

    env, cfg, dt = wedged, NAV_FOLLOWER, 1.0 / 30.0
    state = env.sim.state
    rows = _replay(CenterlineFollower(env.scene.tree, 1, env.sim.robot_cfg, cfg, dt=dt),
                   state, 8.0, dt)
    t = np.array([r[0] for r in rows])
    v = np.array([r[1] for r in rows])
    jams = np.array([r[2] for r in rows])
    look = np.array([r[3] for r in rows])
    assert v[0] > 0 and jams[0] == 0 and look[0] == cfg.lookahead_m
    # backing-off intervals (v < 0): start after jam_time_s without progress, last
    # backoff_s x growth^(k-1); each retry re-advances with the next look-ahead
    back = np.flatnonzero(np.diff((v < 0).astype(int)) == 1) + 1
    ends = np.flatnonzero(np.diff((v < 0).astype(int)) == -1) + 1
    assert len(back) >= 2 and len(ends) >= 2
    assert t[back[0]] == pytest.approx(cfg.jam_time_s, abs=2 * dt)
    for k in range(2):
        assert t[ends[k]] - t[back[k]] == pytest.approx(
            cfg.backoff_s * cfg.retry_backoff_growth ** k, abs=2 * dt)
        assert jams[back[k]] == k + 1
        assert v[ends[k]] > 0  # re-advancing
    assert look[ends[0]] == cfg.retry_lookahead_short_m
    assert look[ends[1]] == cfg.retry_lookahead_long_m
    # the second jam comes jam_time_s after the first retry began
    assert t[back[1]] - t[ends[0]] == pytest.approx(cfg.jam_time_s, abs=2 * dt)
    # deterministic
    again = _replay(CenterlineFollower(env.scene.tree, 1, env.sim.robot_cfg, cfg, dt=dt),
                    state, 8.0, dt)
    assert again == rows


def test_follower_jam_series_restarts_past_the_jam(wedged):
    """A jam 5 mm (retry_reset_m) or more past the last one starts a new series (first aim)."""
    from room.nav.navigators import NAV_FOLLOWER
    from room.robot.controllers import CenterlineFollower

    env = wedged
    ctl = CenterlineFollower(env.scene.tree, 1, env.sim.robot_cfg, NAV_FOLLOWER)
    ctl._on_jam(0.050)
    ctl._on_jam(0.052)
    assert ctl._jams == 2 and ctl._lookahead() == NAV_FOLLOWER.retry_lookahead_long_m
    ctl._on_jam(0.056)
    assert ctl._jams == 1 and ctl._lookahead() == NAV_FOLLOWER.retry_lookahead_short_m


@pytest.mark.gl
def test_mpc_retracts_when_stalled(wedged):
    from room.nav.navigators import MPCConfig, MPCNavigator

    env = wedged
    cfg = MPCConfig()
    nav = MPCNavigator(cfg)
    nav.reset(env, 0)
    state = env.sim.state
    state = dataclasses.replace(state, q_target=np.array([0.4, -0.2, 0.0, 0.03]))
    goal = np.array([0, 0, 1, 0.01, 0.05, 1], np.float32)  # no progress: same path left
    dt = 1.0 / 30.0
    acts = [nav._retreat({"goal": goal}, dataclasses.replace(state, time_s=k * dt))
            for k in range(int(3.0 / dt))]
    back = [k for k, a in enumerate(acts) if a is not None]
    assert back and back[0] * dt == pytest.approx(cfg.jam_time_s, abs=2 * dt)
    assert (back[-1] - back[0] + 1) * dt == pytest.approx(cfg.backoff_s, abs=2 * dt)
    a = acts[back[0]]
    assert a[-1] == -0.5 and a[2] == 0.0  # retract at half speed, roll held
    assert a[0] < 0 < a[1]  # the bend relaxes towards straight
    assert nav.retries == 1
    # progress resets the stall clock
    nav.reset(env, 0)
    for k in range(int(3.0 / dt)):
        g = goal.copy()
        g[4] = 0.05 - 0.002 * k
        assert nav._retreat({"goal": g}, dataclasses.replace(state, time_s=k * dt)) is None


@pytest.mark.gl
@pytest.mark.parametrize("side", [(1.0, 0.0), (0.0, -1.0), (-0.6, 0.8)])
def test_mpc_pushes_towards_the_goal_after_a_retract(wedged, side):
    """After the retract the MPC pursues the goal direction for push_s: its bend rates turn the
    tip axis (the hinge section's own kinematics) towards the goal, it inserts while the wall
    force is low and stops inserting above force_soft_N; then it plans again."""
    from room.nav.navigators import MPCConfig, MPCNavigator, _bend_base
    from room.robot.kinematics import hinge_points

    env, cfg, dt = wedged, MPCConfig(), 1.0 / 30.0
    nav = MPCNavigator(cfg)
    nav.reset(env, 0)
    rc = env.sim.robot_cfg
    state = dataclasses.replace(env.sim.state, q_target=np.array([0.3, -0.2, 0.0, 0.03]),
                                max_force_N=0.0)
    u = np.array([side[0], side[1], 1.0])
    u /= np.linalg.norm(u)  # 45 degrees off the view axis (camera frame)
    goal = np.array([*u, 0.01, 0.05, 1], np.float32)  # the same path left: a stall
    k_end = int(round((cfg.jam_time_s + cfg.backoff_s) / dt)) + 2
    for k in range(k_end):
        nav._retreat({"goal": goal}, dataclasses.replace(state, time_s=k * dt))
    assert nav._push_until == pytest.approx((k_end - 1) * dt + cfg.push_s, abs=2 * dt)
    s = dataclasses.replace(state, time_s=k_end * dt)
    a = nav._pursue({"goal": goal}, s)

    def axis(q):  # tip axis in the camera frame for hinge targets q
        T = np.linalg.inv(s.T_world_cam) @ _bend_base(s, rc)
        _, ax = hinge_points(q[0], q[1], rc.bending_length_m, rc.bending_links)
        return T[:3, :3] @ ax

    q0 = s.q_target[:2]
    q1 = q0 + a[:2] * np.asarray(rc.qdot_max[:2]) * 0.1  # 0.1 s of these rates
    assert axis(q1) @ u > axis(q0) @ u + 1e-3  # turns towards the goal
    assert a[2] == 0.0 and 0.0 < a[3] <= cfg.push_speed  # roll held, inserting
    a_hard = nav._pursue({"goal": goal}, dataclasses.replace(s, max_force_N=1.0))
    assert a_hard[3] == 0.0 and np.allclose(a_hard[:2], a[:2])  # wall: bend only
    assert np.array_equal(nav._pursue({"goal": goal}, s), a)  # deterministic
