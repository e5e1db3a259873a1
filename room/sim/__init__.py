"""sim stage: PyBullet world and the `Simulator` facade (the Gymnasium environment is
``room.env``, above render).

Imports are lazy so that ``import room.sim`` stays cheap. ``JointCommand``, ``SimState`` and
``Contacts`` are the robot's interface types (:mod:`room.robot.interface`), re-exported here.
"""

from __future__ import annotations

__all__ = ["Contacts", "JointCommand", "SimConfig", "SimState", "Simulator"]


def __getattr__(name: str):
    if name == "SimConfig":
        from room.sim.config import SimConfig

        return SimConfig
    if name == "Simulator":
        from room.sim.simulator import Simulator

        return Simulator
    if name in ("SimState", "JointCommand", "Contacts"):
        from room.robot import interface

        return getattr(interface, name)
    raise AttributeError(f"module 'room.sim' has no attribute {name!r}")
