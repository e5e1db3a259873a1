"""Check the renderer on a GPU through EGL and report frames per second.

    PYOPENGL_PLATFORM=egl python benchmarks/gpu_check_render.py [--frames 50] [--device 0]

Prints the EGL devices found, the GL vendor/renderer actually used (``NVIDIA`` expected on an
NVIDIA machine; exit code 1 if the context fell back to a software rasterizer), and ms/frame and
fps of ``render()`` (all modalities), ``render_depth()``, the point cloud, and optical flow from
the GL pass (``Renderer.optical_flow``) beside the numpy reference, with their largest
difference (float32 on the GPU: expect < 1e-3 px), at 600 x 600 and 256 x 256 on a ~200k-triangle
airway.
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

    import numpy as np
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
                pairs = list(zip(frames[:-1], frames[1:], strict=True))
                n = max(1, len(pairs))
                r.optical_flow(frames[0], frames[0])  # compiles the flow pass
                t0 = time.perf_counter()
                for f in frames:
                    point_cloud(f)
                t_c = (time.perf_counter() - t0) / len(frames)
                t0 = time.perf_counter()
                gl_flow = [r.optical_flow(a, b) for a, b in pairs]
                t_g = (time.perf_counter() - t0) / n
                t0 = time.perf_counter()
                np_flow = [optical_flow(a, b) for a, b in pairs]
                t_n = (time.perf_counter() - t0) / n
                diff = max((float(np.abs(g[0] - f[0])[g[1] & f[1]].max(initial=0.0))
                            for g, f in zip(gl_flow, np_flow, strict=True)), default=0.0)
                agree = min((float((g[1] == f[1]).mean())
                             for g, f in zip(gl_flow, np_flow, strict=True)), default=1.0)
            print(f"[{size}x{size} lens={lens}] {info['vendor']} | {info['renderer']} | "
                  f"{info['version']}")
            print(f"  render() all modalities: {1e3 * t_r:7.2f} ms  ({1 / t_r:6.1f} fps)")
            print(f"  render_depth():          {1e3 * t_d:7.2f} ms  ({1 / t_d:6.1f} fps)")
            print(f"  point cloud:             {1e3 * t_c:7.2f} ms (numpy, CPU)")
            print(f"  flow, GL pass:           {1e3 * t_g:7.2f} ms; numpy reference "
                  f"{1e3 * t_n:7.2f} ms; max |diff| {diff:.2e} px, masks agree on "
                  f"{100 * agree:.3f} %")
    if software:
        print("WARNING: a software rasterizer was used, not the GPU")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
