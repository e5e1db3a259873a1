"""PyBullet world: one client per instance, every engine parameter set here, airway body.

Internal length scale
---------------------
Inside ``room.sim`` (and only there) PyBullet works in MILLIMETRES: ``UNITS_PER_M = 1000``
engine units per metre. Masses stay in kilograms and time in seconds, so inside the engine
forces are kg mm / s^2 (= mN), torques kg mm^2 / s^2 (= uN m), inertias kg mm^2, gravity
9810 mm / s^2. Bullet's collision margins and tolerances are tuned for objects of centimetres
and up; measured here, a 2 g capsule (radius 2 mm) pushed at 0.1 N into a concave tube of radius
9 mm at 240 Hz tunnels through the wall in SI units and at 1 unit = 1 cm, but holds at
1 unit = 1 mm (steady penetration 0.001 mm). Every public value (state, contacts, commands) is
converted back to SI at the ``Simulator`` boundary with :func:`to_m` / :func:`to_units`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pybullet as p

from room.errors import SceneError
from room.sim.config import SimConfig

UNITS_PER_M = 1000.0
"""Engine length units per metre (1 unit = 1 mm)."""


def to_units(x_m):
    """Metres -> engine units."""
    return np.asarray(x_m, float) * UNITS_PER_M


def to_m(x_units):
    """Engine units -> metres."""
    return np.asarray(x_units, float) / UNITS_PER_M


FORCE_TO_N = 1.0 / UNITS_PER_M  # kg mm / s^2 -> N
TORQUE_TO_NM = 1.0 / UNITS_PER_M**2  # kg mm^2 / s^2 -> N m


class World:
    """A PyBullet physics client (``p.DIRECT``) configured from a :class:`SimConfig`."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.client = p.connect(p.DIRECT)
        self.configure()

    def configure(self) -> None:
        """The ONE place where engine parameters are set (call again after ``reset``)."""
        c, cfg = self.client, self.cfg
        p.setPhysicsEngineParameter(
            fixedTimeStep=cfg.time_step_s,
            numSubSteps=0,  # we call stepSimulation once per physics step ourselves
            numSolverIterations=int(cfg.solver_iterations),
            erp=cfg.erp,
            contactERP=cfg.contact_erp,
            frictionERP=cfg.erp,
            contactBreakingThreshold=cfg.contact_threshold_m * UNITS_PER_M,
            deterministicOverlappingPairs=1,  # same inputs -> same pair order -> same result
            enableConeFriction=1,
            physicsClientId=c,
        )
        p.setGravity(*(to_units(cfg.gravity_m_s2)), physicsClientId=c)

    def reset(self) -> None:
        """Remove every body and restore the engine parameters (fresh solver caches)."""
        p.resetSimulation(physicsClientId=self.client)
        self.configure()

    def load_airway(self, mesh_file: str | Path) -> int:
        """Static concave-trimesh airway body from an OBJ in metres; returns its body id."""
        mesh_file = Path(mesh_file)
        if not mesh_file.is_file():
            raise SceneError(f"collision mesh {mesh_file} does not exist; prepare or save the "
                             "scene (AirwayScene.save) so that collision.obj is written")
        shape = p.createCollisionShape(
            p.GEOM_MESH, fileName=str(mesh_file), meshScale=[UNITS_PER_M] * 3,
            flags=p.GEOM_FORCE_CONCAVE_TRIMESH, physicsClientId=self.client)
        if shape < 0:
            raise SceneError(f"PyBullet could not load the collision mesh {mesh_file}")
        body = p.createMultiBody(baseMass=0.0, baseCollisionShapeIndex=shape,
                                 physicsClientId=self.client)
        p.changeDynamics(body, -1, lateralFriction=self.cfg.friction,
                         physicsClientId=self.client)
        return body

    def step(self) -> None:
        p.stepSimulation(physicsClientId=self.client)

    def close(self) -> None:
        if self.client is not None and p.isConnected(self.client):
            p.disconnect(self.client)
        self.client = None

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass
