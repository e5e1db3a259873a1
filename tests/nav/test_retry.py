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


def _moved(state, p, t):
    """The wedged state at time ``t`` with its tip moved to ``p`` (the rest of the scope kept:
    only the tip's projection on the path matters to the progress bookkeeping)."""
    T = state.T_world_tip.copy()
    T[:3, 3] = p
    return dataclasses.replace(state, T_world_tip=T, time_s=state.time_s + t)


def test_follower_progress_counts_only_in_the_path_lumen(wedged):
    """A lost tip (in a neighbouring lumen, farther than lost_radius_factor radii from the
    path) projects onto the path wherever that is nearest, maybe far ahead: that is not
    progress, so the jam comes jam_time_s after the last real progress."""
    from room.nav.navigators import NAV_FOLLOWER
    from room.robot.controllers import CenterlineFollower

    env, cfg, dt = wedged, NAV_FOLLOWER, 1.0 / 30.0
    state = env.sim.state
    ctl = CenterlineFollower(env.scene.tree, 1, env.sim.robot_cfg, cfg, dt=dt)
    ctl.command(state)
    s0 = ctl.last["s_tip"]
    path = ctl.path
    i = int(np.searchsorted(path.s, s0 + 0.010))
    d = path.points[i + 1] - path.points[i - 1]
    side = np.cross(d, [1.0, 0.0, 0.0])
    side *= 2.0 * cfg.lost_radius_factor * path.radii[i] / np.linalg.norm(side)
    ctl.command(_moved(state, path.points[i] + side, 1.0))  # 10 mm ahead, lost
    assert ctl.last["lost"] and ctl.last["s_tip"] > s0 + 0.005
    assert ctl._best_s == pytest.approx(s0)
    jam = None
    for k in range(1, int(3.0 / dt)):
        ctl.command(dataclasses.replace(state, time_s=state.time_s + 1.0 + k * dt))
        if ctl.last["jams"] and jam is None:
            jam = 1.0 + k * dt
    assert jam == pytest.approx(cfg.jam_time_s, abs=2 * dt)


def test_follower_retry_is_judged_from_where_it_starts(wedged):
    """After backing off 6 mm, a retry that creeps forward (1 mm per second, still behind the
    jam point) is progress: no second jam while it creeps."""
    from room.nav.navigators import NAV_FOLLOWER
    from room.robot.controllers import CenterlineFollower

    env, cfg, dt = wedged, NAV_FOLLOWER, 1.0 / 30.0
    state = env.sim.state
    ctl = CenterlineFollower(env.scene.tree, 1, env.sim.robot_cfg, cfg, dt=dt)
    t = 0.0
    while ctl.last.get("jams", 0) == 0:  # wedged until the jam
        ctl.command(dataclasses.replace(state, time_s=state.time_s + t))
        t += dt
    s_jam = ctl._jam_s
    path = ctl.path
    j0 = int(np.searchsorted(path.s, s_jam - 0.006))
    while ctl.last["v"] < 0:  # backing off: the tip 6 mm back
        ctl.command(_moved(state, path.points[j0], t))
        t += dt
    rows = []
    for k in range(int(3.0 / dt)):  # creep forward at 1 mm/s
        j = max(j0, int(np.searchsorted(path.s, path.s[j0] + 0.001 * k * dt)))
        ctl.command(_moved(state, path.points[j], t + k * dt))
        rows.append((ctl.last["v"], ctl.last["jams"]))
    assert path.s[j] < s_jam  # still behind the jam point
    assert all(v >= 0.0 and jams == 1 for v, jams in rows)


@pytest.mark.parametrize("factor", [1.0, 0.5])
def test_follower_backs_off_with_its_bend_held(wedged, factor):
    """While backing off the follower commands its bend times backoff_bend_factor: the
    benchmark follower (1) holds it, so that a tip bent past a branch opening hooks into the
    opening as it is withdrawn; the trajectory source's default (0.5) relaxes it."""
    from room.nav.navigators import NAV_FOLLOWER
    from room.robot.controllers import CenterlineFollower

    env, dt = wedged, 1.0 / 30.0
    # a far aim point (in branch 1, past the bifurcation): the tip bends towards it
    cfg = dataclasses.replace(NAV_FOLLOWER, backoff_bend_factor=factor, lookahead_m=0.05)
    state = dataclasses.replace(env.sim.state, max_force_N=0.0)
    ctl = CenterlineFollower(env.scene.tree, 1, env.sim.robot_cfg, cfg, dt=dt)
    bends, vs = [], []
    for k in range(int(2.5 / dt)):
        cmd = ctl.command(dataclasses.replace(state, time_s=state.time_s + k * dt))
        bends.append(cmd.values[:2].copy())
        vs.append(ctl.last["v"])
    back = int(np.argmax(np.array(vs) < 0))
    assert back > 0 and np.linalg.norm(bends[back - 1]) > 0.05  # bent when it jammed
    # the aim is the same at the same state: only the back-off scales the bend
    assert np.allclose(bends[back], factor * bends[back - 1], atol=1e-9)
    if factor == 1.0:
        assert NAV_FOLLOWER.backoff_bend_factor == 1.0



def test_follower_is_done_only_in_the_lumen(wedged):
    """goal_radius_factor = 1 (the benchmark follower): past the goal but more than one local
    lumen radius off the path (overshot beyond the branch end) it is not done and backs off;
    back within a radius it is done and stops. With 0 (the trajectory source's default) done
    latches wherever the tip is."""
    from room.nav.navigators import NAV_FOLLOWER
    from room.robot.controllers import CenterlineFollower

    env, dt = wedged, 1.0 / 30.0
    state = dataclasses.replace(env.sim.state, max_force_N=0.0)
    assert NAV_FOLLOWER.goal_radius_factor == 1.0
    for factor in (1.0, 0.0):
        cfg = dataclasses.replace(NAV_FOLLOWER, goal_radius_factor=factor, goal_margin_m=0.01)
        ctl = CenterlineFollower(env.scene.tree, 1, env.sim.robot_cfg, cfg, dt=dt)
        path = ctl.path
        i = len(path.s) - 3  # 2 samples before the branch end: past the goal
        d = path.points[i + 1] - path.points[i - 1]
        side = np.cross(d, [1.0, 0.0, 0.0])
        side /= np.linalg.norm(side)
        r = path.radii[i]
        ctl.command(_moved(state, path.points[i] + 1.2 * r * side, 0.0))  # off: overshot
        assert ctl.last["s_tip"] >= path.length - cfg.goal_margin_m
        if factor:
            assert not ctl.done and ctl.last["overshot"] and ctl.last["v"] < 0
        else:
            assert ctl.done and ctl.last["v"] == 0.0
        ctl.command(_moved(state, path.points[i] + 0.5 * r * side, dt))  # back in the lumen
        assert ctl.done and ctl.last["v"] == 0.0 and not ctl.last["overshot"]
