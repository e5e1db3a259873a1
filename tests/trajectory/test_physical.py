"""Physical trajectories: the simulated robot follows the centerline; frames are its tip camera
at a fixed control-step interval."""

from __future__ import annotations

import numpy as np

from room.trajectory import TrajectoryConfig, plan_sequences
from room.trajectory.kinematic import CenterlineDistance
from room.transforms import is_rigid


def test_physical_source_follows_the_airway(saved_yscene):
    cfg = TrajectoryConfig(source="physical", max_generation=1, n_sequences=1, max_frames=12,
                           control_steps_per_frame=6)
    (seq,) = plan_sequences(saved_yscene, cfg, seed=0)
    assert len(seq) == 12 and seq.joints.shape[0] == 12
    assert all(is_rigid(T) for T in seq.poses)
    dt = np.diff(seq.times)
    assert np.allclose(dt, dt[0]) and dt[0] > 0  # evenly spaced: fixed control-step interval
    # the tip camera stays inside the lumen and moves forward (insertion q3 grows)
    d, r = CenterlineDistance(saved_yscene.tree)(seq.poses[:, :3, 3])
    assert np.all(d < r)
    assert seq.joints[-1, -1] > seq.joints[0, -1]
    extra = seq.frame_extra(5)
    assert {"joints", "contacts", "contact_force_N", "target_branch"} <= set(extra)
    (again,) = plan_sequences(saved_yscene, cfg, seed=0)
    assert np.array_equal(again.poses, seq.poses)
