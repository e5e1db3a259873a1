"""Controllers that turn a :class:`~room.robot.interface.SimState` into a
:class:`~room.robot.interface.JointCommand` (types of the robot stage, so the simulator above
runs controllers without the controllers importing it).

- :class:`CenterlineFollower`: drives the scope along the centerline path from the trachea to a
  target branch (insert, roll, bend), pure-pursuit style: at every control step the tip is
  aimed at a look-ahead point on the path, the bending plane is set by roll and the bending
  angle solved on the constant-curvature arc; insertion slows for large steering errors,
  near bifurcations and with wall force, and backs off when the tip has left the path or made
  no progress (a jam), then retries (optionally with other look-aheads and longer back-offs:
  ``retry_*``). A scope with two tendon planes (``bending_planes=2``) bends straight towards
  the aim point instead (hinge angles from ``kinematics.hinge_command``) and holds its roll.
- :class:`ScriptedTeleop`: joint-space teleoperation from timed joint targets or a callable.

Lengths in metres, angles in radians, the world frame as in the scene.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from room.anatomy.path import CenterlinePath
from room.anatomy.tree import CenterlineTree
from room.errors import ConfigError
from room.robot.config import RobotConfig
from room.robot.interface import JointCommand, SimState
from room.robot.kinematics import axis_to_bend, hinge_command


@dataclass(frozen=True)
class FollowerConfig:
    """Tuning of :class:`CenterlineFollower` (SI units)."""

    lookahead_m: float = 0.010  # aim point this far ahead of the tip along the path
    insertion_speed_m_s: float = 0.02
    slow_factor: float = 0.5  # speed factor within slow_zone_m of a bifurcation
    slow_zone_m: float = 0.012
    force_soft_N: float = 0.15  # insertion slows down above this total wall force
    force_max_N: float = 0.5  # ... stops and backs off above this
    roll_deadband_m: float = 0.0005  # no roll change while the aim point is this close to axis
    goal_margin_m: float = 0.004  # done when the tip is this close to the target branch end
    sign_change_cost: float = 0.3  # rad of roll worth keeping the bending sign
    roll_centre_cost: float = 1.0  # per rad of target roll beyond +-90 degrees
    roll_lag_rad: float = 0.3  # roll this far behind its servo while turning: back off
    jam_time_s: float = 1.5  # no progress (1 mm) for this long: a jam ...
    backoff_s: float = 0.6  # ... back off this long at half speed, then go on
    backoff_bend_factor: float = 0.5  # bending angle scaled by this while backing off
    # two tendon planes only: closed-loop aim. The measured tip axis (in the bending-section
    # base frame) is compared with the commanded bend; the error is integrated into a
    # correction of the command (gain per second, at most aim_correction_max_rad), and
    # insertion waits while the tip points more than aim_error_stop_rad away from the command
    aim_gain_per_s: float = 0.0
    aim_correction_max_rad: float = 0.8
    aim_error_stop_rad: float = 0.6
    # retract-and-retry: after the k-th jam at the same place the follower re-advances aiming
    # with the k-th look-ahead of (lookahead_m, retry_lookahead_short_m,
    # retry_lookahead_long_m) in turn (0: not used) and backs off retry_backoff_growth x
    # longer for every further jam there (1: always backoff_s)
    retry_lookahead_short_m: float = 0.0
    retry_lookahead_long_m: float = 0.0
    retry_backoff_growth: float = 1.0
    retry_reset_m: float = 0.005  # a jam this far past the last one starts a new series
    lost_radius_factor: float = 1.0  # lost (back off): tip farther than this x the local
    # mean lumen radius from the path (wide, non-circular lumens need more than 1)
    # 0: done (latched) once the tip's projection is within goal_margin_m of the branch end.
    # > 0: done only while the tip is also within this x the local lumen radius of the path;
    # past the goal but farther off (overshot beyond the branch end, into a child or against
    # its wall) it backs off until it is back in the lumen
    goal_radius_factor: float = 0.0

    def __post_init__(self) -> None:
        for k, v in vars(self).items():
            if not (np.isfinite(v) and v >= 0):
                raise ConfigError(f"FollowerConfig.{k} must be finite and >= 0, got {v!r}")
        if self.force_max_N <= self.force_soft_N:
            raise ConfigError("FollowerConfig.force_max_N must exceed force_soft_N")


def _wrap(a: float) -> float:
    return float((a + np.pi) % (2 * np.pi) - np.pi)


def solve_bend(lateral: float, axial: float, length: float, theta_max: float) -> float:
    """Bending angle (>= 0) that points the tip of a constant-curvature section of ``length``
    at the point (``lateral`` towards the bending direction, ``axial`` along the base z axis),
    by bisection on ``atan2(point - tip(theta)) = theta``, clipped to ``theta_max``."""
    def f(th: float) -> float:
        if th < 1e-9:
            tl, ta = 0.0, length
        else:
            tl, ta = length / th * (1 - np.cos(th)), length / th * np.sin(th)
        return np.arctan2(lateral - tl, axial - ta) - th

    if f(0.0) <= 0.0:
        return 0.0
    if f(theta_max) >= 0.0:
        return theta_max
    lo, hi = 0.0, theta_max
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    return 0.5 * (lo + hi)


class CenterlineFollower:
    """Follow the centerline to ``target_branch_id``; ``command(state)`` returns position
    targets. ``done`` is True once the tip is within ``goal_margin_m`` of the branch end (with
    ``goal_radius_factor`` > 0: while it is, within that many lumen radii of the path)."""

    def __init__(self, tree: CenterlineTree, target_branch_id: int,
                 robot: RobotConfig | None = None, cfg: FollowerConfig | None = None,
                 dt: float = 1.0 / 60.0):
        self.tree, self.target = tree, int(target_branch_id)
        self.robot = robot or RobotConfig()
        self.cfg = cfg or FollowerConfig()
        if not (np.isfinite(dt) and dt > 0):
            raise ConfigError(f"control period dt must be > 0 s, got {dt!r}")
        self.dt = dt
        self.path = CenterlinePath(tree, self.target)
        self.done = False
        self.last: dict = {}
        self._committed: float | None = None  # bending sign of a half turn under way
        self._best_s, self._best_t = -np.inf, 0.0  # best progress and when it was made
        self._backoff_until: float | None = None
        self._aim_corr = np.zeros(2)  # closed-loop aim correction (two planes), rad
        self._jams, self._jam_s = 0, -np.inf  # jams in the current series, where it began

    def _bend_base(self, state: SimState) -> np.ndarray:
        """Frame at the start of the bending section (the tip frame walked back along the
        measured arc) -- taken from the simulated links when available."""
        rc = self.robot
        n_bend = rc.bending_links
        T = state.link_poses[len(state.link_poses) - n_bend - 1].copy()
        T[:3, 3] = T[:3, :3] @ [0, 0, rc.shaft_length_m / rc.shaft_links] + T[:3, 3]
        return T

    def _steer_two_plane(self, w: np.ndarray, lateral: float, state: SimState):
        """Two tendon planes: bend straight towards the aim point ``w`` (bending-base frame),
        the roll held at its servo target. Returns (bend (2,), roll error, roll target, roll
        stuck)."""
        rc = self.robot
        hold = float(state.q_target[-2])
        if lateral <= self.cfg.roll_deadband_m:
            return np.zeros(2), 0.0, hold, False
        theta = solve_bend(lateral, w[2], rc.bending_length_m, rc.max_bend_rad)
        # the plane phi bends towards (sin phi, -cos phi) of the base frame (kinematics)
        phi = np.arctan2(w[0], -w[1])
        return theta * np.array([np.cos(phi), np.sin(phi)]), 0.0, hold, False

    def _lookahead(self) -> float:
        """The aim point's distance ahead of the tip (m) for the current retry."""
        cfg = self.cfg
        opts = [cfg.lookahead_m] + [x for x in (cfg.retry_lookahead_short_m,
                                                cfg.retry_lookahead_long_m) if x > 0]
        return opts[self._jams % len(opts)]

    def _on_jam(self, s_tip: float) -> None:
        """Count a jam (a new series once the tip got ``retry_reset_m`` past the last one's
        place) and forget the aim correction learnt on the way in."""
        if s_tip > self._jam_s + self.cfg.retry_reset_m:
            self._jams, self._jam_s = 0, s_tip
        self._jams += 1
        self._aim_corr = np.zeros(2)

    def _measured_bend(self, state: SimState, T_B: np.ndarray) -> np.ndarray:
        """The arc bend (two-plane vector, rad) that points the tip where it points now: the
        measured tip axis in the bending-section base frame."""
        return axis_to_bend(T_B[:3, :3].T @ state.T_world_tip[:3, 2])

    def _close_aim(self, bend: np.ndarray, state: SimState, T_B: np.ndarray):
        """Two planes: the hinge command for the wanted bend (arc model, see
        kinematics.hinge_command), with the closed-loop aim: the error between the wanted and
        the measured tip direction integrated into a bounded correction. Returns (hinge
        command, aim error rad)."""
        cfg, rc = self.cfg, self.robot
        err = bend - self._measured_bend(state, T_B)
        e = float(np.linalg.norm(err))
        if cfg.aim_gain_per_s > 0.0:
            c = self._aim_corr + cfg.aim_gain_per_s * self.dt * err
            n = float(np.linalg.norm(c))
            if n > cfg.aim_correction_max_rad:
                c *= cfg.aim_correction_max_rad / n
            self._aim_corr = c
            bend = bend + c
            n = float(np.linalg.norm(bend))
            if n > rc.max_bend_rad:
                bend *= rc.max_bend_rad / n
        return hinge_command(bend[0], bend[1], rc.bending_links, rc.max_bend_rad), e

    def _steer_roll(self, w: np.ndarray, lateral: float, q: np.ndarray, state: SimState):
        """One tendon plane: roll so that the bending direction (-y of the base frame) faces
        the aim point ``w``, then bend. Returns (bend (1,), roll error, roll target, roll
        stuck)."""
        rc, cfg = self.robot, self.cfg
        q1, q2 = q[0], q[-2]
        roll_err, sign = 0.0, 1.0 if q1 >= 0 else -1.0
        if lateral > cfg.roll_deadband_m:
            psi = np.arctan2(w[1], w[0])
            d = _wrap(psi + np.pi / 2)  # roll for positive bending
            # candidate absolute rolls: this plane with either bending sign, and their 2 pi
            # twins; within the roll limit, prefer the smaller roll, the current bending sign,
            # and a roll near the middle of its range (a roll run to its limit forces a half
            # turn at the next bifurcation, with the tip in a narrow branch: a jam)
            cands = [(q2 + a + k * 2 * np.pi, sg) for a, sg in ((d, 1.0), (_wrap(d - np.pi), -1.0))
                     for k in (-1, 0, 1)]
            ok = [c for c in cands if abs(c[0]) <= rc.roll_limit_rad] or cands[1::3]

            def cost(c):
                return (abs(c[0] - q2) + (cfg.sign_change_cost if c[1] != sign else 0.0)
                        + cfg.roll_centre_cost * max(0.0, abs(c[0]) - 0.5 * np.pi))

            if self._committed is not None:  # finish a half turn once begun (no dithering)
                ok = [c for c in ok if c[1] == self._committed] or ok
            best = min(ok, key=cost)
            roll_err, sign = best[0] - q2, best[1]
            if abs(roll_err) > 0.5 * np.pi and best[1] != (1.0 if q1 >= 0 else -1.0):
                self._committed = best[1]
            elif abs(roll_err) < 0.3:
                self._committed = None
        theta = solve_bend(lateral * np.cos(roll_err), w[2], rc.bending_length_m,
                           rc.max_bend_rad)
        q2_t = float(np.clip(q2 + roll_err, -rc.roll_limit_rad, rc.roll_limit_rad))
        # a roll that does not follow its servo (a bent tip wedged in the wall) frees itself
        # by backing off straight
        roll_stuck = bool(abs(roll_err) > np.pi / 4
                          and abs(state.q_target[-2] - q2) > cfg.roll_lag_rad
                          and abs(state.qdot[-2]) < 0.25 * rc.roll_speed_max_rad_s)
        return np.array([sign * theta]), roll_err, q2_t, roll_stuck

    def command(self, state: SimState) -> JointCommand:
        rc, cfg = self.robot, self.cfg
        q = np.asarray(state.q, float)
        tip = state.T_world_tip[:3, 3]
        s_tip, d_path, r_here = self.path.project(tip)
        at_goal = s_tip >= self.path.length - cfg.goal_margin_m
        overshot = False
        if cfg.goal_radius_factor > 0.0:
            self.done = at_goal and d_path <= cfg.goal_radius_factor * r_here
            overshot = at_goal and not self.done
        else:
            self.done = self.done or at_goal
        lost = d_path > cfg.lost_radius_factor * r_here
        T_B = self._bend_base(state)
        look = self.path.point_at(s_tip + self._lookahead())
        w = T_B[:3, :3].T @ (look - T_B[:3, 3])
        lateral = float(np.hypot(w[0], w[1]))
        aim_err = 0.0
        if rc.bending_planes == 2:
            bend, roll_err, q2_t, roll_stuck = self._steer_two_plane(w, lateral, state)
            bend, aim_err = self._close_aim(bend, state, T_B)
        else:
            bend, roll_err, q2_t, roll_stuck = self._steer_roll(w, lateral, q, state)
        theta = float(np.linalg.norm(bend))
        # insertion speed
        v = cfg.insertion_speed_m_s
        near = np.abs(self.path.bifurcations_s - s_tip)
        if near.size and near.min() < cfg.slow_zone_m:
            v *= cfg.slow_factor
        v *= max(0.0, 1.0 - abs(roll_err) / (np.pi / 4))  # wait for the roll to settle
        # ... and for the bend: the measured one (one plane), the servo targets (two planes:
        # contact twists the spherical bending joints, a measured bend that never settles
        # would stall the insertion)
        ref = q[:1] if rc.bending_planes == 1 else np.asarray(state.q_target)[:2]
        v *= max(0.0, 1.0 - float(np.linalg.norm(bend - ref)) / 0.5)
        if cfg.aim_gain_per_s > 0.0:  # the tip points elsewhere than wanted: wait for it
            v *= max(0.0, 1.0 - aim_err / cfg.aim_error_stop_rad)
        f = state.max_force_N
        if f > cfg.force_soft_N:
            v *= max(0.0, (cfg.force_max_N - f) / (cfg.force_max_N - cfg.force_soft_N))
        # jam recovery: no progress for jam_time_s -> back off for backoff_s, then retry
        t = float(state.time_s)
        # progress counts only with the tip in the path's lumen: lost in a neighbouring
        # lumen, its projection on the path can lie far ahead of where it really got
        if s_tip > self._best_s + 0.001 and not lost:
            self._best_s, self._best_t = s_tip, t
        if self._backoff_until is None and t - self._best_t > cfg.jam_time_s and not self.done:
            self._on_jam(s_tip)
            self._backoff_until = t + cfg.backoff_s * cfg.retry_backoff_growth ** min(
                self._jams - 1, 3)
        backing = self._backoff_until is not None and t < self._backoff_until
        if self._backoff_until is not None and not backing:  # a retry: judged on its own
            self._backoff_until, self._best_s, self._best_t = None, s_tip, t
        if f > cfg.force_max_N or lost or roll_stuck or backing or overshot:
            v = -0.5 * cfg.insertion_speed_m_s
        if backing:  # relax the bend so that the tip frees itself and the roll settles
            bend = bend * cfg.backoff_bend_factor
        if self.done:
            v = 0.0
        q3_t = float(np.clip(q[-1] + v * self.dt * 2.0, 0.0, rc.insertion_max_m))
        self.last = {"s_tip": s_tip, "d_path": d_path, "radius": r_here, "lost": lost,
                     "roll_stuck": roll_stuck, "overshot": overshot,
                     "roll_err": roll_err, "theta": theta, "v": v, "aim_err": aim_err,
                     "jams": self._jams}
        return JointCommand(np.array([*bend, q2_t, q3_t]), "position")

    __call__ = command


class ScriptedTeleop:
    """Joint-space teleoperation: ``script`` is a list of ``(time_s, q)`` waypoints
    (linearly interpolated, held after the last) or a callable ``f(time_s) -> q``.
    ``command(state)`` returns the position target for the end of the next control step."""

    def __init__(self, script: Sequence[tuple[float, Sequence[float]]] | Callable,
                 dt: float = 1.0 / 60.0):
        self.dt = dt
        if callable(script):
            self.f = script
            return
        ts = np.array([float(t) for t, _ in script])
        qs = np.array([np.asarray(q, float) for _, q in script])
        if len(ts) == 0 or np.any(np.diff(ts) <= 0) or not np.all(np.isfinite(qs)):
            raise ConfigError("teleop script needs waypoints with strictly increasing times "
                              "and finite joint values")
        self.f = lambda t: np.array([np.interp(t, ts, qs[:, k]) for k in range(qs.shape[1])])

    def command(self, state: SimState) -> JointCommand:
        return JointCommand(np.asarray(self.f(state.time_s + self.dt), float), "position")

    __call__ = command
