"""Evaluation of an extracted centerline tree against a ground-truth tree (the phantom's).

Used by the scene metadata (``centerline_vs_ground_truth``), the tests and the benchmark.
"""

from __future__ import annotations

import numpy as np

from room.anatomy.tree import NO_PARENT, Branch, CenterlineTree


def resample_polyline(pts: np.ndarray, step: float) -> np.ndarray:
    """Polyline resampled at equal arc-length steps (end points kept)."""
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] <= 0:
        return pts[[0, -1]]
    n = max(2, int(round(s[-1] / step)) + 1)
    t = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(t, s, pts[:, k]) for k in range(3)], axis=1)


def _densify(points: np.ndarray, step: float) -> np.ndarray:
    return resample_polyline(points, step) if len(points) > 1 else points


def _core(b: Branch, has_parent: bool, step: float) -> np.ndarray:
    """Dense samples of a branch without the ends that lie inside a bifurcation region (one
    local radius from a junction), where the centerline of a branching tube is ill-defined."""
    pts = _densify(b.points, step)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    r = float(np.median(b.radii))
    keep = np.ones(len(pts), bool)
    if has_parent:
        keep &= s >= r
    if b.children:
        keep &= s <= s[-1] - r
    return pts[keep] if keep.sum() >= 2 else pts[len(pts) // 2 : len(pts) // 2 + 1]


def compare_trees(pred: CenterlineTree, gt: CenterlineTree,
                  voxel_m: float | None = None) -> dict:
    """Branch-by-branch comparison of an extracted tree with the ground truth.

    Branches are matched one to one, greedily by the median distance from the ground-truth
    branch's core samples to the predicted polyline (a match needs a median below the ground
    truth radius). Returns a dict with:

    - ``centerline_median_m`` / ``centerline_p90_m`` (and ``_vox`` when ``voxel_m`` is given):
      distance from every core sample of a matched predicted branch to its ground-truth polyline;
    - ``radius_rel_err_median`` / ``radius_rel_err_max``: ``|r_pred - r_gt| / r_gt`` of the
      matched branches' representative radii (``Branch.radius_m``);
    - ``bifurcations_per_generation_pred`` / ``_gt`` and ``topology_match`` (equal counts);
    - ``branches_detected``: fraction of ground-truth branches matched; ``n_matched``;
    - ``matches``: list of (gt id, pred id).
    """
    from scipy.spatial import cKDTree

    step = 0.05 * min(float(np.median(b.radii)) for b in gt.branches.values())
    gt_dense = {b.id: cKDTree(_densify(b.points, step)) for b in gt}
    pr_dense = {b.id: cKDTree(_densify(b.points, step)) for b in pred}
    costs = []
    for g in gt:
        core = _core(g, g.parent != NO_PARENT, step)
        for p in pred:
            d = float(np.median(pr_dense[p.id].query(core)[0]))
            if d < g.radius_m:
                costs.append((d, g.id, p.id))
    matches, used_g, used_p = [], set(), set()
    for _, gid, pid in sorted(costs):
        if gid not in used_g and pid not in used_p:
            matches.append((gid, pid))
            used_g.add(gid)
            used_p.add(pid)
    dists, rel = [], []
    for gid, pid in matches:
        p = pred[pid]
        dists.append(gt_dense[gid].query(_core(p, p.parent != NO_PARENT, step))[0])
        rel.append(abs(p.radius_m - gt[gid].radius_m) / gt[gid].radius_m)
    d = np.concatenate(dists) if dists else np.array([np.inf])
    out = {
        "centerline_median_m": float(np.median(d)),
        "centerline_p90_m": float(np.percentile(d, 90)),
        "radius_rel_err_median": float(np.median(rel)) if rel else float("inf"),
        "radius_rel_err_max": float(np.max(rel)) if rel else float("inf"),
        "bifurcations_per_generation_pred": _bifurcations_per_generation(pred),
        "bifurcations_per_generation_gt": _bifurcations_per_generation(gt),
        "branches_detected": len(matches) / len(gt),
        "n_matched": len(matches),
        "matches": sorted(matches),
    }
    out["topology_match"] = (
        out["bifurcations_per_generation_pred"] == out["bifurcations_per_generation_gt"]
    )
    if voxel_m:
        out["centerline_median_vox"] = out["centerline_median_m"] / voxel_m
        out["centerline_p90_vox"] = out["centerline_p90_m"] / voxel_m
    return out


def _bifurcations_per_generation(tree: CenterlineTree) -> dict[int, int]:
    counts: dict[int, int] = {}
    for b in tree.branches.values():
        if b.children:
            counts[b.generation] = counts.get(b.generation, 0) + 1
    return dict(sorted(counts.items()))
