"""Navigators: policies that steer the scope in :class:`room.env.BronchoscopyNavEnv` towards its
target, all behind one interface (:class:`Navigator`): ``reset(env, seed)`` at the start of a
trial, ``act(obs, env) -> action`` (joint rates in [-1, 1], the env's action) every step.

- :class:`FollowerNavigator`: the centerline follower (:class:`room.robot.controllers.
  CenterlineFollower`) on the planned path (privileged: it knows the tip pose and the map),
  tuned as :data:`NAV_FOLLOWER` (retract-and-retry at a stall); its joint targets become
  rates.
- :class:`MPCNavigator`: sampling model-predictive control on a depth image (ground truth, or
  predicted from the RGB by a depth model, see :mod:`room.nav.depth`). Every step it samples
  joint-rate sequences over a short horizon, predicts the bending section's shape along each
  (from the measured bending-section base: the hinge chain of a two-plane section, the
  constant-curvature arc of a one-plane one), and scores it
  by progress towards the goal's next waypoint (the env's ``goal`` observation), heading towards
  it, and clearance read from the depth image (the predicted scope points against the
  back-projected wall points; a point behind the visible wall or closer than the scope radius is
  a predicted wall contact). The first action of the best sequence is applied (receding horizon).
  No progress along the path for ``jam_time_s``: it retracts for ``backoff_s``, pushes by
  pursuit on the goal direction for ``push_s`` (two planes), then plans again.
- :class:`RandomNavigator`: uniformly random joint rates, held for a few steps (a baseline).

Every navigator is deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from room.errors import ConfigError
from room.robot.controllers import CenterlineFollower, FollowerConfig
from room.robot.kinematics import hinge_points


class Navigator:
    """Interface. ``observation``: the env observation mode it needs (rgbd | rgb | depth |
    none)."""

    name = "navigator"
    observation = "none"

    def reset(self, env: Any, seed: int) -> None:  # pragma: no cover - interface
        pass

    def _pursue(self, obs: dict, state: Any) -> np.ndarray:
        """Two planes: bend rates that turn the tip axis towards the goal direction (camera
        frame; damped least squares on the hinge section's Jacobian, kinematics.hinge_points,
        for a step of at most 0.3 rad) and
        insertion at push_speed, scaled by the alignment, stopped above force_soft_N."""
        cfg, rc = self.cfg, self.rc
        q = np.asarray(state.q_target, float)
        u = np.asarray(obs["goal"][:3], float)
        T = np.linalg.inv(state.T_world_cam) @ _bend_base(state, rc)
        h = 1e-3
        ab = q[:2] + np.array([[0.0, 0.0], [h, 0.0], [0.0, h]])
        _, ax = hinge_points(ab[:, 0], ab[:, 1], rc.bending_length_m, rc.bending_links)
        ax = ax @ T[:3, :3].T  # camera frame
        J = np.stack([(ax[1] - ax[0]) / h, (ax[2] - ax[0]) / h], axis=1)  # (3, 2)
        err = u - ax[0]
        n_err = float(np.linalg.norm(err))
        if n_err > 0.3:  # a step of at most ~0.3 rad towards the goal direction
            err *= 0.3 / n_err
        # damped least squares: near a singular bend (large bends) no wild swings
        d = np.linalg.solve(J.T @ J + 0.05 * np.eye(2), J.T @ err)
        a = np.zeros(rc.n_q, np.float32)
        a[:2] = np.clip(d / (self.vmax[:2] * cfg.push_settle_s), -1.0, 1.0)
        align = float(np.clip(ax[0] @ u, 0.0, 1.0))
        if state.max_force_N < cfg.force_soft_N:
            a[-1] = cfg.push_speed * align
        return a

    def act(self, obs: dict, env: Any) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


def _action_period(env: Any) -> float:
    return env.sim.dt * env.task.control_steps_per_action


def rates_to(env: Any, q_target: np.ndarray) -> np.ndarray:
    """The env action that moves the servo targets to ``q_target`` within one action."""
    s = env.sim.state
    vmax = np.asarray(env.sim.robot_cfg.qdot_max)
    a = (np.asarray(q_target) - s.q_target) / (vmax * _action_period(env))
    return np.clip(a, -1.0, 1.0).astype(np.float32)


#: The benchmark follower's tuning: the controller's defaults (those of the physical trajectory
#: source) plus what a robotic-bronchoscope operator does at a stall: retract and retry with
#: another aim point (a nearer, then a farther look-ahead), and keep pushing up to 0.9 N of
#: wall force (insertion slows from 0.3 N; the task fails at 1.5 N) so that the tip slides
#: along the wall into a narrow branch instead of stopping at 0.5 N. The closed-loop aim
#: (aim_gain_per_s) stays off: integrated against a wall it over-bends the tip into it. The
#: tip counts as lost (back off) only beyond 1.5 mean lumen radii from the path: the CT
#: scene's lumens are not circular, and at 1 radius the follower backed off at the carina
#: with the tip free in the lumen. While it backs off it holds its bend
#: (``backoff_bend_factor=1``): past the opening of a branch that leaves at more than 90
#: degrees (the carina crop's branch 6), the bent tip withdrawn a few millimetres hooks into
#: the opening, as a bronchoscopist enters an upper lobe; relaxing the bend lost it. It is
#: done only with the tip in the lumen (``goal_radius_factor=1``, the task's own test): a tip
#: that overshoots past the target branch's end backs off into it instead of stopping there.
NAV_FOLLOWER = FollowerConfig(force_soft_N=0.3, force_max_N=0.9,
                              retry_lookahead_short_m=0.005, retry_lookahead_long_m=0.016,
                              retry_backoff_growth=1.5, lost_radius_factor=1.5,
                              backoff_bend_factor=1.0, goal_radius_factor=1.0)


class FollowerNavigator(Navigator):
    """The centerline follower; its goal is the middle of the target's last third."""

    name = "follower"
    observation = "none"

    def __init__(self, cfg: FollowerConfig | None = None) -> None:
        self.cfg = cfg or NAV_FOLLOWER

    def reset(self, env: Any, seed: int) -> None:
        nav = env.nav
        margin = 0.5 * (nav.s_end - nav.s_goal)
        cfg = FollowerConfig(**{**vars(self.cfg), "goal_margin_m": margin})
        self.ctl = CenterlineFollower(env.scene.tree, env.target, env.sim.robot_cfg, cfg,
                                      dt=_action_period(env))

    def act(self, obs: dict, env: Any) -> np.ndarray:
        return rates_to(env, self.ctl.command(env.sim.state).values)


class RandomNavigator(Navigator):
    """Uniform random joint rates, each held for ``hold`` steps."""

    name = "random"
    observation = "none"

    def __init__(self, hold: int = 10) -> None:
        self.hold = hold

    def reset(self, env: Any, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.k, self.a = 0, None

    def act(self, obs: dict, env: Any) -> np.ndarray:
        if self.k % self.hold == 0:
            self.a = self.rng.uniform(-1.0, 1.0, env.action_space.shape).astype(np.float32)
        self.k += 1
        return self.a


@dataclass(frozen=True)
class MPCConfig:
    """Sampling MPC on depth (SI units; weights dimensionless per metre / per unit)."""

    horizon_s: float = 0.5
    horizon_points: int = 5  # predicted shapes along the horizon
    segments: int = 2  # piecewise-constant rate segments per sequence
    samples: int = 48  # random sequences on top of the constant-rate grid
    arc_points: int = 4  # points along the bending section checked for clearance
    cloud_stride: int = 4  # depth pixels subsampled for the wall point cloud
    w_progress: float = 300.0  # per metre of approach to the waypoint
    w_heading: float = 1.0  # per unit cosine between the tip axis and the waypoint
    w_clearance: float = 2000.0  # per metre of missing clearance (summed over points)
    w_collision: float = 5.0  # per predicted point behind the visible wall
    # wanted gap between scope surface and wall: 1.5 mm stalled the MPC in 6.6-8 mm lumens
    # (phantom generation 3), where a centred 4.2 mm scope has 1.2-1.9 mm
    safe_clearance_m: float = 0.0005
    force_soft_N: float = 0.2  # measured wall force above this: insertion is penalised
    w_force: float = 2.0
    far_m: float = 0.08  # depth 0 (no hit) read as this far
    w_effort: float = 0.05  # per unit of mean bend + roll rate (no needless motion)
    w_roll_centre: float = 1.0  # per rad of predicted roll beyond +-90 degrees
    # retract-and-retry on a stall: the path left to the target (the goal observation) shrank
    # by less than jam_progress_m in jam_time_s -> retract at half speed for backoff_s with
    # the bend relaxing towards straight, then plan again (0: off)
    jam_time_s: float = 1.5
    jam_progress_m: float = 0.001
    backoff_s: float = 0.6
    # after a retract (two tendon planes): re-advance for push_s by pursuit on the goal
    # observation, turning the tip towards the waypoint (the hinge section's Jacobian) and
    # inserting at push_speed x full speed while the measured force stays under force_soft_N,
    # then plan again. Sampled plans predict the scope in free space; round a turn sharper than
    # about 90 degrees (the carina crop's 120-degree entry into branch 6) insertion moves the
    # bent section along its base axis, away from the goal, so no plan makes progress and the
    # scope must slide along the wall as the follower's does (0: off)
    push_s: float = 5.0
    push_speed: float = 0.3
    push_settle_s: float = 0.3  # the bend closes its error to the goal direction in about this

    def __post_init__(self) -> None:
        if self.horizon_s <= 0 or self.horizon_points < 1 or self.segments < 1 or \
                self.samples < 0 or self.arc_points < 1 or self.cloud_stride < 1:
            raise ConfigError("MPCConfig: horizon_s > 0, horizon_points/segments/arc_points/"
                              "cloud_stride >= 1, samples >= 0")
        if min(self.jam_time_s, self.jam_progress_m, self.backoff_s, self.push_s,
               self.push_speed) < 0 or self.push_speed > 1 or self.push_settle_s <= 0:
            raise ConfigError("MPCConfig: jam_time_s, jam_progress_m, backoff_s, push_s must be"
                              " >= 0 (jam_time_s = 0 turns the retry off), push_speed in"
                              " [0, 1], push_settle_s > 0")


def _bend_base(state: Any, rc: Any) -> np.ndarray:
    """World frame at the start of the bending section (measured links)."""
    T = state.link_poses[len(state.link_poses) - rc.bending_links - 1].copy()
    T[:3, 3] = T[:3, :3] @ [0, 0, rc.shaft_length_m / rc.shaft_links] + T[:3, 3]
    return T


def arc_points(theta: np.ndarray, length: float, u: np.ndarray) -> np.ndarray:
    """Points at fractions ``u`` (P,) along a constant-curvature arc bent by ``theta`` (...,)
    towards -y of its base frame: (..., P, 3). Also the tip axis at u = 1: see arc_axis."""
    th = np.asarray(theta, float)[..., None] * u  # (..., P)
    s = length * u  # arc length to each point; sin(th)/k and (1 - cos th)/k with k = theta/L,
    # written with sinc so that a straight section (theta = 0) keeps its length
    z = s * np.sinc(th / np.pi)
    y = -s * 0.5 * th * np.sinc(th / (2.0 * np.pi)) ** 2
    return np.stack([np.zeros_like(y), y, z], axis=-1)


class MPCNavigator(Navigator):
    """Sampling MPC on depth; ``depth``: "gt" (the renderer's depth) or a
    :class:`room.nav.depth.DepthPredictor` (depth predicted from the RGB)."""

    def __init__(self, cfg: MPCConfig | None = None, depth: Any = "gt", name: str = "") -> None:
        self.cfg = cfg or MPCConfig()
        self.depth = depth
        self.observation = "depth" if depth == "gt" else "rgb"
        self.name = name or ("mpc_gt" if depth == "gt" else "mpc_pred")
        self.last: dict = {}

    def reset(self, env: Any, seed: int) -> None:
        cfg, rc = self.cfg, env.sim.robot_cfg
        self.rng = np.random.default_rng(seed)
        self.rc, self.vmax = rc, np.asarray(rc.qdot_max)
        n = rc.n_q
        levels = (-1, -0.4, 0, 0.4, 1)
        if n == 3:  # one tendon plane: bend, roll, insertion
            grid = np.array([[b, r, i] for b in levels for r in (-1, 0, 1)
                             for i in (-0.5, 0, 0.5, 1)], float)
        else:  # two tendon planes: bend in any direction, roll held (rate 0)
            grid = np.array([[a, b, 0.0, i] for a in levels for b in levels
                             for i in (-0.5, 0, 0.5, 1)], float)
        const = np.repeat(grid[:, None, :], cfg.segments, axis=1)
        rand = self.rng.uniform(-1, 1, (cfg.samples, cfg.segments, n))
        if n == 4:
            rand[..., 2] = 0.0
        self.seqs = np.concatenate([const, rand])  # (C, S, n) rates in [-1, 1]
        intr = env.renderer.intrinsics
        self.K = (intr.fx, intr.fy, intr.cx, intr.cy, intr.width, intr.height)
        self._period = _action_period(env)
        self._best_left, self._best_t, self._backoff_until = np.inf, None, None
        self._push_until: float | None = None
        self.retries = 0

    # ------------------------------------------------------------------ depth and cloud
    def _depth(self, obs: dict, env: Any) -> np.ndarray:
        if self.depth == "gt":
            return obs["depth"]
        return self.depth(obs["rgb"])

    def _cloud(self, depth: np.ndarray) -> np.ndarray:
        fx, fy, cx, cy, _, _ = self.K
        st = self.cfg.cloud_stride
        v, u = np.mgrid[st // 2:depth.shape[0]:st, st // 2:depth.shape[1]:st]
        z = depth[v, u]
        ok = z > 0
        z, u, v = z[ok], u[ok], v[ok]
        return np.stack([(u - cx) / fx * z, (v - cy) / fy * z, z], axis=1)

    # ------------------------------------------------------------------------ predict
    def predict(self, state: Any, T_world_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted bending-section points (C, T, P, 3) and tip axes (C, T, 3) in the
        current camera frame, for every sampled rate sequence (one bending plane turned by the
        roll, on the constant-curvature arc; two planes: the hinge section's own kinematics,
        ``kinematics.hinge_points``, which puts the tip 2-5 mm from the arc with the same tip
        axis at bends of 1-2 rad)."""
        cfg, rc = self.cfg, self.rc
        C, S, _ = self.seqs.shape
        ts = np.linspace(cfg.horizon_s / cfg.horizon_points, cfg.horizon_s, cfg.horizon_points)
        seg = cfg.horizon_s / S
        # integral of the piecewise-constant rates up to each t: (C, T, 3)
        k = np.minimum((ts // seg).astype(int), S - 1)
        n = self.seqs.shape[2]
        cum = np.concatenate([np.zeros((C, 1, n)), np.cumsum(self.seqs, axis=1) * seg], axis=1)
        dq = cum[:, k] + self.seqs[:, k] * (ts - k * seg)[None, :, None]
        dq *= self.vmax
        q = state.q_target
        bend = np.clip(q[:n - 2] + dq[..., :n - 2], -rc.max_bend_rad, rc.max_bend_rad)
        droll = np.clip(q[-2] + dq[..., -2], -rc.roll_limit_rad, rc.roll_limit_rad) - q[-2]
        self._roll_end = q[-2] + droll[:, -1]
        dins = np.clip(q[-1] + dq[..., -1], 0.0, rc.insertion_max_m) - q[-1]
        u = np.linspace(1.0 / cfg.arc_points, 1.0, cfg.arc_points)
        if n == 3:  # signed angle in the plane of the roll, on the constant-curvature arc
            th = bend[..., 0]
            P = arc_points(th, rc.bending_length_m, u)  # (C, T, P, 3) bent towards -y
            ax = np.stack([np.zeros_like(th), -np.sin(th), np.cos(th)], axis=-1)
        else:  # the hinge section itself (kinematics.hinge_points): the link ends nearest u
            H, ax = hinge_points(bend[..., 0], bend[..., 1], rc.bending_length_m,
                                 rc.bending_links)
            P = H[..., np.ceil(u * rc.bending_links - 1e-9).astype(int) - 1, :]
        # turn about the base axis by the roll change, shift by the insertion
        c, s = np.cos(droll), np.sin(droll)
        Pb = np.stack([c[..., None] * P[..., 0] - s[..., None] * P[..., 1],
                       s[..., None] * P[..., 0] + c[..., None] * P[..., 1],
                       P[..., 2] + dins[..., None]], axis=-1)
        ax_b = np.stack([c * ax[..., 0] - s * ax[..., 1], s * ax[..., 0] + c * ax[..., 1],
                         ax[..., 2]], axis=-1)
        T_B = _bend_base(state, rc)
        T_cam_B = np.linalg.inv(T_world_cam) @ T_B
        R, t = T_cam_B[:3, :3], T_cam_B[:3, 3]
        return Pb @ R.T + t, ax_b @ R.T

    # ---------------------------------------------------------------------------- act
    def _retreat(self, obs: dict, state: Any) -> np.ndarray | None:
        """The retract action while a retry is under way (None otherwise): no progress along
        the path for ``jam_time_s`` starts one (progress read from the goal observation)."""
        cfg = self.cfg
        if cfg.jam_time_s <= 0:
            return None
        t, left = float(state.time_s), float(obs["goal"][4])
        if self._best_t is None or left < self._best_left - cfg.jam_progress_m:
            self._best_left, self._best_t = left, t
        if self._backoff_until is None and t - self._best_t > cfg.jam_time_s:
            self._backoff_until = t + cfg.backoff_s
            self.retries += 1
        if self._backoff_until is None:
            return None
        if t >= self._backoff_until:  # retry: push by pursuit (two planes), then plan again
            self._backoff_until, self._best_t = None, t
            if cfg.push_s > 0 and self.rc.n_q == 4:
                self._push_until = t + cfg.push_s
            return None
        n = self.rc.n_q
        a = np.zeros(n, np.float32)
        bend = np.asarray(state.q_target[:n - 2], float)  # relax the bend by half a rate
        a[:n - 2] = -0.5 * np.clip(bend / (self.vmax[:n - 2] * self._period), -1.0, 1.0)
        a[-1] = -0.5
        return a

    def act(self, obs: dict, env: Any) -> np.ndarray:
        cfg = self.cfg
        state = env.sim.state
        back = self._retreat(obs, state)
        if back is not None:
            return back
        if self._push_until is not None:
            if float(state.time_s) < self._push_until:
                return self._pursue(obs, state)
            self._push_until = None
        depth = self._depth(obs, env)
        g = obs["goal"]
        goal = np.asarray(g[:3], float) * float(g[3])  # next waypoint, camera frame
        pts, axes = self.predict(state, state.T_world_cam)
        tip = pts[:, :, -1]  # (C, T, 3)
        d0 = np.linalg.norm(goal)
        dist = np.linalg.norm(goal[None, None] - tip, axis=-1)
        progress = d0 - dist[:, -1]
        to_goal = goal[None] - tip[:, -1]
        heading = np.einsum("ij,ij->i", axes[:, -1], to_goal) / np.maximum(
            np.linalg.norm(to_goal, axis=1), 1e-6)
        # clearance against the visible wall
        fx, fy, cx, cy, w, h = self.K
        dimg = np.where(depth > 0, depth, cfg.far_m)
        z = pts[..., 2]
        front = z > 1e-3
        zs = np.where(front, z, 1.0)
        u = np.round(pts[..., 0] / zs * fx + cx).astype(int)
        v = np.round(pts[..., 1] / zs * fy + cy).astype(int)
        inview = front & (u >= 0) & (u < w) & (v >= 0) & (v < h)
        dz = dimg[np.clip(v, 0, h - 1), np.clip(u, 0, w - 1)]
        behind = inview & (z > dz)
        cloud = self._cloud(depth)
        if len(cloud):
            flat = pts[front]
            gap = np.full(pts.shape[:-1], np.inf)
            dmin = np.sqrt(((flat[:, None, :] - cloud[None]) ** 2).sum(-1).min(axis=1))
            gap[front] = dmin - self.rc.radius_m
        else:
            gap = np.full(pts.shape[:-1], np.inf)
        miss = np.clip(cfg.safe_clearance_m - gap, 0.0, None).sum(axis=(1, 2))
        effort = np.abs(self.seqs[:, :, :-1]).mean(axis=1).sum(axis=1)
        off_centre = np.clip(np.abs(self._roll_end) - 0.5 * np.pi, 0.0, None)
        score = (cfg.w_progress * progress + cfg.w_heading * heading
                 - cfg.w_clearance * miss - cfg.w_collision * behind.sum(axis=(1, 2))
                 - cfg.w_effort * effort - cfg.w_roll_centre * off_centre)
        f = state.max_force_N
        if f > cfg.force_soft_N:  # measured contact: do not push further
            score -= cfg.w_force * (f / cfg.force_soft_N) * np.clip(self.seqs[:, 0, -1], 0, None)
        best = int(np.argmax(score))
        self.last = {"score": float(score[best]), "progress": float(progress[best]),
                     "heading": float(heading[best]), "miss": float(miss[best]),
                     "behind": int(behind[best].sum())}
        return self.seqs[best, 0].astype(np.float32)
