"""Check the renderer on a GPU through EGL and report frames per second.

    PYOPENGL_PLATFORM=egl python benchmarks/gpu_check_render.py [--frames 50] [--device 0]

Prints the EGL devices found, the GL vendor/renderer actually used (``NVIDIA`` expected on an
NVIDIA machine; exit code 1 if the context fell back to a software rasterizer), and ms/frame and
fps of ``render()`` (all modalities), ``render_depth()`` and point cloud + flow, at 600 x 600 and
256 x 256 on a ~200k-triangle airway.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--device", type=int, default=0, help="EGL device index (ROOM_EGL_DEVICE)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[600, 256])
    args = ap.parse_args()
    os.environ["ROOM_EGL_DEVICE"] = str(args.device)

    from bench_render import camera_path, procedural_scene

    from room.render import CameraConfig, RenderConfig, make_renderer
    from room.render.geometry import optical_flow, point_cloud

    try:
        from pyrender.platforms.egl import query_devices

        devs = query_devices()
        print(f"EGL devices: {len(devs)}: {[d.name for d in devs]}")
    except Exception as e:  # noqa: BLE001 - informative only
        print(f"EGL device query failed: {e}")
    scene = procedural_scene()
    poses = camera_path(scene, args.frames)
    software = False
    for size in args.sizes:
        for lens in ("none", "radtan"):
            cam = CameraConfig(width=size, height=size, distortion_model=lens)
            with make_renderer(scene, cam, RenderConfig()) as r:
                info = r.gl_info
                software |= "llvmpipe" in info["renderer"] or "softpipe" in info["renderer"]
                r.render(poses[0])
                t0 = time.perf_counter()
                frames = [r.render(T) for T in poses]
                t_r = (time.perf_counter() - t0) / len(poses)
                t0 = time.perf_counter()
                for T in poses:
                    r.render_depth(T)
                t_d = (time.perf_counter() - t0) / len(poses)
                t0 = time.perf_counter()
                for a, b in zip(frames[:-1], frames[1:], strict=True):
                    point_cloud(b)
                    optical_flow(a, b)
                t_n = (time.perf_counter() - t0) / max(1, len(frames) - 1)
            print(f"[{size}x{size} lens={lens}] {info['vendor']} | {info['renderer']} | "
                  f"{info['version']}")
            print(f"  render() all modalities: {1e3 * t_r:7.2f} ms  ({1 / t_r:6.1f} fps)")
            print(f"  render_depth():          {1e3 * t_d:7.2f} ms  ({1 / t_d:6.1f} fps)")
            print(f"  point cloud + flow:      {1e3 * t_n:7.2f} ms (numpy, CPU)")
    if software:
        print("WARNING: a software rasterizer was used, not the GPU")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
