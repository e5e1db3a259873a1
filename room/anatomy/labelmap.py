"""External airway label maps: reading, and reducing a mask in pieces to one connected tree.

Public airway masks (an ATM'22 label, a TotalSegmentator ``lung_trachea_bronchia`` export, a
user's own segmentation) often come in many pieces: the tree that holds the trachea, distal
branches cut off by a one-voxel gap where the segmentation lost the thin wall, and speckle.
A scene needs one connected tree (one watertight surface, one centerline tree), so
:func:`keep_airway_tree` applies this rule:

1. **Pieces** are 6-connected components (face neighbours). Pieces that touch only along an
   edge or a corner are separate: meshing them as one makes a pinched, non-manifold surface.
2. **The kept tree** is the piece that holds the trachea, found as the CT segmentation finds it
   (:func:`room.anatomy.segment.find_trachea`: a large, round 2D cross-section near the
   left-right centre of the superior slices that persists over several slices), on the mask
   drawn as air in tissue. When no such cross-section exists (a mask without trachea), the
   largest piece is kept, and the report says so.
3. **Bridging**: a piece is reconnected only when the gap between it and the kept tree is small
   (empty space between the nearest voxels at most ``bridge_gap_vox`` voxels and
   ``bridge_gap_m``: a lost wall voxel or two, not a separate structure) AND it looks like a
   continuation of the tree across that gap: it is elongated (principal axis at least
   ``min_elongation`` times its second one; for a distal subtree: its part within four radii
   of the face it turns to the tree), it meets the tree with an end (its voxels
   nearest the tree span at most a quarter of its length along that axis and lie in its outer
   fifths) and its axis points at the gap
   (``|cos| >= min_alignment`` with the direction from the gap to its centroid); where the tree
   itself has a clear local course near the gap, the piece's axis is within 60 degrees of it
   (branching angles are 30-45 degrees). Speckle (fewer than ``min_piece_voxels``) is never
   bridged. A vessel or a parenchyma blob lying beside a wall is close too, but touches the
   tree with its side or is compact, and is dropped. The bridge is a
   morphological closing of tree + piece, restricted to the gap (voxels within the gap
   distance of both); if that does not connect them, the piece is dropped. Repeated until no
   piece is bridged (a chain of short pieces reconnects link by link).
4. **Everything else is dropped** and reported: number of pieces, volume (mL), largest dropped
   piece. Dropping more than ``warn_dropped_fraction`` of the mask, or a single piece above
   ``warn_piece_m3`` (a segmental bronchus is about 0.5 mL), is a warning recorded in
   ``scene.json``. When the kept tree holds less than ``min_kept_fraction`` of the mask the
   input is refused: a real airway mask is dominated by the tree that holds the trachea (the
   trachea and main bronchi alone are about half of a typical 50-100 mL mask), so a tree that
   keeps less than half means the wrong labels (lungs, vessels) or a mask so fragmented that the
   scene would miss most of the airways.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from room.anatomy.volume import Volume
from room.errors import ConfigError, InputFileError, SegmentationError

log = logging.getLogger(__name__)

_FACE = ndimage.generate_binary_structure(3, 1)


@dataclass(frozen=True)
class PiecesConfig:
    """How a label map in several pieces becomes one tree (see the module docstring)."""

    bridge_gap_vox: float = 2.0  # largest gap bridged, in voxels (smallest spacing) ...
    bridge_gap_m: float = 0.0015  # ... and in metres (both must hold)
    min_elongation: float = 1.5  # a bridged piece's 1st / 2nd principal axis length
    min_alignment: float = 0.7  # |cos| between the piece's axis and gap -> its centroid
    min_piece_voxels: int = 20  # smaller pieces are speckle: never bridged
    min_kept_fraction: float = 0.5  # refuse when the kept tree holds less of the mask
    warn_dropped_fraction: float = 0.05  # warn when more of the mask is dropped ...
    warn_piece_m3: float = 5.0e-7  # ... or a single dropped piece is larger (0.5 mL)

    def __post_init__(self) -> None:
        if self.bridge_gap_vox < 0 or self.bridge_gap_m < 0:
            raise ConfigError("scene.pieces: bridge_gap_vox and bridge_gap_m must be >= 0")
        for name in ("min_alignment", "min_kept_fraction", "warn_dropped_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"scene.pieces.{name} must lie in [0, 1]")
        if self.min_elongation < 1.0 or self.min_piece_voxels < 1:
            raise ConfigError("scene.pieces: min_elongation must be >= 1, min_piece_voxels >= 1")


# ---------------------------------------------------------------------------- reading


def read_label_map(path: str | Path, labels: list[int] | int | None = None) -> Volume:
    """Read an airway label map -> bool Volume (LPS, metres), in any format the CT loader reads
    (NIfTI, NRRD, MHA/MHD, a DICOM series folder). ``labels``: the label values that are
    airway (default: every non-zero voxel)."""
    import SimpleITK as sitk

    from room.anatomy import ct as ctmod

    path = Path(path).expanduser()
    if not path.exists():
        raise InputFileError(f"{path}: no such label map; pass an airway mask file (.nii.gz, "
                             f".nrrd, .mha) or a DICOM folder")
    try:
        if path.is_dir():
            img, _ = ctmod._read_dicom_series(path, None)
        else:
            img, _ = ctmod._read_file(path)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise InputFileError(f"{path}: cannot read the label map ({first}); check that it is a "
                             f"complete NIfTI/NRRD/MHA file") from e
    if img.GetDimension() != 3 or img.GetNumberOfComponentsPerPixel() != 1:
        raise InputFileError(f"{path}: a label map must be one 3D scalar volume")
    ctmod.check_spacing(np.array(img.GetSpacing()) * 1e-3, f"{path}: spacing")
    img = sitk.DICOMOrient(img, "LPS")
    vol = Volume.from_sitk(img, source=str(path))
    arr = vol.array
    if arr.dtype.kind == "f" and not np.allclose(arr, np.round(arr)):
        raise InputFileError(f"{path}: non-integer values; this looks like an image, not a "
                             f"label map")
    if labels is None or (not np.isscalar(labels) and len(labels) == 0):
        mask = arr != 0
        labels = None
    else:
        wanted = [labels] if np.isscalar(labels) else list(labels)
        mask = np.isin(arr, wanted)
    if not mask.any():
        present = np.unique(arr)[:20].tolist()
        raise SegmentationError(f"{path}: the label map is empty: no voxel carries label(s) "
                                f"{labels or 'non-zero'}; labels present: {present}")
    return vol.with_array(mask, labels=labels)


def pseudo_ct(mask: Volume) -> Volume:
    """The mask drawn as a CT: air (-1000 HU) in the lumen, soft tissue (40 HU) elsewhere (for
    trachea detection and the preview when there is no CT)."""
    return mask.with_array(np.where(mask.array, np.float32(-1000), np.float32(40)))


# ---------------------------------------------------------------------------- pieces


def _trachea_label(mask: Volume, lab: np.ndarray, sizes: np.ndarray) -> tuple[int, str]:
    from room.anatomy.segment import SegmentConfig, find_trachea

    try:
        seed = find_trachea(pseudo_ct(mask), SegmentConfig())
        k = int(lab[tuple(seed)])
        if k > 0:
            return k, "trachea"
    except SegmentationError:
        pass
    return int(np.argmax(sizes[1:]) + 1), "largest piece (no trachea cross-section found)"


def _axis(coords: np.ndarray, spacing_zyx: np.ndarray) -> tuple[np.ndarray, float]:
    """Principal axis (unit, zyx metres) and elongation (1st / 2nd axis length)."""
    p = coords * spacing_zyx
    p = p - p.mean(axis=0)
    w, v = np.linalg.eigh(np.cov(p.T) + 1e-18 * np.eye(3))
    return v[:, -1], float(np.sqrt(w[-1] / max(w[-2], 1e-18)))


def _try_bridge(kept: np.ndarray, piece: np.ndarray, dist_kept: np.ndarray, gap_limit: float,
                spacing_zyx: np.ndarray, cfg: PiecesConfig) -> tuple[np.ndarray | None, str]:
    """Bridge voxels connecting ``piece`` to ``kept`` (bool arrays, same shape), or None and
    why not."""
    pc = np.argwhere(piece)
    d = dist_kept[tuple(pc.T)]
    gap_idx = pc[int(np.argmin(d))]
    # judge the piece's part near the tree (a distal subtree has no single axis): within four
    # radii of the face it turns towards the tree (radius from the face's area)
    face = d <= d.min() + spacing_zyx.max()
    r_face = np.sqrt(face.sum() * spacing_zyx.min() ** 2 / np.pi)
    centre = (pc[face] * spacing_zyx).mean(axis=0)
    local = np.linalg.norm(pc * spacing_zyx - centre, axis=1) <= max(4 * r_face,
                                                                      5 * spacing_zyx.max())
    pc, d = pc[local], d[local]
    axis, elong = _axis(pc, spacing_zyx)
    if elong < cfg.min_elongation:
        return None, "compact, not a branch"
    p = pc * spacing_zyx
    t = p @ axis
    length = max(float(t.max() - t.min()), 1e-12)
    contact = t[d <= d.min() + spacing_zyx.max()]  # the piece's face towards the tree
    where = (np.array([contact.min(), contact.max()]) - t.min()) / length
    if where[1] - where[0] > 0.25 or 0.2 < where.mean() < 0.8:
        return None, "touches the tree with its side, not its end"
    ahead = p.mean(axis=0) - gap_idx * spacing_zyx  # from the gap to the piece's centroid
    if abs(axis @ ahead) < cfg.min_alignment * max(float(np.linalg.norm(ahead)), 1e-12):
        return None, "does not point at the tree"
    # the tree's local course where the piece meets it (tree voxels within two piece radii of
    # the centre of the facing tree surface), when it has a clear one
    lo_p, hi_p = pc.min(axis=0), pc.max(axis=0) + 1
    r_piece = float(ndimage.distance_transform_edt(
        np.pad(piece[tuple(slice(a, b) for a, b in zip(lo_p, hi_p, strict=True))], 1),
        sampling=spacing_zyx).max())
    reach0 = float(d.min()) + spacing_zyx.max()
    r = np.ceil((2 * r_piece + reach0) / spacing_zyx).astype(int) + 1
    lo = np.maximum(gap_idx - r, 0)
    hi = np.minimum(gap_idx + r + 1, kept.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    dpiece = ndimage.distance_transform_edt(~piece[box], sampling=spacing_zyx)
    face = np.argwhere(kept[box] & (dpiece <= reach0 + spacing_zyx.max()))
    if len(face):
        c = face.mean(axis=0) * spacing_zyx
        near = np.argwhere(kept[box]) * spacing_zyx
        near = near[np.linalg.norm(near - c, axis=1) <= 2 * r_piece]
        if len(near) >= 10:
            kaxis, kel = _axis(near / spacing_zyx, spacing_zyx)
            if kel >= cfg.min_elongation and abs(kaxis @ axis) < 0.5:
                return None, "crosses the tree's course"
    # closing of tree + piece, restricted to the gap (within the gap distance of both)
    reach = gap_limit + spacing_zyx.max()
    margin = int(np.ceil(reach / spacing_zyx.min())) + 2
    box_lo = np.maximum(pc.min(axis=0) - margin, 0)
    box_hi = np.minimum(pc.max(axis=0) + margin + 1, kept.shape)
    box = tuple(slice(a, b) for a, b in zip(box_lo, box_hi, strict=True))
    k, p = kept[box], piece[box]
    dist_piece = ndimage.distance_transform_edt(~p, sampling=spacing_zyx)
    gap = (dist_kept[box] <= reach) & (dist_piece <= reach) & ~k & ~p
    it = max(1, int(np.ceil((gap_limit / spacing_zyx.min() + 1) / 2)))
    closed = ndimage.binary_closing(np.pad(k | p, it + 1), _FACE, iterations=it)
    closed = closed[tuple(slice(it + 1, -(it + 1)) for _ in range(3))]
    add = closed & gap
    joined, _ = ndimage.label(k | p | add, _FACE)
    kv = joined[k]
    pv = joined[p]
    if not (len(kv) and len(pv) and np.intersect1d(np.unique(kv), np.unique(pv)).size):
        return None, "closing did not connect it"
    out = np.zeros_like(kept)
    out[box] = add
    return out, "bridged"


def keep_airway_tree(mask: Volume, cfg: PiecesConfig | None = None
                     ) -> tuple[Volume, dict[str, Any]]:
    """One connected airway tree from a mask in pieces (see the module docstring) and a report:
    pieces found, bridged and dropped, volumes in mL, the largest dropped piece, warnings.

    Raises SegmentationError when the kept tree holds less than ``min_kept_fraction`` of the
    mask."""
    cfg = cfg or PiecesConfig()
    arr = np.asarray(mask.array).astype(bool)
    vox_ml = mask.voxel_volume_m3 * 1e6
    spacing_zyx = np.asarray(mask.spacing[::-1], float)
    lab, n = ndimage.label(arr, _FACE)
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    total = int(sizes[1:].sum())
    report: dict[str, Any] = {"pieces": int(n), "mask_ml": total * vox_ml, "warnings": []}
    if n <= 1:
        report.update(kept_ml=total * vox_ml, kept_fraction=1.0, root="single piece",
                      bridged_pieces=0, bridge_ml=0.0, dropped_pieces=0, dropped_ml=0.0,
                      largest_dropped_ml=0.0)
        return mask.with_array(arr), report
    root, how = _trachea_label(mask, lab, sizes)
    # work on the mask's bounding box (a label map is mostly background)
    from room.anatomy.mesh import bounding_box

    blo, bhi = bounding_box(arr)
    bb = tuple(slice(a, b) for a, b in zip(blo, bhi, strict=True))
    lab = lab[bb]
    kept = lab == root
    gap_limit = min(cfg.bridge_gap_vox * spacing_zyx.min(), cfg.bridge_gap_m)
    candidates = [k for k in range(1, n + 1) if k != root]
    bridged, bridge_vox, reasons = [], 0, {}
    changed = True
    while changed and candidates:
        changed = False
        dist_kept = ndimage.distance_transform_edt(~kept, sampling=spacing_zyx)
        # empty space between the nearest voxels: centre distance less one voxel
        gaps = np.asarray(ndimage.minimum(dist_kept, lab, candidates)) - spacing_zyx.min()
        for k, d in zip(list(candidates), gaps, strict=True):
            if d > gap_limit + 1e-9:
                continue
            if sizes[k] < cfg.min_piece_voxels:
                reasons[k] = "speckle"
                continue
            piece = lab == k
            add, why = _try_bridge(kept, piece, dist_kept, gap_limit, spacing_zyx, cfg)
            reasons[k] = why
            if add is None:
                continue
            kept |= piece | add
            bridge_vox += int(add.sum())
            bridged.append(k)
            candidates.remove(k)
            changed = True
        # distances change once something was bridged: recompute before the next pass
    dropped = np.array([sizes[k] for k in candidates], int)
    kept_n = int(kept.sum())
    report.update(
        root=how, kept_ml=kept_n * vox_ml, kept_fraction=kept_n / max(total, 1),
        bridged_pieces=len(bridged), bridge_ml=bridge_vox * vox_ml,
        bridged_ml=float(sum(sizes[k] for k in bridged)) * vox_ml,
        dropped_pieces=len(candidates), dropped_ml=float(dropped.sum()) * vox_ml,
        largest_dropped_ml=float(dropped.max() if len(dropped) else 0) * vox_ml,
        near_pieces_not_bridged={why: sum(1 for r in reasons.values() if r == why)
                                 for why in sorted(set(reasons.values()) - {"bridged"})},
    )
    log.info("label map: %d pieces (%.1f mL); kept the %s (%.1f mL), bridged %d piece(s) "
             "(%.2f mL) across gaps <= %.1f mm, dropped %d piece(s), %.2f mL (largest %.2f mL)",
             n, report["mask_ml"], how, report["kept_ml"], len(bridged), report["bridged_ml"],
             gap_limit * 1e3, len(candidates), report["dropped_ml"],
             report["largest_dropped_ml"])
    share = report["dropped_ml"] / max(report["mask_ml"], 1e-12)
    if share > cfg.warn_dropped_fraction or \
            report["largest_dropped_ml"] > cfg.warn_piece_m3 * 1e6:
        msg = (f"the label map is in {n} pieces: {len(candidates)} piece(s) not connected to the "
               f"airway tree were DROPPED, {report['dropped_ml']:.1f} of "
               f"{report['mask_ml']:.1f} mL ({100 * share:.0f}%), the largest "
               f"{report['largest_dropped_ml']:.2f} mL; the scene holds "
               f"{report['kept_ml']:.1f} mL")
        log.warning(msg)
        report["warnings"].append(msg)
    if report["kept_fraction"] < cfg.min_kept_fraction:
        raise SegmentationError(
            f"the label map is in {n} pieces and the airway tree ({how}) holds only "
            f"{report['kept_ml']:.1f} of {report['mask_ml']:.1f} mL "
            f"({100 * report['kept_fraction']:.0f}% < "
            f"{100 * cfg.min_kept_fraction:.0f}%): the labels probably include other structures "
            f"or the mask is too fragmented for a scene. Choose the airway labels (labels=[...]), "
            f"repair the mask, or accept the loss with scene.pieces.min_kept_fraction=0")
    out = np.zeros_like(arr)
    out[bb] = kept
    return mask.with_array(out, pieces=report), report


def import_label_map(path: str | Path, labels: list[int] | int | None = None,
                     reference: Volume | None = None) -> Volume:
    """Read an external airway label map (TotalSegmentator ``lung_trachea_bronchia``, ATM'22
    labels, ...) -> bool Volume in LPS metres (:func:`read_label_map`).
    ``labels``: label values that are airway (default: every non-zero voxel). ``reference``: CT
    whose geometry the mask must match."""
    vol = read_label_map(path, labels)
    arr = vol.array
    if reference is not None:
        same = (arr.shape == reference.array.shape
                and np.allclose(vol.spacing, reference.spacing, rtol=1e-4)
                and np.allclose(vol.origin, reference.origin, atol=1e-5)
                and np.allclose(vol.direction, reference.direction, atol=1e-4))
        if not same:
            raise InputFileError(
                f"{path}: label map geometry (shape {arr.shape[::-1]}, spacing "
                f"{np.round(vol.spacing * 1e3, 3).tolist()} mm, origin "
                f"{np.round(vol.origin * 1e3, 1).tolist()} mm) differs from the CT's (shape "
                f"{reference.array.shape[::-1]}, spacing "
                f"{np.round(reference.spacing * 1e3, 3).tolist()} mm, origin "
                f"{np.round(reference.origin * 1e3, 1).tolist()} mm); pass the mask made from "
                f"this CT")
    return vol
