"""Renderer speed, side by side in one process, on the same ~165-200k-triangle airway and camera
path, at 600 x 600 and 256 x 256:

1. all modalities: ``Renderer.render`` (RGB, depth, normals, segmentation, face ids) plus a point
   cloud and forward optical flow from the previous frame (``Renderer.optical_flow``, as the
   generator uses it: the numba loop on a software rasterizer, the GL pass on a GPU); also
   ``render()`` alone, ``render_rgbd()`` (RGB + depth only, what the Gymnasium observations
   use), the point cloud, and flow of 30 fps pairs (0.5 mm apart, ~90 % valid) from the GL
   pass and the numba loop beside the numpy reference (``geometry.optical_flow``);
2. depth only from the same OpenGL backend (the rasterization floor);
3. pybullet's own ``getCameraImage`` with TinyRenderer (RGB + depth + segmentation mask; it
   always computes the mask), the usual baseline: the SAME visual mesh (every triangle, written
   to an OBJ file and loaded as a visual shape, not the decimated collision mesh), same
   resolution, poses and vertical field of view (pinhole: TinyRenderer has no lens model),
   TinyRenderer's default directional light.

Each row prints wall time and process CPU time (all threads; llvmpipe's workers run in-process)
per frame, and the ratios for both. Every row runs ``--repeats`` times, round robin, and its
fastest run counts (on a shared machine single runs move by +-20-30 %); compare rows of one
run only.

Targets on a 2-core CPU: (1) within 3x of (2); our RGB + depth at least 3x faster than (3).

Where the time goes (llvmpipe, 2 cores, phantom of 164,684 triangles, 600 x 600 pinhole, per
frame, 2026-12-03 on a machine shared with other jobs; single-thread CPU ms scale with load):
the geometry pass ~20 ms (culling, see room.render.culling, sends 27-52k of the 165k triangles
down: about 2-3x the truly visible ones, because a chunk is drawn whole; each occlusion query
costs llvmpipe ~20-50 us), the shading pass ~30-35 ms, reads ~2 ms (colour RGB half, depth RED
float, normals RGB float, each contiguous from its own target), sRGB table ~1 ms, exposure ~1
ms, face ids + segmentation ~1.5 ms (one numba loop, kernels.map_ids; four numpy passes took
~4-6 ms), the point cloud ~3 ms (every pixel, float64; a dataset's stride-4 cloud ~0.5 ms), flow
~4-6 ms per pair in the numba loop (the GL pass ~12 ms: llvmpipe runs every branch of the flow
shader and gathers the 2 x 2 depth texels one by one). The shading pass, counted in instructions
(benchmarks/shading_instructions.py: valgrind cachegrind, whole process, a 600 x 600 Y-tube
frame; deterministic, so unaffected by other load): ~715 M per frame on top of the geometry pass
and an empty shading pass. Removing one part at a time: the two LEDs ~440 M (their specular lobe
and Fresnel term ~250 M), the 3D mucosa texture lookup ~340 M (one trilinear RGBA8 lookup, ~900
instructions a pixel in llvmpipe's general sampler; two bilinear 2D or 2D-array lookups blended
by hand save only 2-4 %, tried and dropped), bump mapping ~250 M (it feeds the lights, so the
parts overlap). Ratio (1)/(2) <= 3 and (3)/RGB + depth >= 3 need a shading pass about half as
costly, i.e. a simpler look (fewer light or texture terms), which changes the RGB bytes of every
dataset and the appearance calibration (not done). Timed rather than counted
(``--shading-variant geometry``, 2026-12-04, idle, two runs: shading reduced to the exact depth
and normals and a colour from the view direction), even no look at all leaves (1)/(2) at
2.7-2.9 wall pinhole and 3.0-3.5 wall (3.9 CPU) with the lens, so on 2 llvmpipe cores no look
meets the lens target and the pinhole one leaves no room for a look. Wall times on these
shared machines move by +-20-30 % between runs and more under load (llvmpipe's two threads lose
more to other jobs than single-threaded TinyRenderer: compare the CPU ratios too); compare the
rows of one run only.

    python benchmarks/bench_render.py [--scene auto|procedural|phantom] [--frames 20]
                                      [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from room.render import CameraConfig, RenderConfig, make_renderer  # noqa: E402
from room.render.camera import T_GL_CV  # noqa: E402
from room.render.geometry import optical_flow, point_cloud  # noqa: E402
from room.transforms import invert, look_at  # noqa: E402


def procedural_scene(target_faces: int = 200_000):
    """The analytic Y-bifurcation, subdivided to about ``target_faces`` triangles."""
    import trimesh

    from room.anatomy.scene import AirwayScene
    from room.anatomy.synthetic import y_scene

    sc = y_scene(sections=192)
    v, f, fb = sc.mesh.vertices, sc.mesh.faces, sc.face_branch
    edge = 0.004
    while len(f) < target_faces:
        v2, f2, idx = trimesh.remesh.subdivide_to_size(v, f, edge, return_index=True)
        if len(f2) > 1.3 * target_faces:
            edge *= 1.15
            continue
        v, f, fb = v2, f2, fb[idx]
        edge /= 1.4
    mesh = trimesh.Trimesh(v, f, process=False)
    return AirwayScene(mesh=mesh, collision_mesh=sc.collision_mesh, tree=sc.tree,
                       face_branch=fb, metadata={"source": "subdivided Y-bifurcation"})


def phantom_scene():
    from room.anatomy import load_scene
    from room.anatomy.prepare import SceneConfig

    return load_scene(SceneConfig())


def camera_path(scene, n: int) -> list[np.ndarray]:
    """Poses along the centerline from the trachea into its first child, looking ahead."""
    pts, _ = scene.tree.polyline_to(scene.tree[scene.tree.root].children[0]
                                    if scene.tree[scene.tree.root].children else scene.tree.root)
    s = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    out = []
    for t in np.linspace(0.15 * s[-1], 0.85 * s[-1], n):
        p = np.array([np.interp(t, s, pts[:, k]) for k in range(3)])
        q = np.array([np.interp(min(t + 0.01, s[-1]), s, pts[:, k]) for k in range(3)])
        up = np.cross(q - p, [0.0, 1.0, 0.0])
        out.append(look_at(p + [0.0005, 0.0003, 0], q, up=up if np.linalg.norm(up) else [1, 0, 0]))
    return out


class Clock:
    """Wall time and process CPU time (all threads: llvmpipe's workers run in-process), per
    frame. On a shared, overloaded machine CPU time is the steadier measure of work."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> Clock:
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = (time.perf_counter() - self.w0) / self.n
        self.cpu = (time.process_time() - self.c0) / self.n

    def __str__(self) -> str:
        return f"{1e3 * self.wall:7.1f} ms/frame (CPU {1e3 * self.cpu:7.1f} ms)"


def timed(rows: dict, n: int, repeats: int) -> dict:
    """Run every row (a function of no arguments doing ``n`` frames) ``repeats`` times, round
    robin, and keep each row's fastest run (least disturbed by other load on a shared
    machine; the rows of one round see the same conditions)."""
    best: dict = {}
    for _ in range(repeats):
        for name, fn in rows.items():
            with Clock(n) as c:
                fn()
            if name not in best or c.wall < best[name].wall:
                best[name] = c
    return best


def bench_ours(scene, cam, poses, repeats: int):
    with (make_renderer(scene, cam, RenderConfig()) as r,
          make_renderer(scene, cam, RenderConfig(), cull=False) as plain):
        r.render(poses[0])
        r.render_depth(poses[0])
        plain.render_rgbd(poses[0])

        def all_modalities():
            prev = None
            for T in poses:
                f = r.render(T)
                point_cloud(f)
                if prev is not None:
                    r.optical_flow(prev, f)  # the GL pass, as the generator uses it
                prev = f

        frames = [r.render(T) for T in poses]
        step = np.eye(4)
        step[:3, 3] = [0.0002, 0.0001, 0.0005]  # 0.5 mm forward: a 30 fps pair, nearly all valid
        pairs = [(f, r.render(f.T_world_cam @ step)) for f in frames]

        def flow_with(backend):
            default, r.flow_backend = r.flow_backend, backend
            try:
                for a, b in pairs:
                    r.optical_flow(a, b)
            finally:
                r.flow_backend = default

        t = timed({"all": all_modalities,
                   "render": lambda: [r.render(T) for T in poses],
                   "rgbd": lambda: [r.render_rgbd(T) for T in poses],
                   "depth": lambda: [r.render_depth(T) for T in poses],
                   "nocull": lambda: [plain.render_rgbd(T) for T in poses],
                   "flow_gl": lambda: flow_with("gl"),
                   "flow_cpu": lambda: flow_with("cpu"),
                   "flow_np": lambda: [optical_flow(a, b) for a, b in pairs],
                   "cloud": lambda: [point_cloud(f) for f in frames]},
                  len(poses), repeats)
        t["valid"] = float(np.mean([r.optical_flow(a, b)[1].mean() for a, b in pairs]))
        t["info"] = r.gl_info
        t["flow_default"] = r.flow_backend
    return t


def bench_pybullet(scene, cam, poses, repeats: int):
    import pybullet as pb

    intr = cam.intrinsics()
    cid = pb.connect(pb.DIRECT)
    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / "airway.obj")
        scene.mesh.export(path)
        vis = pb.createVisualShape(pb.GEOM_MESH, fileName=path, physicsClientId=cid,
                                   rgbaColor=[0.8, 0.5, 0.5, 1])
        pb.createMultiBody(baseVisualShapeIndex=vis, physicsClientId=cid)
    fov = np.degrees(2 * np.arctan(0.5 * intr.height / intr.fy))
    proj = pb.computeProjectionMatrixFOV(fov, intr.width / intr.height, intr.near, intr.far)

    def view(T):  # OpenGL view matrix (camera <- world, GL axes), column-major
        return (T_GL_CV @ invert(T)).T.ravel().tolist()

    kw = dict(renderer=pb.ER_TINY_RENDERER, physicsClientId=cid)
    pb.getCameraImage(intr.width, intr.height, view(poses[0]), proj, **kw)

    def frames():
        for T in poses:
            pb.getCameraImage(intr.width, intr.height, view(T), proj, **kw)

    t = timed({"tiny": frames}, len(poses), repeats)["tiny"]
    pb.disconnect(cid)
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scene", choices=["auto", "procedural", "phantom"], default="auto",
                    help="auto: the default phantom when the scene stage is present")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs per row, round robin; the fastest counts")
    ap.add_argument("--sizes", type=int, nargs="+", default=[600, 256])
    ap.add_argument("--no-pybullet", action="store_true")
    ap.add_argument("--shading-variant", default="full",
                    help="where the time goes: render with a variant of the shading program "
                         "(benchmarks/shading_instructions.py: full, empty, geometry, "
                         "no_lights, no_spec, no_tex, no_bump); 'geometry' keeps the exact "
                         "depth and normals but no look, so its ratio is the floor of any "
                         "look on this machine ('empty' drops the ground truth too)")
    args = ap.parse_args()
    if args.shading_variant != "full":
        from shading_instructions import EDITS

        from room.render import shaders

        if args.shading_variant not in EDITS:
            ap.error(f"--shading-variant: one of {', '.join(EDITS)}")
        old, new = EDITS[args.shading_variant]
        if old not in shaders.SHADE_COMMON:
            ap.error(f"--shading-variant {args.shading_variant}: the shader changed; update "
                     "benchmarks/shading_instructions.py")
        shaders.SHADE_COMMON = shaders.SHADE_COMMON.replace(old, new)
        print(f"shading variant: {args.shading_variant} (not the shipped look)")
    t0 = time.perf_counter()
    if args.scene == "auto":
        try:
            import room.anatomy.prepare  # noqa: F401

            args.scene = "phantom"
        except ImportError:
            args.scene = "procedural"
    scene = procedural_scene() if args.scene == "procedural" else phantom_scene()
    print(f"scene: {args.scene}, {len(scene.mesh.faces)} triangles "
          f"(built in {time.perf_counter() - t0:.1f} s); {args.frames} poses")
    poses = camera_path(scene, args.frames)
    for size in args.sizes:
        base = CameraConfig(width=size, height=size)
        rgbd = {}
        for lens in ("none", "radtan"):
            cam = dataclasses.replace(base, distortion_model=lens)
            t = bench_ours(scene, cam, poses, args.repeats)
            t_all, t_rgbd, t_depth, t_nocull = t["all"], t["rgbd"], t["depth"], t["nocull"]
            rgbd[lens] = t_rgbd
            print(f"[{size}x{size} lens={lens}] {t['info']['renderer']}")
            print(f"  (1) all modalities + point cloud + flow: {t_all}")
            print(f"      render() alone (RGB depth normals seg): {t['render']}")
            print(f"      point_cloud() (numpy, every pixel):  {t['cloud']}")
            print(f"      flow, GL pass (flowpass):            {t['flow_gl']}  (per frame; "
                  f"{100 * t['valid']:.0f} % valid)")
            print(f"      flow, numba loop (flowcpu):          {t['flow_cpu']}  "
                  f"(GL / numba {t['flow_gl'].wall / t['flow_cpu'].wall:.2f}; "
                  f"optical_flow uses {t['flow_default']!r} here)")
            print(f"      flow, numpy reference:               {t['flow_np']}  "
                  f"(numba {t['flow_np'].wall / t['flow_cpu'].wall:.1f}x faster)")
            print(f"      render_rgbd() (RGB + depth only):   {t_rgbd}")
            print(f"      render_rgbd() without culling:       {t_nocull}  "
                  f"(culling: {t_nocull.wall / t_rgbd.wall:.2f}x faster)")
            print(f"  (2) depth only, same backend:            {t_depth}")
            print(f"      ratio (1)/(2) = {t_all.wall / t_depth.wall:.2f} wall, "
                  f"{t_all.cpu / t_depth.cpu:.2f} CPU  (target <= 3)")
        if not args.no_pybullet:
            t_pb = bench_pybullet(scene, base, poses, args.repeats)
            print(f"  (3) pybullet TinyRenderer RGB+depth (pinhole): {t_pb}")
            for lens, t in rgbd.items():
                print(f"      ratio (3)/render_rgbd() lens={lens:6s} = {t_pb.wall / t.wall:.2f} "
                      f"wall, {t_pb.cpu / t.cpu:.2f} CPU  (target >= 3)")


if __name__ == "__main__":
    main()
