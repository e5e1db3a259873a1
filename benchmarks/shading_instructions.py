"""Where the shading pass's cost goes, counted in instructions rather than timed: each variant
of the shading program (one part removed) renders the same frames under valgrind's cachegrind,
and the instructions executed by the whole process are compared (the Python work is the same in
every variant; llvmpipe's shaders run partly as JIT code, which cachegrind reports as ``???``,
and partly in its precompiled samplers, so the JIT count alone undercounts texture lookups).
Counts move by well under 1 % between runs, so the table means the same on a loaded machine,
where timings of a 30 ms pass move by +-30 %.

    python benchmarks/shading_instructions.py [--size 600] [--frames 2]
                                              [--variants full,empty,no_lights,...]

Needs valgrind (``apt-get install valgrind``) and a software rasterizer (Mesa llvmpipe; run with
``LP_NUM_THREADS=0`` so shading runs in the calling thread). Each variant takes ~2-3 minutes
(Python under valgrind). Scene: the analytic Y-tube seen from inside the trunk (every pixel
hit). Variants: ``full`` (the shipped shader), ``empty`` (shade() returns at once: what is left
is the geometry pass and the pass overhead; no ground truth either, depth and normals are 0),
``geometry`` (the exact depth and normals, a colour from the view direction only: no look at
all, the floor of any look with exact ground truth), ``no_lights`` (no LED terms), ``no_spec`` (LEDs
without the specular lobe), ``no_tex`` (constant texture value instead of the 3D lookup),
``no_bump`` (the interpolated normal instead of the bump-mapped one).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

EDITS = {  # variant -> (text in SHADE_COMMON, replacement)
    "full": None,
    "empty": ("vec4 shade(int raw, vec3 ray, out vec4 geom) {",
              "vec4 shade(int raw, vec3 ray, out vec4 geom) {\n    geom = vec4(0.0);\n"
              "    return vec4(ray, 0.0);\n"),
    "geometry": ("    vec3 view = normalize(-p);\n",
                 "    vec3 view = normalize(-p);\n    return vec4(0.5 + 0.5 * view, 0.0);\n"),
    "no_lights": ("for (int i = 0; i < N_LIGHTS; ++i) {", "for (int i = 0; i < 0; ++i) {"),
    "no_spec": ("* pow(ndh, u_shininess);", "* 0.0;"),
    "no_tex": ("vec4 tx = texture(u_tex, pw * u_tex_freq);", "vec4 tx = vec4(0.5);"),
    "no_bump": ("vec3 ns = normalize(abs(det) * n - grad);", "vec3 ns = n;"),
}


def child(variant: str, size: int, frames: int) -> None:
    """Render ``frames`` RGB + depth frames (after one warm-up) with the variant's shader."""
    sys.path.insert(0, str(REPO))
    from room.render import CameraConfig, RenderConfig, make_renderer, shaders

    edit = EDITS[variant]
    if edit is not None:
        if edit[0] not in shaders.SHADE_COMMON:
            sys.exit(f"variant {variant}: {edit[0]!r} is not in the shader any more")
        shaders.SHADE_COMMON = shaders.SHADE_COMMON.replace(edit[0], edit[1])
    from room.anatomy.synthetic import y_scene
    from room.transforms import look_at

    cam = CameraConfig(width=size, height=size, distortion_model="none")
    with make_renderer(y_scene(sections=96), cam, RenderConfig()) as r:
        T = look_at([0.0005, 0.0003, 0.01], [0.0, 0.0, 0.06], up=[1, 0, 0])
        r.render_rgbd(T)
        for _ in range(frames):
            r.render_rgbd(T)


def instructions(out_file: Path) -> int:
    """Instructions the whole process executed (cachegrind's program total)."""
    text = subprocess.run(["cg_annotate", str(out_file)], capture_output=True, text=True,
                          check=True).stdout
    m = re.search(r"^\s*([\d,]+)\s+\([\s\d.]+%\)\s+PROGRAM TOTALS", text, re.M)
    if m is None:
        sys.exit(f"no program total in cg_annotate's output for {out_file}")
    return int(m.group(1).replace(",", ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=600)
    ap.add_argument("--frames", type=int, default=2)
    ap.add_argument("--variants", default=",".join(EDITS))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.size, args.frames)
        return
    if shutil.which("valgrind") is None or shutil.which("cg_annotate") is None:
        sys.exit("SKIP: valgrind is not installed (apt-get install valgrind)")
    env = {**os.environ, "LP_NUM_THREADS": "0", "PYOPENGL_PLATFORM": "egl"}
    counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for v in args.variants.split(","):
            out = Path(tmp) / f"cg.{v}"
            cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--smc-check=all",
                   f"--cachegrind-out-file={out}", sys.executable, __file__, "--child", v,
                   "--size", str(args.size), "--frames", str(args.frames)]
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            counts[v] = instructions(out)
            print(f"{v:10s} {counts[v] / 1e6:9.1f} M instructions", flush=True)
    # a second run with one more frame would isolate the per-frame part; the warm-up frame
    # and shader compilation are the same in every variant, so differences are per-frame work
    n = args.frames + 1
    if "full" in counts:
        print(f"\nper {args.size} x {args.size} frame (differences to 'full' / {n} frames):")
        for v, c in counts.items():
            if v != "full":
                print(f"  {v:10s} removes {(counts['full'] - c) / n / 1e6:7.1f} M")


if __name__ == "__main__":
    main()
