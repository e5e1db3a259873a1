"""Sensor model vs render at 600 x 600: time per frame side by side, ratio and stage profile.

    python benchmarks/bench_sensor.py [--frames 16] [--width 600] [--look default|textured]

Renders the default phantom with the default camera and render settings (every modality) at
frames spread over the default trajectory plan (as bench_appearance.py), applies the default
sensor model (conf/sensor/default.yaml; ``--look textured``: the textured look's render and
sensor presets) with each frame's true previous pose (motion blur, auto-exposure smoothing),
and prints the median render and sensor times, their ratio (target: sensor <= 0.5 x render)
and the median time of each sensor stage (room.sensor.stages functions and SensorModel
helpers, timed by wrapping them; nested stages are counted in their parent).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STAGES = {  # (module attribute holder, name) -> label
    "st.uint8_to_linear": "decode sRGB (LUT)",
    "st.image_motion": "image motion (depth + poses)",
    "st.motion_blur": "motion blur (remap)",
    "st.gaussian_blur": "defocus blur",
    "st.local_gain": "local tone map",
    "SensorModel._meter": "exposure metering",
    "SensorModel._log_gain": "exposure bisection",
    "st.bloom": "bloom",
    "st.correlated_noise": "noise field (rFFT)",
    "SensorModel._noise_std": "noise std",
    "st.develop_uint8": "colour + tone + 8-bit (tables)",
    "fused.finish_uint8": "clip, equalise, develop (fused)",
    "grading.apply_grading": "colour rendering (HSV curves)",
}


def _wrap(owner, name: str, label: str, acc: dict, depth: list) -> None:
    fn = getattr(owner, name)

    @functools.wraps(fn)
    def timed(*a, **k):
        depth[0] += 1
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            depth[0] -= 1
            if depth[0] == 0 or label != "defocus blur":
                acc[label] += time.perf_counter() - t
    setattr(owner, name, timed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--width", type=int, default=600)
    ap.add_argument("--look", default="default", choices=("default", "textured"))
    a = ap.parse_args()
    from bench_appearance import load_scene, look_configs, sample_frames

    from room.render import CameraConfig, make_renderer
    from room.sensor import SensorModel
    from room.sensor import model as model_mod

    st = model_mod.st
    per_frame: list[dict] = []
    acc: dict = defaultdict(float)
    depth = [0]
    for key, label in STAGES.items():
        owner_name, name = key.split(".")
        owner = {"st": st, "fused": model_mod, "grading": model_mod}.get(owner_name, SensorModel)
        _wrap(owner, name, label, acc, depth)
    scene, desc = load_scene(None)
    pairs = sample_frames(scene, a.frames + 2, views="plan")  # the default dataset's
    render_cfg, sensor_cfg = look_configs(a.look)
    sensor = SensorModel(sensor_cfg)
    cam = CameraConfig(width=a.width, height=a.width)
    t_r, t_s, meta = [], [], {}
    with make_renderer(scene, cam, render_cfg) as r:
        for i, (T, t, T_prev, t_prev) in enumerate(pairs):
            t0 = time.perf_counter()
            f = r.render(T, index=i, time_s=float(t))
            t1 = time.perf_counter()
            acc.clear()
            prev = f.replace(T_world_cam=np.asarray(T_prev, float), time_s=float(t_prev),
                             meta=meta)
            out = sensor.apply(f, prev_frame=prev)
            t2 = time.perf_counter()
            meta = out.meta
            if i >= 2:  # the first frames build caches (filters, tables, vignetting maps)
                t_r.append(t1 - t0)
                t_s.append(t2 - t1)
                per_frame.append(dict(acc))
    tr, ts = 1e3 * np.median(t_r), 1e3 * np.median(t_s)
    print(f"scene: {desc}; {len(t_r)} frames at {a.width} x {a.width}, all modalities; look "
          f"{a.look}")
    print(f"render {tr:.1f} ms, sensor model {ts:.1f} ms: sensor / render = {ts / tr:.2f} "
          "(target <= 0.50)")
    print("sensor stages (median ms per frame):")
    for label in STAGES.values():
        v = [d.get(label, 0.0) for d in per_frame]
        print(f"  {label:32s} {1e3 * np.median(v):7.1f}")
    known = np.median([sum(d.values()) for d in per_frame]) * 1e3
    print(f"  {'other (clips, products, copies)':32s} {ts - known:7.1f}")


if __name__ == "__main__":
    main()
