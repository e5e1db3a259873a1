"""The bronchoscope inside a :class:`room.sim.world.World`: loading, motors, state readout.

Everything here is in engine units internally; methods take and return SI values.
"""

from __future__ import annotations

import numpy as np
import pybullet as p
from scipy.spatial.transform import Rotation

from room.robot.config import RobotConfig
from room.robot.model import link_layout, write_urdf
from room.sim.world import FORCE_TO_N, UNITS_PER_M, World
from room.transforms import make_T

S = UNITS_PER_M


class RobotBody:
    """Loads the robot URDF with its base at ``T_world_base`` (metres) and drives it."""

    def __init__(self, world: World, cfg: RobotConfig, sim_friction: float,
                 T_world_base: np.ndarray) -> None:
        self.world, self.cfg = world, cfg
        self.c = world.client
        self.layout = link_layout(cfg)
        self.n_links = len(self.layout)
        self.shaft_ids = [k for k, s in enumerate(self.layout) if s.kind == "shaft" and k > 1]
        self.bend_ids = [k for k, s in enumerate(self.layout) if s.kind == "bend"]
        self.tip_link = self.n_links - 1
        self.tip_length_m = self.layout[-1].length_m
        self.bend_base_link = self.bend_ids[0] - 1
        self.bend_base_offset_m = self.layout[self.bend_base_link].length_m - \
            0.5 * cfg.bending_length_m / cfg.bending_links
        pos = T_world_base[:3, 3] * S
        quat = Rotation.from_matrix(T_world_base[:3, :3]).as_quat()
        self.id = p.loadURDF(str(write_urdf(cfg, S)), basePosition=pos.tolist(),
                             baseOrientation=quat.tolist(), useFixedBase=True,
                             flags=p.URDF_USE_INERTIA_FROM_FILE, physicsClientId=self.c)
        for k in range(self.n_links):
            p.changeDynamics(self.id, k, lateralFriction=sim_friction, linearDamping=0.0,
                             angularDamping=0.0, physicsClientId=self.c)
        # passive shaft joints: yielding motor holding the straight shape
        tau = cfg.shaft_torque_limit_Nm * S * S
        n = len(self.shaft_ids)
        p.setJointMotorControlArray(
            self.id, self.shaft_ids, p.POSITION_CONTROL, targetPositions=[0.0] * n,
            targetVelocities=[0.0] * n, positionGains=[cfg.shaft_position_gain] * n,
            velocityGains=[cfg.shaft_velocity_gain] * n, forces=[tau] * n,
            physicsClientId=self.c)
        self._fed = np.zeros(self.n_links, bool)  # links the feeder holds straight
        self.set_targets(np.zeros(cfg.n_q))

    # ------------------------------------------------------------------------- actuation
    def set_feeder(self, outside: np.ndarray) -> None:
        """With a feeder (``RobotConfig.feeder_torque_limit_Nm`` > 0): the shaft joints of
        the links still behind the airway entry (``outside``, per link) hold the straight
        shape up to the feeder's torque, the others up to the shaft's own."""
        cfg = self.cfg
        if cfg.feeder_torque_limit_Nm <= 0.0:
            return
        fed = np.zeros(self.n_links, bool)
        fed[self.shaft_ids] = np.asarray(outside, bool)[self.shaft_ids]
        for k in np.flatnonzero(fed != self._fed):
            tau = cfg.feeder_torque_limit_Nm if fed[k] else cfg.shaft_torque_limit_Nm
            p.setJointMotorControl2(self.id, int(k), p.POSITION_CONTROL, targetPosition=0.0,
                                    targetVelocity=0.0, positionGain=cfg.shaft_position_gain,
                                    velocityGain=cfg.shaft_velocity_gain, force=tau * S * S,
                                    physicsClientId=self.c)
        self._fed = fed

    def set_targets(self, q: np.ndarray) -> None:
        """Servo targets for the actuated joints (SI joint vector, see RobotConfig); the
        motors approach them at most at the actuator speed limits."""
        cfg, c = self.cfg, self.c
        q = np.asarray(q, float)
        p.setJointMotorControl2(self.id, 0, p.POSITION_CONTROL, targetPosition=q[-1] * S,
                                force=cfg.insertion_force_limit_N * S, positionGain=0.2,
                                velocityGain=1.0, maxVelocity=cfg.insertion_speed_max_m_s * S,
                                physicsClientId=c)
        p.setJointMotorControl2(self.id, 1, p.POSITION_CONTROL, targetPosition=q[-2],
                                force=cfg.roll_torque_limit_Nm * S * S, positionGain=0.2,
                                velocityGain=1.0, maxVelocity=cfg.roll_speed_max_rad_s,
                                physicsClientId=c)
        n, tau = len(self.bend_ids), cfg.bend_torque_limit_Nm * S * S
        if cfg.bending_planes == 1:
            targets = [q[0] / cfg.bending_links] * n
        else:  # hinges alternately about x (plane a) and y (plane b), n / 2 each
            half = cfg.bending_links // 2
            targets = [(q[0] if j % 2 == 0 else q[1]) / half for j in range(n)]
        p.setJointMotorControlArray(
            self.id, self.bend_ids, p.POSITION_CONTROL, targetPositions=targets,
            targetVelocities=[0.0] * n, positionGains=[cfg.bend_position_gain] * n,
            velocityGains=[cfg.bend_velocity_gain] * n, forces=[tau] * n, physicsClientId=c)

    def set_airway_collision(self, airway: int, link: int, enable: bool) -> None:
        p.setCollisionFilterPair(self.id, airway, link, -1, int(enable), physicsClientId=self.c)

    # --------------------------------------------------------------------------- readout
    def link_states(self) -> tuple[np.ndarray, np.ndarray]:
        """(n_links, 4, 4) link frames (proximal joint, +z distal) in metres and (n_links,)
        linear speed of each link's centre of mass in m/s."""
        states = p.getLinkStates(self.id, list(range(self.n_links)), computeLinkVelocity=1,
                                 computeForwardKinematics=1, physicsClientId=self.c)
        pos = np.array([s[4] for s in states], float) / S
        rot = Rotation.from_quat(np.array([s[5] for s in states], float)).as_matrix()
        T = np.zeros((self.n_links, 4, 4))
        T[:, :3, :3], T[:, :3, 3], T[:, 3, 3] = rot, pos, 1.0
        speed = np.linalg.norm(np.array([s[6] for s in states], float), axis=1) / S
        return T, speed

    def joint_vector(self, poses: np.ndarray) -> np.ndarray:
        """Measured joint vector (q1[, q1b], q2, q3) in SI units."""
        ins = p.getJointState(self.id, 0, physicsClientId=self.c)[0] / S
        roll = p.getJointState(self.id, 1, physicsClientId=self.c)[0]
        js = [j[0] for j in p.getJointStates(self.id, self.bend_ids, physicsClientId=self.c)]
        if self.cfg.bending_planes == 1:
            bend = [sum(js)]
        else:  # the x hinges bend plane a, the y hinges plane b
            bend = [sum(js[0::2]), sum(js[1::2])]
        return np.concatenate([bend, [roll, ins]])

    def tip_pose(self, poses: np.ndarray) -> np.ndarray:
        """``T_world_tip``: distal face of the scope, on the axis (OpenCV axes)."""
        return poses[self.tip_link] @ make_T(t=[0.0, 0.0, self.tip_length_m])

    def wall_gap(self, airway: int, link: int, search_m: float = 0.002) -> float:
        """Smallest signed distance (m) between a link and the airway wall (negative =
        overlap), ``search_m`` when nothing is closer than that."""
        pts = p.getClosestPoints(self.id, airway, search_m * S, linkIndexA=link,
                                 physicsClientId=self.c)
        return min((c[8] for c in pts), default=search_m * S) / S

    def contacts(self, airway: int) -> list[tuple]:
        return p.getContactPoints(self.id, airway, physicsClientId=self.c)


def contact_arrays(points: list[tuple], n_links: int):
    """Per-contact arrays (link, position m, normal into the robot, force N, penetration m)
    and per-link totals from PyBullet contact tuples (engine units)."""
    if not points:
        z = np.zeros((0, 3))
        return (np.zeros(0, int), z, z, np.zeros(0), np.zeros(0), np.zeros(n_links),
                np.zeros(n_links))
    link = np.array([c[3] for c in points], int)
    pos = np.array([c[6] for c in points], float) / S  # on the airway wall
    normal = np.array([c[7] for c in points], float)  # from the wall towards the robot
    force = np.array([c[9] for c in points], float) * FORCE_TO_N
    pen = -np.array([c[8] for c in points], float) / S
    per_force = np.bincount(link, weights=force, minlength=n_links)
    per_pen = np.zeros(n_links)
    np.maximum.at(per_pen, link, pen)
    return link, pos, normal, force, pen, per_force, per_pen
