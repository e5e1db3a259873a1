"""sim stage: PyBullet world, the `Simulator` facade and the Gymnasium environment.

Imports are lazy so that ``import room.sim`` stays cheap.
"""

from __future__ import annotations

__all__ = ["Contacts", "JointCommand", "SimConfig", "SimState", "Simulator"]


def __getattr__(name: str):
    if name == "SimConfig":
        from room.sim.config import SimConfig

        return SimConfig
    if name in ("Simulator", "SimState", "JointCommand", "Contacts"):
        from room.sim import simulator

        return getattr(simulator, name)
    raise AttributeError(f"module 'room.sim' has no attribute {name!r}")
