"""Appearance benchmark: real bronchoscopy statistics vs our renders + sensor vs pybullet.

    python benchmarks/bench_appearance.py [--frames 40] [--keep DIR] [--save-clean DIR]
                                          [--scene DIR] [--backend raster] [--views survey]
                                          [--look default|textured]

Renders the default phantom scene (room.anatomy.load_scene with the default SceneConfig)
with the default camera and render settings at frames spread evenly over a trajectory plan
(room.trajectory; else poses along tree.polyline_to(leaf)): ``--views survey`` (the default;
:data:`VIEWS`) is a bronchoscopic survey as the real frames come from, paths to every branch
down to generation 3 with the tip steered up to 0.5 rad toward walls and carinas and any roll;
``--views plan`` is the default dataset's own path (docs/appearance.md). It applies the
default sensor model
(conf/sensor/default.yaml, profile assets/sensor/default.json) with each frame's true previous
pose (motion blur),
and renders the same poses with pybullet's own TinyRenderer (ER_TINY_RENDERER, default light as
in pybullet's examples, the mesh in a mucosa colour). The shared ``image_stats.py`` (read in
place, never copied) computes the statistics of all three; the table shows the real p10/p50/p90,
the median of ours and of pybullet's, and whether each lies inside the real p10-p90 range or
within 10% of its nearest end (|value - end| <= 0.1 |end|).

Beside the 8 statistics it prints the distribution-level appearance gap of the shared
``appearance_gap.py`` (read in place) against the 80 real frames' feature vectors
(``../shared/data/reference/bronchoscopy_features.npz``): classifier two-sample accuracy (c2st)
overall and per feature group, and MMD^2, for the default look (render + sensor), the clean
render and pybullet, against all 80 frames and against each half of them (a random split,
seed 0: the spread between halves shows how much a number owes to the particular frames).
``--backend NAME`` renders with ``RenderConfig(backend=NAME)`` (for a path-traced backend,
when RenderConfig has that field); ``raster`` is the default OpenGL renderer.

Also prints the time per frame of the sensor model against the render (ms and ratio).
``--save-clean DIR`` writes the clean renders (used by room-fit-sensor calibrate=DIR).
``--calibrate`` remakes assets/sensor/default.json from the reference statistics and these
renders (how the committed default profile was made: ``--calibrate --frames 24``); with
``--look textured`` it remakes assets/sensor/textured.json for the textured look
(``render=textured sensor=textured``, docs/appearance.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("room") is None:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from room import transforms  # noqa: E402

SCALARS = ("r_over_g", "b_over_g", "mean_luminance", "dark_fraction",
           "center_to_edge_luminance", "specular_fraction", "hf_residual_std",
           "residual_psd_slope")
EXTRA = ("noise_sigma_green",)
MUCOSA_RGBA = (0.85, 0.45, 0.42, 1.0)  # pybullet mesh colour (pinkish mucosa)


def shared_tool_and_reference():
    """(image_stats module, reference summary dict) from ../shared, or exit with a reason."""
    import json

    from room.paths import shared_data_dir

    data = shared_data_dir()
    tool = (data.parent / "tools" / "image_stats.py") if data else None
    ref = (data / "reference" / "bronchoscopy_appearance.json") if data else None
    if tool is None or not tool.is_file() or not ref.is_file():
        print("SKIP: ../shared/tools/image_stats.py or ../shared/data/reference/"
              "bronchoscopy_appearance.json is absent (set ROOM_SHARED_DATA)")
        sys.exit(0)
    spec = importlib.util.spec_from_file_location("image_stats", tool)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, json.loads(ref.read_text())


def load_scene(folder: Path | None):
    """The scene folder given, else the default phantom (prepared once, cached)."""
    if folder is not None:
        from room.anatomy.scene import AirwayScene

        return AirwayScene.load(folder), f"scene folder {folder}"
    from room.anatomy import load_scene
    from room.anatomy.prepare import SceneConfig

    return load_scene(SceneConfig()), "default phantom (SceneConfig())"


VIEWS = {
    # a bronchoscopic survey (the real frames' setting): paths to every branch down to
    # generation 3, the tip up to half a radius off the axis and steered up to 0.5 rad
    # (29 degrees) off the path toward walls, carinas and bifurcations, any roll
    "survey": {"n_sequences": 0, "max_generation": 3, "view_jitter_rad": 0.5,
               "lateral_offset": 0.5, "roll_jitter_rad": 3.14},
    # the default dataset's plan: one path, looking down the lumen (tilt <= 0.08 rad)
    "plan": {},
}
"""View distributions of the frames (TrajectoryConfig overrides, seed 0; module docstring)."""


def sample_frames(scene, n_frames: int, seed: int = 0, views: str = "survey") -> list[tuple]:
    """``n_frames`` (pose, time, previous pose, previous time) spread evenly over the
    trajectory plan of the view distribution ``views`` (:data:`VIEWS`: TrajectoryConfig()
    with those overrides, room.trajectory); the previous pose is the frame before in the same
    sequence (the camera motion that shapes motion blur). Without room.trajectory: poses
    along the centerline to a few leaves, 3 mm apart at 15 Hz, looking 8 mm ahead."""
    try:
        from room.trajectory import TrajectoryConfig, plan_sequences
    except ImportError:
        seqs = _centerline_sequences(scene, seed)
    else:
        if views not in VIEWS:
            sys.exit(f"--views {views!r}: use one of {sorted(VIEWS)}")
        cfg = TrajectoryConfig(**VIEWS[views])
        seqs = [(np.asarray(s.poses, float), np.asarray(s.times, float))
                for s in plan_sequences(scene, cfg, seed)]
    pairs = [(P[j], t[j], P[j - 1], t[j - 1]) for P, t in seqs for j in range(1, len(P))]
    idx = np.linspace(0, len(pairs) - 1, min(n_frames, len(pairs))).round().astype(int)
    return [pairs[i] for i in idx]


def _centerline_sequences(scene, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    tree = scene.tree
    leaves = sorted(tree.leaves(), key=lambda b: b.id)
    pick = np.random.default_rng(seed).choice(len(leaves), min(4, len(leaves)), replace=False)
    seqs = []
    for li in pick:
        pts, _ = tree.polyline_to(leaves[li].id)
        s = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        seq = []
        for a in np.arange(0.005, s[-1] - 0.008, 0.003):
            eye, tgt = (np.array([np.interp(x, s, pts[:, k]) for k in range(3)])
                        for x in (a, a + 0.008))
            d = (tgt - eye) / np.linalg.norm(tgt - eye)
            seq.append(transforms.look_at(eye, tgt, np.eye(3)[np.argmin(np.abs(d))]))
        seqs.append((np.array(seq), np.arange(len(seq)) / 15.0))
    return seqs


LOOKS = ("default", "textured")
"""Looks: the Hydra presets ``render=<look> sensor=<look>`` (conf/render, conf/sensor)."""
GRADING_FIT = {"default": "staged", "textured": "interleaved"}
"""How each look's committed profile fitted its colour rendering (calibrate_profile)."""


def look_configs(look: str):
    """(RenderConfig, SensorConfig) of the look ``look`` as room-generate composes them."""
    from room.compose import compose_generate

    job = compose_generate([f"render={look}", f"sensor={look}"])
    return job.render, job.sensor


def render_config(backend: str, look: str = "default"):
    """The look's RenderConfig for ``backend`` ("raster": the default; others need the
    field)."""
    import dataclasses

    cfg = look_configs(look)[0]
    if backend == "raster":
        return cfg
    if "backend" not in {f.name for f in dataclasses.fields(cfg)}:
        sys.exit(f"render backend {backend!r}: this RenderConfig has no 'backend' field; "
                 "only --backend raster is available")
    return dataclasses.replace(cfg, backend=backend)


def render_ours(scene, pairs, save_clean: Path | None, backend: str = "raster",
                look: str = "default"):
    """Clean renders and sensor images (the look's SensorConfig) of (pose, previous pose) pairs.
    The previous frame handed to the sensor carries the previous pose (motion blur) but no
    exposure state: each frame meters on its own, as a settled video does, and as the
    calibration (room.sensor.calibrate) runs the sensor. (Carrying the gain of the previous
    *sample*, another place in the airway, added a random exposure error of up to half the
    two views' difference: the benchmark before 2026-12-04.)"""
    from room.render import CameraConfig, make_renderer
    from room.sensor import SensorModel

    sensor = SensorModel(look_configs(look)[1])
    clean, noisy, t_render, t_sensor, frames = [], [], [], [], []
    with make_renderer(scene, CameraConfig(), render_config(backend, look)) as r:
        for i, (T, t, T_prev, t_prev) in enumerate(pairs):
            t0 = time.perf_counter()
            f = r.render(T, index=i, time_s=float(t))
            t1 = time.perf_counter()
            prev = f.replace(T_world_cam=np.asarray(T_prev, float), time_s=float(t_prev),
                             meta={})
            out = sensor.apply(f, prev_frame=prev)
            t2 = time.perf_counter()
            t_render.append(t1 - t0)
            t_sensor.append(t2 - t1)
            clean.append(f.rgb_clean)
            noisy.append(out.rgb)
            frames.append(f)
        intr = f.intrinsics
        info = getattr(r, "gl_info", {})
    if save_clean is not None:
        save_clean.mkdir(parents=True, exist_ok=True)
        for i, im in enumerate(clean):
            Image.fromarray(im).save(save_clean / f"{i:04d}.png")
    return clean, noisy, intr, (np.median(t_render), np.median(t_sensor)), info, frames


def render_pybullet(scene, poses, intr) -> tuple[list[np.ndarray], float]:
    """pybullet TinyRenderer on the same mesh and poses, lit as in pybullet's examples
    (getCameraImage with its default light, shadow=1, lightDirection=[1, 1, 1])."""
    import pybullet as p

    with tempfile.TemporaryDirectory() as tmp:
        obj = Path(tmp) / "airway.obj"
        scene.mesh.export(obj)
        cid = p.connect(p.DIRECT)
        try:
            vis = p.createVisualShape(p.GEOM_MESH, fileName=str(obj), rgbaColor=MUCOSA_RGBA,
                                      physicsClientId=cid)
            p.createMultiBody(baseMass=0, baseVisualShapeIndex=vis, physicsClientId=cid)
            fov = float(np.degrees(2 * np.arctan(intr.height / (2 * intr.fy))))
            proj = p.computeProjectionMatrixFOV(fov, intr.width / intr.height, intr.near,
                                                intr.far, physicsClientId=cid)
            flip = np.diag([1.0, -1.0, -1.0, 1.0])  # OpenCV camera -> OpenGL camera axes
            images, times = [], []
            for T in poses:
                view = (flip @ np.linalg.inv(T)).T.ravel().tolist()
                t0 = time.perf_counter()
                img = p.getCameraImage(intr.width, intr.height, view, proj, shadow=1,
                                       lightDirection=[1, 1, 1],
                                       renderer=p.ER_TINY_RENDERER, physicsClientId=cid)
                times.append(time.perf_counter() - t0)
                rgba = np.reshape(np.asarray(img[2], np.uint8), (intr.height, intr.width, 4))
                images.append(rgba[..., :3].copy())
        finally:
            p.disconnect(cid)
    return images, float(np.median(times))


def stats_of(images, tool, folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, im in enumerate(images):
        paths.append(folder / f"{i:04d}.png")
        Image.fromarray(im).save(paths[-1])
    return tool.summarize([tool.frame_stats(str(p)) for p in paths])


def inside(v: float, lo: float, hi: float) -> bool:
    if lo <= v <= hi:
        return True
    end = lo if v < lo else hi
    return abs(v - end) <= 0.1 * abs(end)


def table(ref: dict, ours: dict, bullet: dict) -> int:
    head = f"{'statistic':26s} {'real p10':>10s} {'p50':>10s} {'p90':>10s} | " \
           f"{'ours':>10s} {'in':>3s} | {'pybullet':>10s} {'in':>3s}"
    print(head)
    print("-" * len(head))
    n_ours = n_bullet = 0
    for key in SCALARS + EXTRA:
        r = ref["stats"][key]
        o, b = ours[key]["p50"], bullet[key]["p50"]
        io, ib = inside(o, r["p10"], r["p90"]), inside(b, r["p10"], r["p90"])
        scored = key in SCALARS
        n_ours += io and scored
        n_bullet += ib and scored
        flag = (lambda x: ("yes" if x else "NO")) if scored else (lambda x: "(i)")
        print(f"{key:26s} {r['p10']:10.4g} {r['p50']:10.4g} {r['p90']:10.4g} | "
              f"{o:10.4g} {flag(io):>3s} | {b:10.4g} {flag(ib):>3s}")
    print(f"inside (of {len(SCALARS)}): ours {n_ours}, pybullet {n_bullet}   "
          "((i) = informational, not a calibration target)")
    return n_ours


def gap_tool():
    """(appearance_gap module, reference features (80, 108)) from ../shared, or None."""
    from room.paths import shared_data_dir

    data = shared_data_dir()
    tool = (data.parent / "tools" / "appearance_gap.py") if data else None
    ref = (data / "reference" / "bronchoscopy_features.npz") if data else None
    if tool is None or not tool.is_file() or not ref.is_file():
        return None
    spec = importlib.util.spec_from_file_location("appearance_gap", tool)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, np.load(ref)["features"].astype(float)


def gap_rows(ag, real: np.ndarray, sets: dict[str, np.ndarray]) -> list[str]:
    """appearance_gap.py's table rows (c2st, c2st per group, MMD^2) of each feature set in
    ``sets`` against ``real``, with the same bandwidth and standardisation as the tool."""
    mu, sd = real.mean(0), real.std(0) + 1e-9
    z = (real - mu) / sd
    bw = float(np.sqrt(np.median(((z[:, None] - z[None]) ** 2).sum(-1)) / 2))
    rows = []
    for name, cand in sets.items():
        per = " ".join(f"{ag.c2st(real[:, sl], cand[:, sl]):9.3f}" for sl in ag.GROUPS.values())
        d2 = np.median(((((cand - mu) / sd)[:, None] - z[None]) ** 2).sum(-1))
        rows.append(f"{name:22s} {len(cand):4d}  {ag.c2st(real, cand):.3f}  {per}   "
                    f"{ag.mmd2(real, cand, mu, sd, bw):.4f}  {d2:10.4g}")
    rows.append(f"(d2: median squared standardised distance to a real frame; the kernel's "
                f"2 bw^2 = {2 * bw * bw:.0f}: at d2 >> 2 bw^2 real-vs-ours kernel values are 0 "
                "and MMD^2 = mean real-real kernel + mean ours-ours kernel)")
    return rows


def gap_table(folders: dict[str, Path]) -> None:
    """Print the appearance-gap table of the image folders against all reference frames and
    against each half of them (random split, seed 0)."""
    got = gap_tool()
    if got is None:
        print("appearance gap: SKIP (../shared/tools/appearance_gap.py or the reference "
              "features are absent)")
        return
    ag, real = got
    sets = {name: ag.load(d) for name, d in folders.items()}
    half = np.random.default_rng(0).permutation(len(real))
    h = len(real) // 2
    head = f"{'set':22s} {'n':>4s}  c2st  " + " ".join(f"{g:>9s}" for g in ag.GROUPS) + \
        "   MMD^2          d2"
    for label, ref in ((f"all {len(real)} real frames", real),
                       ("real half A", real[half[:h]]), ("real half B", real[half[h:]])):
        print(f"\nappearance gap against {label} (c2st 0.5 = indistinguishable)")
        print(head)
        print("\n".join(gap_rows(ag, ref, sets)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--keep", type=Path, default=None, help="keep the PNGs in this folder")
    ap.add_argument("--save-clean", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--calibrate", action="store_true",
                    help="recalibrate assets/sensor/<look>.json on these renders (room."
                         "sensor.calibrate.make_default_profile) instead of printing the table")
    ap.add_argument("--scene", type=Path, default=None,
                    help="scene folder (default: the default phantom via load_scene)")
    ap.add_argument("--views", default="survey", choices=sorted(VIEWS),
                    help="view distribution of the frames (VIEWS; default survey)")
    ap.add_argument("--backend", default="raster",
                    help="render backend (RenderConfig.backend; default raster)")
    ap.add_argument("--look", default="default", choices=LOOKS,
                    help="render=LOOK sensor=LOOK presets (default: the default look)")
    args = ap.parse_args()
    tool, ref = shared_tool_and_reference()
    scene, desc = load_scene(args.scene)
    pairs = sample_frames(scene, args.frames, args.seed, args.views)
    print(f"scene: {desc}; {len(pairs)} frames ({args.views} views); look: {args.look}; "
          f"profile: {look_configs(args.look)[1].profile}")
    clean, noisy, intr, (t_r, t_s), gl, frames = render_ours(scene, pairs, args.save_clean,
                                                             args.backend, args.look)
    if args.calibrate:
        from room.sensor.calibrate import DEFAULT_KNOBS, TEXTURED_KNOBS, make_default_profile
        from room.sensor.profile import profile_dir

        knobs = TEXTURED_KNOBS if args.look == "textured" else DEFAULT_KNOBS
        gap = gap_tool()
        if gap is None:
            sys.exit("--calibrate needs ../shared/data/reference/bronchoscopy_features.npz "
                     "(the colour-rendering curves are fitted to it)")
        prof = make_default_profile(ref, frames, [(p[2], p[3]) for p in pairs], knobs,
                                    name=args.look, cfg=look_configs(args.look)[1],
                                    reference_features=gap[1],
                                    grading_fit=GRADING_FIT[args.look])
        print(f"wrote {prof.save(profile_dir() / f'{args.look}.json')}; run again (without "
              "--calibrate) for the table with the new profile")
        return
    bullet, t_b = render_pybullet(scene, [p[0] for p in pairs], intr)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        ours = stats_of(noisy, tool, root / "ours")
        bul = stats_of(bullet, tool, root / "pybullet")
        stats_of(clean, tool, root / "clean")
        print(f"camera {intr.width}x{intr.height}, GL: {gl.get('renderer', gl)}, "
              f"backend {args.backend}")
        table(ref, ours, bul)
        gap_table({f"{args.backend} + sensor": root / "ours",
                   f"{args.backend} clean": root / "clean",
                   "pybullet TinyRenderer": root / "pybullet"})
    print(f"\ntime per frame: render {1e3 * t_r:.1f} ms, sensor model {1e3 * t_s:.1f} ms "
          f"(ratio sensor/render {t_s / t_r:.2f}); pybullet TinyRenderer {1e3 * t_b:.1f} ms "
          f"(ratio to our render {t_b / t_r:.2f})")


if __name__ == "__main__":
    main()
