"""Breathing frame time / static frame time, side by side in one process.

One frame as the generator makes it: ``Renderer.render`` (every modality) at the frame's pose
and time, forward optical flow from the previous frame (GL pass) and, breathing only, the scene
flow (shared with the flow's surface motion). Same phantom, same camera path (kinematic
trajectory, first sequence), same resolution; rows run round robin ``--repeats`` times and the
fastest run counts. Target: breathing <= 1.3x static.

    python benchmarks/bench_breathing.py [--size 600] [--frames 12] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _run(renderer, poses, times) -> float:
    from room.data.schema import canonical_frame

    prev = None
    t0 = time.perf_counter()
    for i, (T, t) in enumerate(zip(poses, times, strict=True)):
        f = canonical_frame(renderer.render(T, index=i, time_s=float(t)))
        if prev is not None:
            renderer.optical_flow(prev, f)
            if renderer.motion is not None:
                renderer.scene_flow(prev, f)
        prev = f
    return (time.perf_counter() - t0) / len(poses)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=600)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    from room.anatomy import load_scene
    from room.anatomy.motion import MotionConfig, make_motion, move_pose
    from room.render import CameraConfig, make_renderer
    from room.trajectory import plan_sequences
    from room.trajectory.config import TrajectoryConfig

    scene = load_scene("phantom")
    plan = plan_sequences(scene, TrajectoryConfig(), 0, None, None)[0]
    n = min(a.frames, len(plan))
    motion = make_motion(MotionConfig(kind="breathing"), scene, 0)
    cam = CameraConfig(width=a.size, height=a.size)
    static_poses = plan.poses[:n]
    moved = np.stack([move_pose(motion, T, t) for T, t in zip(plan.poses[:n], plan.times[:n],
                                                               strict=True)])
    best = {"static": np.inf, "breathing": np.inf}
    with make_renderer(scene, cam) as rs, make_renderer(scene, cam, motion=motion) as rb:
        for _ in range(a.repeats):
            best["static"] = min(best["static"], _run(rs, static_poses, plan.times[:n]))
            best["breathing"] = min(best["breathing"], _run(rb, moved, plan.times[:n]))
    print(f"phantom, {a.size} x {a.size}, {n} frames, best of {a.repeats}")
    for k, v in best.items():
        print(f"{k:10s} {1e3 * v:8.1f} ms/frame")
    print(f"ratio breathing / static: {best['breathing'] / best['static']:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
