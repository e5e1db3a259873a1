"""nav stage: navigation benchmark on top of the env (room.env) and the depth models
(room.learn): navigators (centerline follower, MPC on ground-truth or predicted depth, random),
trials with the task's metrics, suites and ``results.json`` (``room-navigate``).

It sits one level above ``learn``/``viz`` (the MPC on predicted depth loads a room.learn
checkpoint) and below ``compose``.
"""

from __future__ import annotations

from room.nav.navigators import (
                                 FollowerNavigator,
                                 MPCConfig,
                                 MPCNavigator,
                                 Navigator,
                                 RandomNavigator,
)
from room.nav.suite import NavigateConfig, run_suite, run_trial, table

__all__ = ["FollowerNavigator", "MPCConfig", "MPCNavigator", "NavigateConfig", "Navigator",
           "RandomNavigator", "run_suite", "run_trial", "table"]
