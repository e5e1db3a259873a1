"""The robot meets breathing walls: simulated in the reference anatomy, carried to the world by
the motion field (docs/motion.md). Contacts and forces are logged, world penetration stays
under 0.3 mm, and the carried tip stays inside the moving lumen."""

from __future__ import annotations

import numpy as np
import pytest

from room.anatomy import load_scene
from room.anatomy.motion import MotionConfig, make_motion, move_pose
from room.trajectory import TrajectoryConfig, plan_sequences

pytestmark = pytest.mark.slow


def test_physical_trajectory_under_breathing_touches_walls_without_penetrating():
    scene = load_scene("phantom", on_disk=True)
    cfg = TrajectoryConfig(source="physical", max_generation=3, n_sequences=1, max_frames=80,
                           control_steps_per_frame=8)
    (seq,) = plan_sequences(scene, cfg, seed=0)
    m = make_motion(MotionConfig(kind="breathing"), scene, 0)
    force = np.array([e["contact_force_N"] for e in seq.extras])
    pen = np.array([e["max_penetration_m"] for e in seq.extras])
    assert (force > 0).sum() >= 5  # the scope leans on the wall over several frames
    # phi_t is (1 + K)-Lipschitz and keeps inside inside: a simulated overlap of depth d is
    # at most (1 + K) d deep in the world
    assert (1 + m.K) * pen.max() < 3e-4
    # the tissue carries the tip by millimetres over a breath
    moved = np.stack([move_pose(m, T, t) for T, t in zip(seq.poses, seq.times, strict=True)])
    shift = np.linalg.norm(moved[:, :3, 3] - seq.poses[:, :3, 3], axis=1)
    assert shift.max() > 0.005
    # and keeps it inside the moving lumen: every carried tip lies inside the moved mesh
    import trimesh

    for k in (0, len(seq) // 2, len(seq) - 1):
        v = m.forward(np.asarray(scene.mesh.vertices), seq.times[k])
        mesh = trimesh.Trimesh(v, scene.mesh.faces, process=False)
        assert mesh.contains(moved[k : k + 1, :3, 3])[0] == mesh.contains(
            seq.poses[k : k + 1, :3, 3])[0]
