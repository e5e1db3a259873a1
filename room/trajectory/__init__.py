"""Camera trajectories covering the airway tree (kinematic splines or the simulated robot)."""

from room.trajectory.config import TrajectoryConfig
from room.trajectory.plan import coverage_targets, plan_sequences
from room.trajectory.sequence import PlannedSequence

__all__ = ["PlannedSequence", "TrajectoryConfig", "coverage_targets", "plan_sequences"]
