"""Scene preparation of a phantom CT of 512 x 512 x 400 voxels at 0.7 mm, stage by stage.

Target (issue 2): under 60 s in all on a 2-core machine. Prints a table of seconds per stage and
its share of the total, the total against the target, and, side by side on the same mask, the
centerline's distance step (KD-tree over the lumen's background shell) against the baseline it
replaced (SimpleITK's dense Maurer distance map of the bounding box).

    python benchmarks/bench_prepare.py [--shape 512 512 400] [--spacing-mm 0.7] [--gt-mask]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_S = 60.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", type=int, nargs=3, default=(512, 512, 400), metavar=("X", "Y", "Z"))
    ap.add_argument("--spacing-mm", type=float, default=0.7)
    ap.add_argument("--gt-mask", action="store_true",
                    help="mesh the phantom's exact lumen instead of segmenting its CT")
    args = ap.parse_args()

    import numpy as np
    import trimesh

    from room.anatomy import mesh as M
    from room.anatomy.centerline import compare_trees, extract_centerline
    from room.anatomy.phantom import PhantomConfig, make_phantom
    from room.anatomy.scene import AirwayScene

    times: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def timed(name, fn, *a, **k):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn(*a, **k)
        times[name] = time.perf_counter() - t0
        cpu[name] = time.process_time() - c0
        return out

    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f} "
          "(the machine may be shared; times scale with load)")
    pcfg = PhantomConfig(shape_xyz=tuple(args.shape), spacing_m=args.spacing_mm * 1e-3)
    ph = timed("phantom synthesis", make_phantom, pcfg)
    if args.gt_mask:
        mask = ph.lumen
        times["segmentation"] = cpu["segmentation"] = 0.0
    else:
        from room.anatomy.segment import SegmentConfig, segment_airway

        mask = timed("segmentation", segment_airway, ph.ct, SegmentConfig())
    mcfg = M.MeshConfig()
    surf = timed("marching cubes", M._surface, mask, mcfg)

    def smooth(m):
        m = M._largest_surface(m)
        trimesh.smoothing.filter_taubin(m, lamb=mcfg.taubin_lambda, nu=mcfg.taubin_nu,
                                        iterations=mcfg.taubin_iterations)
        return m

    n_raw = len(surf.faces)
    surf = timed("mesh smoothing", smooth, surf)

    def finish(m):
        m = M.decimate(m, mcfg.target_faces)
        M._close(m)
        return M.orient_inward(m)

    mesh = timed("decimation", finish, surf)
    col = timed("collision mesh", M.make_collision_mesh, mesh, mcfg.collision_faces)
    tree = timed("centerline", extract_centerline, mask)
    fb = timed("face branch ids", M.face_branch_ids, mesh, tree)
    scene = AirwayScene(mesh=mesh, collision_mesh=col, tree=tree, face_branch=fb)
    with tempfile.TemporaryDirectory() as tmp:
        timed("save", scene.save, Path(tmp) / "scene")
    total = sum(times.values())

    print(f"\nphantom CT {args.shape[0]} x {args.shape[1]} x {args.shape[2]} voxels at "
          f"{args.spacing_mm} mm; mask {'ground truth' if args.gt_mask else 'segmented'}: "
          f"{int(np.count_nonzero(mask.array))} voxels")
    total_cpu = sum(cpu.values())
    print("wall ms: elapsed; cpu ms: this process's CPU time, the better guide on a shared machine")
    print(f"{'stage':<20}{'wall ms':>10}{'cpu ms':>10}{'share':>8}")
    for k, v in times.items():
        print(f"{k:<20}{1e3 * v:>10.0f}{1e3 * cpu[k]:>10.0f}{v / total:>8.1%}")
    print(f"{'total':<20}{1e3 * total:>10.0f}{1e3 * total_cpu:>10.0f}{'':>8}  wall = "
          f"{total / TARGET_S:.2f} x, cpu = {total_cpu / TARGET_S:.2f} x the "
          f"{TARGET_S:.0f} s target")
    print(f"\nmesh: {n_raw} marching-cubes faces -> {len(mesh.faces)} visual, {len(col.faces)} "
          f"collision; watertight {mesh.is_watertight}, inward {mesh.volume < 0}")
    r = compare_trees(tree, ph.tree, voxel_m=args.spacing_mm * 1e-3)
    print(f"centerline vs ground truth: median {r['centerline_median_vox']:.3f} voxel, p90 "
          f"{r['centerline_p90_vox']:.3f} voxel, radius error median "
          f"{100 * r['radius_rel_err_median']:.1f}% max {100 * r['radius_rel_err_max']:.1f}%, "
          f"branches detected {100 * r['branches_detected']:.1f}% "
          f"({r['n_matched']}/{len(ph.tree)}), topology match {r['topology_match']}")
    print(f"  bifurcations per generation: pred {r['bifurcations_per_generation_pred']}, "
          f"gt {r['bifurcations_per_generation_gt']}")
    distance_side_by_side(mask)


def distance_side_by_side(mask) -> None:
    """Centerline distance step vs the dense distance-map baseline, same crop, one process."""
    import numpy as np
    import SimpleITK as sitk

    from room.anatomy.centerline import _Distance
    from room.anatomy.mesh import crop_padded

    crop, _ = crop_padded(np.asarray(mask.array) > 0, 1)
    sp = mask.spacing[::-1].copy()
    t0 = time.perf_counter()
    img = sitk.GetImageFromArray((~crop).astype(np.uint8))
    img.SetSpacing(tuple(float(s) for s in sp[::-1]))
    sitk.SignedMaurerDistanceMap(img, insideIsPositive=False, squaredDistance=False,
                                 useImageSpacing=True)
    t_dense = time.perf_counter() - t0
    t0 = time.perf_counter()
    _Distance(crop, sp)
    t_kd = time.perf_counter() - t0
    print(f"\ndistance step on the {crop.shape} crop: dense Maurer map {1e3 * t_dense:.0f} ms, "
          f"KD-tree shell {1e3 * t_kd:.0f} ms, ratio {t_dense / t_kd:.1f}x")


if __name__ == "__main__":
    main()
