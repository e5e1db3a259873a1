"""Physical trajectories: the simulated continuum robot driven along the centerline by
:class:`room.robot.controllers.CenterlineFollower`; a frame is the tip camera pose every
``control_steps_per_frame`` control steps (so frames are evenly spaced in time)."""

from __future__ import annotations

from typing import Any

import numpy as np

from room.robot.controllers import CenterlineFollower
from room.sim.simulator import Simulator
from room.trajectory.config import TrajectoryConfig
from room.trajectory.sequence import PlannedSequence

MAX_CONTROL_STEPS = 20000  # a run that has not reached its target by then stops (~5 min sim)


def physical_sequences(scene: Any, targets: list[int], cfg: TrajectoryConfig, seed: int,
                       robot: Any = None, sim: Any = None) -> list[PlannedSequence]:
    """One PlannedSequence per target: poses, times, joints and contact facts per frame."""
    out = []
    cap = cfg.max_frames * cfg.control_steps_per_frame if cfg.max_frames else MAX_CONTROL_STEPS
    for k, target in enumerate(targets):
        poses, times, joints, extras = [], [], [], []
        with Simulator(scene, robot, sim) as simulator:
            state = simulator.state
            ctrl = CenterlineFollower(scene.tree, target, robot=simulator.robot_cfg,
                                      dt=simulator.dt)
            for step in range(min(cap, MAX_CONTROL_STEPS) + 1):
                if step % cfg.control_steps_per_frame == 0:
                    poses.append(state.T_world_cam.copy())
                    times.append(float(state.time_s))
                    joints.append(np.asarray(state.q, float).copy())
                    extras.append({"contacts": int(len(state.contacts.link)),
                                   "contact_force_N": float(state.contacts.total_force_N),
                                   "max_penetration_m": float(state.max_penetration_m)})
                    if cfg.max_frames and len(poses) >= cfg.max_frames:
                        break
                if ctrl.done:
                    break
                state = simulator.step(ctrl.command(state))
        out.append(PlannedSequence(f"{k:03d}_b{target}", target, np.array(poses),
                                   np.array(times), joints=np.array(joints), extras=extras))
    return out
