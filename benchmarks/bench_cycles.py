"""Cycles RGB backend: time per frame against the raster, and the appearance-gap table.

    python benchmarks/bench_cycles.py [--size 600] [--repeat 1] [--timing-samples 16,64]
                                      [--frames 40] [--appearance-size 128] [--samples 16]
                                      [--threads 0]
                                      [--skip-timing] [--skip-appearance] [--keep DIR]
                                      [--look default|textured] [--views survey|plan]

Timing (same run, same pose, the default phantom and camera at ``--size``): a full frame
(every modality) from the raster, and from ``render.backend=cycles`` at 16 and 64 samples,
with and without Open Image Denoise (CPU); ms per frame and the ratio to the raster. The
first Cycles render (scene sync, BVH build) is done before timing and reported separately;
each setting is then timed ``--repeat`` times (median; the first timed frame after a change
of samples or denoiser includes Cycles' integrator update, no mesh or BVH rebuild).

Appearance (``../shared/tools/appearance_gap.py`` against
``../shared/data/reference/bronchoscopy_features.npz``, ``--frames`` frames spread over the
view distribution ``--views`` as in bench_appearance.py): the raster and Cycles
(``--samples``, denoised), each clean and through the sensor model, in the look ``--look``
(``render=LOOK sensor=LOOK``, bench_appearance.look_configs), and pybullet's TinyRenderer, all
at ``--appearance-size`` (the tool reduces every frame to 128 x 128 before its features).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("room") is None:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_appearance as ba  # noqa: E402

from room.render import CameraConfig, RenderConfig, make_renderer  # noqa: E402
from room.render.cycles_config import CyclesConfig  # noqa: E402


def _cycles(samples: int, denoise: bool, threads: int) -> RenderConfig:
    return RenderConfig(backend="cycles",
                        cycles=CyclesConfig(samples=samples, denoise=denoise, threads=threads))


def timing(scene, pose, size: int, repeat: int, threads: int, samples: list[int]) -> None:
    """Print ms per full frame: raster, then Cycles per (samples, denoise)."""
    cam = CameraConfig(width=size, height=size)
    with make_renderer(scene, cam, RenderConfig()) as r:
        r.render(pose)
        t_r = []
        for _ in range(max(3, repeat)):
            t0 = time.perf_counter()
            r.render(pose)
            t_r.append(time.perf_counter() - t0)
    raster = float(np.median(t_r))
    print(f"\n{size}x{size}, one pose of the default plan; threads={threads or 'all'}; "
          f"{os.cpu_count()} CPUs seen; load average {os.getloadavg()[0]:.1f} at start")
    print(f"{'renderer':34s} {'ms/frame':>10s} {'x raster':>9s}")
    print(f"{'raster (every modality)':34s} {1e3 * raster:10.1f} {1.0:9.1f}")
    t0 = time.perf_counter()
    with make_renderer(scene, cam, _cycles(1, False, threads)) as r:
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        r.render(pose)
        t_first = time.perf_counter() - t0
        print(f"{'cycles: build scene (once)':34s} {1e3 * t_build:10.1f}")
        print(f"{'cycles: first frame, 1 sample':34s} {1e3 * t_first:10.1f} "
              f"{t_first / raster:9.1f}")
        for n, denoise in [(n, d) for n in samples for d in (False, True)]:
            r.set_look(_cycles(n, denoise, threads))  # sampling settings only: no re-sync
            ts, cs = [], []
            for i in range(repeat):
                t0, c0 = time.perf_counter(), time.process_time()
                r.render(pose, index=2 + i)
                ts.append(time.perf_counter() - t0)
                cs.append(time.process_time() - c0)
            t, c = float(np.median(ts)), float(np.median(cs))
            name = f"cycles {n} spp" + (", OIDN denoise" if denoise else "")
            print(f"{name:34s} {1e3 * t:10.1f} {t / raster:9.1f}   (CPU {c:.1f} s, all threads)",
                  flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end (machine shared: noisy)")


def render_set(scene, pairs, cam, render, sensor_cfg):
    """Clean renders and sensor images (``sensor_cfg``) of (pose, time, previous pose,
    previous time) tuples, as bench_appearance.render_ours does."""
    from room.sensor import SensorModel

    sensor = SensorModel(sensor_cfg)
    clean, noisy = [], []
    with make_renderer(scene, cam, render) as r:
        for i, (T, t, T_prev, t_prev) in enumerate(pairs):
            f = r.render(T, index=i, time_s=float(t))
            prev = f.replace(T_world_cam=np.asarray(T_prev, float), time_s=float(t_prev),
                             meta={})  # no exposure state: as bench_appearance.render_ours
            out = sensor.apply(f, prev_frame=prev)
            clean.append(f.rgb_clean)
            noisy.append(out.rgb)
    return clean, noisy


def appearance(scene, pairs, size: int, samples: int, threads: int, keep: Path | None,
               look: str = "default") -> None:
    import dataclasses

    from room.paths import shared_data_dir

    data = shared_data_dir()
    tool = data.parent / "tools" / "appearance_gap.py" if data else None
    ref = data / "reference" / "bronchoscopy_features.npz" if data else None
    if tool is None or not tool.is_file() or not ref.is_file():
        print("SKIP appearance: ../shared/tools/appearance_gap.py or ../shared/data/reference/"
              "bronchoscopy_features.npz is absent (set ROOM_SHARED_DATA)")
        return
    cam = CameraConfig(width=size, height=size)
    render, sensor = ba.look_configs(look)
    cycles = dataclasses.replace(render, backend="cycles",
                                 cycles=_cycles(samples, True, threads).cycles)
    sets = {}
    t0 = time.perf_counter()
    sets["raster+sensor"], sets["raster"] = render_set(scene, pairs, cam, render, sensor)[::-1]
    t1 = time.perf_counter()
    sets["cycles+sensor"], sets["cycles"] = render_set(scene, pairs, cam, cycles, sensor)[::-1]
    t2 = time.perf_counter()
    sets["pybullet"], _ = ba.render_pybullet(scene, [p[0] for p in pairs],
                                             cam.intrinsics())
    print(f"\nappearance ({look} look): {len(pairs)} frames at {size}x{size}; "
          f"raster {t1 - t0:.0f} s, "
          f"cycles ({samples} spp, denoised) {t2 - t1:.0f} s")
    with tempfile.TemporaryDirectory() as tmp:
        root = keep or Path(tmp)
        args = []
        for name, images in sets.items():
            d = root / name
            d.mkdir(parents=True, exist_ok=True)
            for i, im in enumerate(images):
                Image.fromarray(im).save(d / f"{i:04d}.png")
            args.append(f"{name}={d}")
        out = subprocess.run([sys.executable, str(tool), str(ref), *args], capture_output=True,
                             text=True, check=True)
    print(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=600)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--appearance-size", type=int, default=128)
    ap.add_argument("--samples", type=int, default=16, help="Cycles samples for the table")
    ap.add_argument("--timing-samples", default="16,64", help="Cycles samples to time")
    ap.add_argument("--threads", type=int, default=0, help="Cycles CPU threads (0 = all)")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--skip-appearance", action="store_true")
    ap.add_argument("--keep", type=Path, default=None, help="keep the PNGs in this folder")
    ap.add_argument("--look", default="default", choices=ba.LOOKS,
                    help="render=LOOK sensor=LOOK presets for the appearance table")
    ap.add_argument("--views", default="survey", choices=sorted(ba.VIEWS),
                    help="view distribution of the appearance frames (bench_appearance.VIEWS)")
    args = ap.parse_args()
    if importlib.util.find_spec("bpy") is None:
        print("SKIP: bpy is not installed (the [cycles] extra; see docs/rendering.md)")
        return
    scene, desc = ba.load_scene(None)
    pairs = ba.sample_frames(scene, args.frames, views=args.views)
    print(f"scene: {desc}")
    if not args.skip_timing:
        timing(scene, pairs[len(pairs) // 2][0], args.size, args.repeat, args.threads,
               [int(n) for n in args.timing_samples.split(",")])
    if not args.skip_appearance:
        appearance(scene, pairs, args.appearance_size, args.samples, args.threads, args.keep,
                   args.look)


if __name__ == "__main__":
    main()
