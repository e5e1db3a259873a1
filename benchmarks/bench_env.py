"""Env throughput: ``room/BronchoscopyNav-v0`` steps per second by observation mode, in one
process and as a Gymnasium AsyncVectorEnv over 1 and 2 worker processes.

Each row: env steps per second (all envs together), the real-time factor (simulated seconds
per wall-clock second, per env: one step = ``control_steps_per_action`` control periods) and,
for the in-process row, CPU time per step. Actions: random bend and roll rates with steady
insertion; episodes that end are reset.

    python benchmarks/bench_env.py [--scene phantom] [--steps 150] [--size 64]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def make(scene: str, mode: str, size: int, distortion: str):
    def thunk():
        import room.env  # noqa: F401 - registers the id
        from room.env import BronchoscopyNavEnv, EnvConfig
        from room.render import CameraConfig

        cam = CameraConfig(width=size, height=size, distortion_model=distortion)
        return BronchoscopyNavEnv(scene=scene, camera=cam,
                                  task=EnvConfig(observation=mode, image_size=size))
    return thunk


def actions(n: int, k: int) -> np.ndarray:
    a = np.random.default_rng(0).uniform(-1, 1, (n, k, 3)).astype(np.float32)
    a[..., 2] = 0.6
    return a


def single(scene: str, mode: str, size: int, steps: int, distortion: str) -> dict:
    env = make(scene, mode, size, distortion)()
    env.reset(seed=0)
    acts = actions(steps + 5, 1)[:, 0]
    for a in acts[:5]:
        env.step(a)
    w0, c0 = time.perf_counter(), time.process_time()
    for k, a in enumerate(acts[5:]):
        _, _, te, tr, _ = env.step(a)
        if te or tr:
            env.reset(seed=k)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    period = env.sim.dt * env.task.control_steps_per_action
    env.close()
    return {"sps": steps / wall, "rtf": steps * period / wall, "cpu_ms": 1e3 * cpu / steps,
            "rtf_cpu": steps * period / cpu}


def vector(scene: str, mode: str, size: int, steps: int, n: int, distortion: str) -> dict:
    import gymnasium as gym

    # spawn, not fork: a forked child of a process holding a GL context deadlocks in EGL
    venv = gym.vector.AsyncVectorEnv([make(scene, mode, size, distortion)] * n, context="spawn")
    venv.reset(seed=list(range(n)))
    acts = actions(steps + 5, n)
    for a in acts[:5]:
        venv.step(a)
    w0 = time.perf_counter()
    for a in acts[5:]:
        venv.step(a)  # autoreset on episode end
    wall = time.perf_counter() - w0
    venv.close()
    period = 6 / 360 * 2
    return {"sps": n * steps / wall, "rtf": steps * period / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scene", default="phantom")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--distortion", default="radtan", help="radtan (the env default) or none")
    ap.add_argument("--modes", default="rgbd,depth,none")
    ap.add_argument("--procs", default="1,2")
    args = ap.parse_args()
    print(f"scene {args.scene}, {args.size} x {args.size} px ({args.distortion}), "
          f"{args.steps} steps per row")
    print(f"{'row':<34}{'steps/s':>9}{'RTF/env':>9}{'cpu ms':>8}{'RTF cpu':>9}")
    for mode in args.modes.split(","):
        m = single(args.scene, mode, args.size, args.steps, args.distortion)
        print(f"{mode + ' in process':<34}{m['sps']:>9.1f}{m['rtf']:>9.2f}{m['cpu_ms']:>8.1f}"
              f"{m['rtf_cpu']:>9.2f}", flush=True)
        for n in (int(p) for p in args.procs.split(",")):
            v = vector(args.scene, mode, args.size, args.steps, n, args.distortion)
            print(f"{mode + f' AsyncVectorEnv x{n}':<34}{v['sps']:>9.1f}{v['rtf']:>9.2f}",
                  flush=True)
    print("RTF = simulated seconds per wall-clock second (per env); target >= 3 for 64 x 64 "
          "RGB-D (issue 15)")


if __name__ == "__main__":
    main()
