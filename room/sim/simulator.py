"""`Simulator`: the robot in the airway under physics, driven by joint commands.

Public API in SI units and the world frame (LPS, metres); PyBullet's internal millimetre scale
stays in ``room.sim.world``. A control step is ``SimConfig.control_steps`` physics steps; the
actuators move their servo targets towards the command at most at their speed limits
(``RobotConfig.*_speed_max``) and never beyond the joint limits (commands are clipped).
"""

from __future__ import annotations

import numpy as np

from room.anatomy.scene import AirwayScene
from room.errors import ConfigError, SceneError, SimulationError
from room.robot.config import RobotConfig
from room.robot.interface import Contacts, JointCommand, SimState
from room.sim.config import SimConfig
from room.sim.robot_body import RobotBody, contact_arrays
from room.sim.world import FORCE_TO_N, UNITS_PER_M, World
from room.transforms import look_at, make_T

ENTRY_MARGIN_M = 0.003
"""A link collides with the airway once its proximal cap is this far past the entry cap
(links still outside the airway, behind the entry, do not collide with the closing cap)."""


class Simulator:
    """Continuum robot in an airway scene. ``with Simulator(...) as sim:`` closes the client."""

    def __init__(self, scene: AirwayScene, robot: RobotConfig | None = None,
                 sim: SimConfig | None = None) -> None:
        self.scene = scene
        self.robot_cfg = robot or RobotConfig()
        self.cfg = sim or SimConfig()
        # the scene's collision mesh is the physics mesh, used as is (its face budget is
        # MeshConfig.collision_faces, set for PyBullet when the scene is prepared)
        self._mesh_file, self.collision_mesh = self._collision_file(scene), scene.collision_mesh
        trachea = scene.tree.trachea
        if self.robot_cfg.outer_diameter_m >= 2.0 * trachea.radius_m:
            raise ConfigError(
                f"robot diameter {1e3 * self.robot_cfg.outer_diameter_m:.1f} mm does not fit the "
                f"trachea of this scene (diameter {2e3 * trachea.radius_m:.1f} mm); use a "
                "thinner scope (RobotConfig.outer_diameter_m)")
        self._entry, self._dir, self._s_cap = self._entry_frame(scene, self.collision_mesh)
        self.T_world_start = look_at(self._entry + self.cfg.start_depth_m * self._dir,
                                     self._entry + (self.cfg.start_depth_m + 1.0) * self._dir,
                                     up=(0.0, -1.0, 0.0))
        self.T_world_base = self.T_world_start @ make_T(t=[0, 0, -self.robot_cfg.total_length_m])
        self.world = World(self.cfg)
        self.reset()

    # ------------------------------------------------------------------------ set-up
    @staticmethod
    def _collision_file(scene: AirwayScene):
        if scene.collision_mesh is None or len(getattr(scene.collision_mesh, "faces", [])) == 0:
            raise SceneError("the scene has no collision mesh; prepare the scene again "
                             "(room.anatomy.prepare) so that collision.obj exists")
        f = scene.collision_mesh_file  # raises SceneError when the scene was never saved
        if not f.is_file():
            raise SceneError(f"collision mesh {f} is missing; save or prepare the scene again")
        return f

    @staticmethod
    def _entry_frame(scene: AirwayScene, mesh):
        """Entry point (first trachea centerline point), unit entry direction, and the
        position of the closing cap along it (metres; <= 0 means behind the entry point)."""
        tr = scene.tree.trachea
        s = tr.arclength()
        k = int(np.searchsorted(s, min(0.02, 0.3 * s[-1])))
        k = min(max(k, 1), len(s) - 1)
        entry = tr.points[0]
        d = tr.points[k] - entry
        d /= np.linalg.norm(d)
        origin = entry + 0.005 * d
        hits, _, _ = mesh.ray.intersects_location([origin], [-d])
        s_cap = 0.0
        if len(hits):
            dist = np.linalg.norm(hits - origin, axis=1)
            dist = dist[dist < 0.05]
            if len(dist):
                s_cap = 0.005 - float(dist.min())
        return entry, d, s_cap

    # ------------------------------------------------------------------------- control
    def reset(self) -> SimState:
        """Fresh engine state: airway and robot reloaded, robot straight at q = 0 with its tip
        ``start_depth_m`` past the entry. Nothing is random: the same commands after any reset
        (or in another instance) give bit-identical states."""
        self.world.reset()
        self.airway = self.world.load_airway(self._mesh_file)
        self.body = RobotBody(self.world, self.robot_cfg, self.cfg.friction, self.T_world_base)
        self._enabled = np.ones(self.body.n_links, bool)
        self._update_collision_filter(self.body.link_states()[0])
        self._target = np.zeros(self.robot_cfg.n_q)
        self._servo = np.zeros(self.robot_cfg.n_q)
        self._step = 0
        self._q_prev = np.zeros(self.robot_cfg.n_q)
        self._state = self._read_state(0.0, 0.0, [])
        return self._state

    def _update_collision_filter(self, poses: np.ndarray) -> None:
        """Links collide with the airway only when both ends of their capsule are past the
        entry cap (so the closing cap of the airway mesh never catches a link from behind),
        and a link is switched on only when it does not already overlap the wall."""
        ends = poses[:, :3, 3, None] + poses[:, :3, 2, None] * np.array(
            [0.0, 1.0]) * np.array([sp.length_m for sp in self.body.layout])[:, None, None]
        s = np.einsum("kij,i->kj", ends - self._entry[None, :, None], self._dir)
        on = s.min(axis=1) - self.robot_cfg.radius_m > self._s_cap + ENTRY_MARGIN_M
        on[0] = False  # the slider has no shape
        self.body.set_feeder(~on)
        for k in np.flatnonzero(on != self._enabled):
            if on[k] and self.body.wall_gap(self.airway, int(k)) < 0.0:
                on[k] = False  # wait until it is clear of the wall
                continue
            self.body.set_airway_collision(self.airway, int(k), bool(on[k]))
        self._enabled = on

    def _as_command(self, cmd) -> JointCommand:
        if not isinstance(cmd, JointCommand):
            try:
                cmd = JointCommand(np.asarray(cmd, dtype=float))
            except (TypeError, ValueError) as e:
                if isinstance(e, ConfigError):
                    raise
                raise ConfigError(f"cannot read joint command {cmd!r}: {e}") from e
        if cmd.values.shape != (self.robot_cfg.n_q,):
            raise ConfigError(f"joint command needs {self.robot_cfg.n_q} values "
                              f"(q1, q2, q3), got shape {cmd.values.shape}")
        return cmd

    def step(self, cmd) -> SimState:
        """Advance one control step with ``cmd`` (JointCommand, or array = position targets)."""
        cmd = self._as_command(cmd)
        cfg, rc = self.cfg, self.robot_cfg
        lo, hi = np.array(rc.q_min), np.array(rc.q_max)
        vmax = np.array(rc.qdot_max)
        if cmd.mode == "position":
            self._target = np.clip(cmd.values, lo, hi)
        period = cfg.control_period_s
        if cmd.mode == "velocity":
            v = np.clip(cmd.values, -vmax, vmax)
            self._target = np.clip(self._target + v * period, lo, hi)
        # the servo target moves towards the command at the actuator speed limits; the joint
        # motors follow it (also speed limited) during the control step
        self._servo += np.clip(self._target - self._servo, -vmax * period, vmax * period)
        self.body.set_targets(self._servo)
        max_pen, max_force, pts = 0.0, 0.0, []
        for _ in range(cfg.control_steps):
            self.world.step()
            pts = self.body.contacts(self.airway)
            if pts:
                max_pen = max(max_pen, -min(c[8] for c in pts) / UNITS_PER_M)
                max_force = max(max_force, sum(c[9] for c in pts) * FORCE_TO_N)
        self._step += 1
        state = self._read_state(max_pen, max_force, pts)
        self._check(state)
        self._update_collision_filter(state.link_poses)
        self._state = state
        return state

    def _read_state(self, max_pen: float, max_force: float, pts: list) -> SimState:
        poses, self._speeds = self.body.link_states()
        q = self.body.joint_vector(poses)
        t = self._step * self.cfg.control_period_s
        qdot = (q - self._q_prev) / self.cfg.control_period_s if self._step else np.zeros_like(q)
        self._q_prev = q
        T_tip = self.body.tip_pose(poses)
        link, pos, nrm, f, pen, lf, lp = contact_arrays(pts, self.body.n_links)
        contacts = Contacts(link, pos, nrm, f, pen, lf, lp)
        return SimState(
            time_s=t, step=self._step, q=q, qdot=qdot, q_target=self._servo.copy(),
            T_world_cam=T_tip @ make_T(t=self.robot_cfg.camera_offset_m), T_world_tip=T_tip,
            link_poses=poses, contacts=contacts,
            max_penetration_m=max(max_pen, float(pen.max(initial=0.0))),
            max_force_N=max(max_force, contacts.total_force_N))

    def _check(self, state: SimState) -> None:
        """Raise SimulationError on NaN, runaway speed or deep wall penetration."""
        cfg = self.cfg
        if not (np.all(np.isfinite(state.link_poses)) and np.all(np.isfinite(state.q))):
            raise SimulationError(
                f"simulation became non-finite at t = {state.time_s:.3f} s; reduce "
                "SimConfig.time_step_s or the robot's force/torque limits")
        speed = self._speeds
        if speed.max() > cfg.max_speed_m_s:
            k = int(np.argmax(speed))
            raise SimulationError(
                f"unstable simulation at t = {state.time_s:.3f} s: link {k} "
                f"({self.body.layout[k].name}) moves at {speed[k]:.2f} m/s > "
                f"{cfg.max_speed_m_s} m/s; reduce time_step_s or the actuator limits")
        if state.max_penetration_m > cfg.max_penetration_m:
            raise SimulationError(
                f"robot penetrated the airway wall by {1e3 * state.max_penetration_m:.2f} mm at "
                f"t = {state.time_s:.3f} s (limit {1e3 * cfg.max_penetration_m:.2f} mm); lower "
                "RobotConfig.insertion_force_limit_N or SimConfig.time_step_s")

    # ---------------------------------------------------------------------- accessors
    @property
    def state(self) -> SimState:
        return self._state

    @property
    def n_links(self) -> int:
        return self.body.n_links

    @property
    def dt(self) -> float:
        """Control period in seconds."""
        return self.cfg.control_period_s

    def close(self) -> None:
        self.world.close()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
