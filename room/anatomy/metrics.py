"""ATM'22-style airway segmentation measures against an exact ground-truth tree and lumen.

Definitions (all computed on the prediction's largest connected component, as in ATM'22):

- Tree length detected, TD = length of GT centerline inside the predicted mask / total GT
  centerline length. Each centerline sample (spacing <= 0.5 mm) is inside when its nearest voxel
  is predicted; samples are weighted by the arc length they represent.
- Branches detected, BD = fraction of GT branches with at least ``branch_fraction`` (80%) of
  their centerline length inside the predicted mask.
- False-positive fraction, FPF = predicted voxels outside the GT lumen dilated by one voxel
  (6-neighbourhood; forgives the one-voxel boundary ambiguity of partial volume) / predicted
  voxels. Per generation, predicted voxels within two voxels of the GT lumen are attributed to
  the generation of the nearest GT lumen voxel's branch (farther ones count only overall).
  ``fpr_atm`` is ATM'22's voxel FPR, FP / (FP + TN) over the whole volume.
- Leak: predicted voxels farther than ``leak_distance_m`` (2 mm) from the GT lumen. The result
  has ``leak = True`` when their volume exceeds ``leak_tolerance`` (1%) of the GT lumen volume;
  ``leak_parenchyma_m3`` counts those that lie in lung parenchyma when tissue classes are given.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from room.anatomy.tree import CenterlineTree
from room.anatomy.volume import Volume


@dataclass
class AirwayMetrics:
    td: float
    bd: float
    fpf: float
    fpr_atm: float
    dice: float
    leak: bool
    leak_m3: float
    leak_parenchyma_m3: float
    per_generation: dict[int, dict[str, float]] = field(default_factory=dict)
    branch_fraction_inside: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        """Human-readable per-generation table."""
        lines = ["gen  branches  BD%    TD%    FPF%"]
        for g, m in sorted(self.per_generation.items()):
            lines.append(f"{g:>3}  {int(m['branches']):>8}  {100 * m['bd']:5.1f}  "
                         f"{100 * m['td']:5.1f}  {100 * m['fpf']:5.2f}")
        lines.append(f"all  {len(self.branch_fraction_inside):>8}  {100 * self.bd:5.1f}  "
                     f"{100 * self.td:5.1f}  {100 * self.fpf:5.2f}   dice {self.dice:.3f}  "
                     f"leak {self.leak} ({self.leak_m3 * 1e6:.2f} mL)")
        return "\n".join(lines)


def _inside(mask: Volume, pts: np.ndarray) -> np.ndarray:
    idx = np.round(mask.world_to_index(pts)).astype(int)[:, ::-1]
    ok = np.all((idx >= 0) & (idx < np.array(mask.array.shape)), axis=1)
    out = np.zeros(len(pts), bool)
    out[ok] = mask.array[idx[ok, 0], idx[ok, 1], idx[ok, 2]]
    return out


def _weights(points: np.ndarray) -> np.ndarray:
    """Arc length represented by each polyline sample (half of each adjacent segment)."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    w = np.zeros(len(points))
    w[:-1] += seg / 2
    w[1:] += seg / 2
    return w


def _nearest_gt(gt: Volume, tree: CenterlineTree, query_zyx: np.ndarray, leak_m: float):
    """For voxels ``query_zyx``: distance to the nearest GT lumen voxel in index units (inf
    beyond 2 voxels) and in metres (inf beyond ``leak_m``), and the generation of that GT
    voxel's branch (nearest centerline sample; -1 for voxels farther than 2 voxels). The search
    radii are bounded so that big leaks are cheap to measure."""
    pts, _, ids = tree.all_points()
    gen_of = {b.id: b.generation for b in tree}
    gzyx = np.argwhere(gt.array)
    _, k = cKDTree(pts).query(gt.zyx_to_world(gzyx.astype(float)))
    ggen = np.array([gen_of[i] for i in ids])[k]
    d_idx, j = cKDTree(gzyx).query(query_zyx, distance_upper_bound=2.0)
    sp = gt.spacing[::-1]
    d_m = cKDTree(gzyx * sp).query(query_zyx * sp, distance_upper_bound=leak_m * 1.001)[0]
    gen = np.full(len(query_zyx), -1)
    ok = np.isfinite(d_idx)
    gen[ok] = ggen[j[ok]]
    return d_idx, d_m, gen


def airway_metrics(pred: Volume, gt: Volume, tree: CenterlineTree,
                   tissue: Volume | None = None, branch_fraction: float = 0.8,
                   leak_distance_m: float = 0.002, leak_tolerance: float = 0.01,
                   lung_label: int = 2) -> AirwayMetrics:
    """ATM'22-style measures of ``pred`` (bool Volume) against the GT ``tree`` and lumen ``gt``
    (bool Volume, same grid). ``tissue``: optional tissue classes (phantom) for the parenchyma
    leak count."""
    if pred.array.shape != gt.array.shape:
        raise ValueError(f"prediction shape {pred.array.shape} differs from GT {gt.array.shape}")
    p = pred.array.astype(bool)
    lab, n = ndimage.label(p)
    if n > 1:
        p = lab == (np.argmax(np.bincount(lab.ravel())[1:]) + 1)
    pm = pred.with_array(p)
    g = gt.array.astype(bool)
    # TD and BD
    frac, gen_len, gen_in, gen_bd, gen_n = {}, {}, {}, {}, {}
    for b in tree:
        w = _weights(b.points)
        ins = _inside(pm, b.points)
        frac[b.id] = float(w[ins].sum() / w.sum())
        gk = b.generation
        gen_len[gk] = gen_len.get(gk, 0.0) + w.sum()
        gen_in[gk] = gen_in.get(gk, 0.0) + w[ins].sum()
        gen_bd[gk] = gen_bd.get(gk, 0) + int(frac[b.id] >= branch_fraction)
        gen_n[gk] = gen_n.get(gk, 0) + 1
    # false positives (outside the GT lumen dilated by one voxel, i.e. farther than one voxel
    # step in index space), attributed to the generation of the nearest GT lumen voxel
    pz = np.argwhere(p)
    if len(pz):
        d_idx, d_m, pred_gen = _nearest_gt(gt, tree, pz, leak_distance_m)
    else:
        d_idx, d_m, pred_gen = np.zeros(0), np.zeros(0), np.zeros(0, int)
    fp_gen = d_idx > 1.0 + 1e-9
    per = {}
    for gk in sorted(gen_n):
        sel = pred_gen == gk
        per[gk] = {"branches": gen_n[gk], "bd": gen_bd[gk] / gen_n[gk],
                   "td": gen_in[gk] / gen_len[gk],
                   "fpf": float(fp_gen[sel].mean()) if sel.any() else 0.0}
    far = d_m > leak_distance_m
    vox = gt.voxel_volume_m3
    leak_m3 = float(far.sum() * vox)
    if tissue is not None and len(pz):
        fz = pz[far]
        leak_par = float((tissue.array[tuple(fz.T)] == lung_label).sum() * vox)
    else:
        leak_par = leak_m3
    n_fp = int(fp_gen.sum())
    inter = float((p & g).sum())
    return AirwayMetrics(
        td=float(sum(gen_in.values()) / sum(gen_len.values())),
        bd=float(sum(gen_bd.values()) / sum(gen_n.values())),
        fpf=float(n_fp / max(1, len(pz))),
        fpr_atm=float(n_fp / max(1, (~g).sum())),
        dice=2 * inter / max(1.0, float(p.sum() + g.sum())),
        leak=bool(leak_m3 > leak_tolerance * g.sum() * vox),
        leak_m3=leak_m3, leak_parenchyma_m3=leak_par, per_generation=per,
        branch_fraction_inside=frac)
