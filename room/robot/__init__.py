"""robot stage: continuum bronchoscope spec, constant-curvature kinematics, controllers."""

from __future__ import annotations

from room.robot.config import RobotConfig

__all__ = ["RobotConfig"]
