"""Generation throughput: the default 600 x 600 all-modality dataset on the built-in phantom.

First generates the default dataset itself (seed 0, as ``room-generate`` writes it) in one
lone process (issue 15's target: >= 3 frames/s). Then runs the same job (other seeds,
``--frames`` each) in one lone process (llvmpipe's default threads and frames
committed on a background thread: its best case), in one process with the worker settings,
then in two concurrently (joblib/loky, worker settings: one llvmpipe thread and foreground
writing each, as ``room-generate -m hydra/launcher=joblib`` sets them), and prints frames per
second, the 2-process scaling ratios (target >= 1.6 against the lone process) and the peak
resident memory of each worker (target < 2 GB). The faster the lone process gets by using the
second core, the lower the first ratio, at the same total throughput of two workers. The
scene is prepared (cached) before timing; fps counts rendering + writing, not scene
preparation.

    python benchmarks/bench_generate.py [--frames 24] [--width 600]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _job(seed: int, out: str, frames: int, width: int):
    """The default job at ``seed`` (``frames`` = 0: the default frame cap, i.e. the default
    dataset itself for seed 0)."""
    from room.compose import compose_generate

    cap = [f"trajectory.max_frames={frames}"] if frames else []
    return compose_generate([f"seed={seed}", f"out={out}", "output.progress=false", *cap,
                             f"++camera.width={width}", f"++camera.height={width}"])


def worker(seed: int, out: str, frames: int, width: int, parallel: bool) -> dict:
    """Generate in this (fresh) process; report timings and this process's peak RSS. Parallel
    workers take the worker settings (one llvmpipe thread, frames written in the foreground),
    as ``room-generate -m`` with joblib does."""
    from room.data.generate import generate_dataset, parallel_worker

    if parallel:
        parallel_worker()

    job = _job(seed, out, frames, width)
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    s = generate_dataset(job)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    s["cpu_s"] = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    render_s = time.perf_counter() - t0 - s["scene_seconds"]
    s["t_end_wall"] = time.time()
    s["t_start_wall"] = s["t_end_wall"] - render_s
    s["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return s


def run(n_proc: int, out: str, frames: int, width: int,
        worker_settings: bool | None = None, seed: int | None = None) -> tuple[float, list[dict]]:
    from joblib import Parallel, delayed
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)  # fresh workers: clean peak-memory figures
    res = Parallel(n_jobs=n_proc, backend="loky")(
        delayed(worker)(100 + k + 10 * n_proc if seed is None else seed + k, out, frames, width,
                        n_proc > 1 if worker_settings is None else worker_settings)
        for k in range(n_proc))
    get_reusable_executor().shutdown(wait=True)
    # aggregate throughput over the window where the workers were rendering
    window = max(r["t_end_wall"] for r in res) - min(r["t_start_wall"] for r in res)
    return sum(r["frames_written"] for r in res) / window, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24, help="frames per process")
    ap.add_argument("--width", type=int, default=600)
    a = ap.parse_args()
    from room.anatomy import load_scene

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        load_scene(_job(0, tmp, a.frames, a.width).scene)  # warm the scene cache
        print(f"scene ready in {time.perf_counter() - t:.1f} s (cached for the workers)")
        fps0, r0 = run(1, f"{tmp}/default", 0, a.width, seed=0)  # `room-generate` as is
        fps1, r1 = run(1, f"{tmp}/one", a.frames, a.width)
        fps1w, r1w = run(1, f"{tmp}/onew", a.frames, a.width, worker_settings=True)
        fps2, r2 = run(2, f"{tmp}/two", a.frames, a.width)
    print(f"\n{a.width} x {a.width}, all modalities, {a.frames} frames per process")
    print(f"{'processes':>22} {'frames/s':>9} {'ms/frame/proc':>14} {'CPU ms/frame':>13} "
          f"{'peak RSS MB/proc':>17}")
    print(f"the default dataset (seed 0, {r0[0]['frames_written']} frames), one lone process: "
          f"{fps0:.2f} frames/s (target >= 3)")
    rows = (("1 (lone)", 1, fps1, r1), ("1 (worker settings)", 1, fps1w, r1w),
            ("2 (worker settings)", 2, fps2, r2))
    for label, n, fps, r in rows:
        mem = ", ".join(f"{x['peak_rss_mb']:.0f}" for x in r)
        cpu = sum(x["cpu_s"] for x in r) / sum(x["frames_written"] for x in r)
        print(f"{label:>22} {fps:>9.2f} {1000 * n / fps:>14.0f} {1000 * cpu:>13.0f} {mem:>17}")
    print(f"cores busy per process (CPU / wall), 1 lone process: "
          f"{r1[0]['cpu_s'] * fps1 / r1[0]['frames_written']:.2f}")
    print(f"scaling 2 procs / 1 lone proc: {fps2 / fps1:.2f}x (target >= 1.6x); "
          f"2 procs / 1 proc with the same worker settings: {fps2 / fps1w:.2f}x")
    print(f"peak memory per process: {max(x['peak_rss_mb'] for x in r1 + r2):.0f} MB "
          "(target < 2048 MB)")


if __name__ == "__main__":
    main()
