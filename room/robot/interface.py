"""The robot's interface to whatever drives it: :class:`JointCommand` (what a controller sends),
:class:`SimState` and :class:`Contacts` (what it reads back).

These types live in the robot stage, below ``room.sim``, so that controllers
(:mod:`room.robot.controllers`) and the simulator (:mod:`room.sim.simulator`, which produces the
states and consumes the commands) both import them and neither imports the other. Controllers
stay in ``robot/``: they are functions of a state and the robot's spec and never touch a
Simulator, so any engine (or a real robot) that speaks these types can run them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from room.errors import ConfigError


@dataclass(frozen=True)
class JointCommand:
    """Actuator command: ``values`` are joint targets (mode "position": q1[, q1b], q2, q3 in
    rad, rad, m) or joint velocities (mode "velocity": rad/s, rad/s, m/s)."""

    values: np.ndarray
    mode: str = "position"

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", np.asarray(self.values, dtype=float).reshape(-1))
        if self.mode not in ("position", "velocity"):
            raise ConfigError(f"JointCommand.mode must be 'position' or 'velocity', got "
                              f"{self.mode!r}")
        if not np.all(np.isfinite(self.values)):
            raise ConfigError(f"joint command contains NaN or infinite values: "
                              f"{self.values.tolist()}; send finite numbers")


@dataclass(frozen=True)
class Contacts:
    """Robot-wall contacts of one instant (world frame, SI). ``normal`` points from the wall
    into the robot; ``penetration_m`` > 0 means overlap."""

    link: np.ndarray  # (K,) link index
    position_m: np.ndarray  # (K, 3) contact point on the wall
    normal: np.ndarray  # (K, 3)
    normal_force_N: np.ndarray  # (K,)
    penetration_m: np.ndarray  # (K,)
    link_force_N: np.ndarray  # (n_links,) summed normal force per link
    link_penetration_m: np.ndarray  # (n_links,) deepest overlap per link (0 if none)

    @property
    def total_force_N(self) -> float:
        return float(self.normal_force_N.sum())


@dataclass(frozen=True)
class SimState:
    """Snapshot after a control step. Poses are 4x4 float64 in metres, world frame."""

    time_s: float
    step: int  # control steps since reset
    q: np.ndarray  # measured joints (q1[, q1b], q2, q3)
    qdot: np.ndarray  # finite difference over the last control step
    q_target: np.ndarray  # servo targets now (after speed and joint limits)
    T_world_cam: np.ndarray  # tip camera (OpenCV: x right, y down, z forward)
    T_world_tip: np.ndarray  # distal face of the scope, on its axis
    link_poses: np.ndarray  # (n_links, 4, 4) link frames (proximal joint, +z distal)
    contacts: Contacts
    max_penetration_m: float  # deepest wall overlap during the last control step
    max_force_N: float  # largest total wall force during the last control step
    meta: dict = field(default_factory=dict)
