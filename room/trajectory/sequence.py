"""``PlannedSequence``: the camera path of one sequence, the artefact the trajectory stage passes
on (to the generator and the viewers). Its own module so that every trajectory source
(kinematic, physical) builds it without importing the planner."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class PlannedSequence:
    """Camera poses of one sequence. ``joints`` (N, 3) (q1 bending, q2 roll, q3 insertion) and
    per-frame ``extras`` (contacts, ...) only for the physical source."""

    name: str
    target: int
    poses: np.ndarray  # (N, 4, 4) T_world_cam, OpenCV camera, metres
    times: np.ndarray  # (N,) seconds
    arclength: np.ndarray | None = None  # (N,) metres along the smoothed path (kinematic)
    joints: np.ndarray | None = None
    extras: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.poses)

    def frame_extra(self, i: int) -> dict[str, Any]:
        """What frames.jsonl records for frame i beyond pose and time."""
        out: dict[str, Any] = {"target_branch": int(self.target)}
        if self.arclength is not None:
            out["arclength_m"] = float(self.arclength[i])
        if self.joints is not None:
            out["joints"] = [float(q) for q in self.joints[i]]
        if self.extras:
            out.update(self.extras[i])
        return out
