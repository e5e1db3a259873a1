"""Airway lumen segmentation from a CT in HU: automatic trachea detection, region growing with
leak control, topology cleanup; import of external label maps.

Method (explosion-controlled adaptive threshold with component-wise leak rejection):

1. Smooth the CT slightly (Gaussian, ``smoothing_sigma_m``) to suppress scanner noise.
2. Find the trachea automatically (or take a manual seed point in world metres): the first
   large, round, air-filled 2D component near the left-right centre of the superior axial
   slices, not touching the slice border (outside air does), present over several slices.
3. Grow from the seed with a 6-connected flood fill below a threshold, starting low
   (``start_hu``, only clear air) and raising it by ``step_hu``. At each step the newly reached
   voxels are split into connected components; a component larger than
   ``max(leak_min_m3, leak_fraction * current airway volume)`` is a leak (lumen air spilling into
   parenchyma through a thin or blurred wall): it is rejected and its voxels are barred from
   later steps, and nothing else new in that step is accepted (small parenchyma clusters next
   to walls appear at the same threshold). In leak-free steps a new component is accepted when
   it holds clear air (a distal airway segment that opens up at the higher threshold) or mostly
   hugs the accepted airway (the partial-volume shell at the wall); blobs of near-threshold
   voxels hanging off a wall (parenchyma clusters) are held back. When the rejected volume in
   one step (or all new voxels of a step, found without labelling them) exceeds
   ``stop_leak_ratio`` times the airway volume, the threshold has reached the parenchyma and
   growing stops.
4. Boundary refinement: the growing threshold lies well inside the blurred lumen edge; the mask
   grows by up to ``refine_iterations`` voxels into voxels darker than half-way between lumen
   air and the local wall peak (half maximum), where the wall really is.
5. Cleanup: a small morphological closing and 3D hole filling (the mask is one connected
   component by construction).

Errors (:class:`SegmentationError`): no trachea in the field of view, an empty result, or a
result beyond a sane airway volume (an explosion already at the lowest threshold).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from room.anatomy.volume import Volume
from room.errors import ConfigError, SegmentationError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentConfig:
    """Segmentation settings (HU, metres)."""

    smoothing_sigma_m: float = 0.0005  # Gaussian pre-smoothing; 0 disables
    # trachea detection
    trachea_hu: float = -900.0  # air threshold for finding the trachea in axial slices
    trachea_search_m: float = 0.06  # how far below the top of the volume to look
    trachea_diameter_m: tuple[float, float] = (0.007, 0.030)  # plausible lumen diameters
    trachea_min_roundness: float = 0.55  # minor / major axis of the 2D component
    trachea_min_solidity: float = 0.85
    trachea_max_offcentre: float = 0.3  # |x - body centre| / volume width
    trachea_min_extent_m: float = 0.008  # the candidate must persist this far down
    # region growing
    start_hu: float = -960.0
    max_hu: float = -750.0
    step_hu: float = 10.0
    leak_fraction: float = 0.25  # a new component above this fraction of the airway is a leak
    leak_min_m3: float = 5.0e-6  # ... and above this volume (5 mL; a lobar bronchus is ~2 mL)
    stop_leak_ratio: float = 1.0  # stop when one step's rejected volume exceeds this x airway
    leak_barrier_m: float = 0.002  # a rejected leak, grown by this, is barred from later steps
    clear_air_margin_hu: float = 50.0  # a new component this far below the threshold is airway
    shell_fraction: float = 0.5  # ... or one with this fraction of voxels touching the airway
    # sanity
    min_airway_m3: float = 2.0e-6  # 2 mL: less is not an airway tree (trachea alone ~30 mL)
    max_airway_m3: float = 6.0e-4  # 600 mL: more is an explosion into lung or outside air
    # partial-volume boundary refinement: grow the mask by up to this many voxels into voxels
    # darker than half-way between the lumen air and the local wall peak (half maximum)
    refine_iterations: int = 2
    refine_window_m: float = 0.003  # neighbourhood for the local wall peak
    # cleanup
    closing_radius_vox: int = 1
    fill_holes: bool = True

    def validate(self) -> None:
        if not self.start_hu < self.max_hu or self.step_hu <= 0:
            raise ConfigError(f"segment: need start_hu < max_hu and step_hu > 0, got "
                              f"{self.start_hu}, {self.max_hu}, {self.step_hu}")
        if not 0 < self.min_airway_m3 < self.max_airway_m3:
            raise ConfigError("segment: need 0 < min_airway_m3 < max_airway_m3")
        if self.smoothing_sigma_m < 0 or self.closing_radius_vox < 0:
            raise ConfigError("segment: smoothing_sigma_m and closing_radius_vox must be >= 0")


# ---------------------------------------------------------------- trachea


def _superior_first(vol: Volume) -> bool:
    """True when array index z = 0 is the most superior slice (world +z is superior in LPS)."""
    return float(vol.direction[2, 2]) < 0


def _slice_candidates(sl: np.ndarray, cfg: SegmentConfig, px_mm2: float) -> list[np.ndarray]:
    """Masks of round, air-filled, trachea-sized 2D components that do not touch the slice
    border (outside air and cut lungs do), nearest to the left-right body centre first."""
    from skimage.measure import regionprops

    lab, n = ndimage.label(sl < cfg.trachea_hu)
    if n == 0:
        return []
    tissue = sl > -500
    cx = np.mean(np.nonzero(tissue.any(axis=0))[0]) if tissue.any() else sl.shape[1] / 2
    dmin, dmax = (d * 1e3 for d in cfg.trachea_diameter_m)
    amin, amax = np.pi * (dmin / 2) ** 2 / px_mm2, np.pi * (dmax / 2) ** 2 / px_mm2
    out = []
    for rp in regionprops(lab):
        if not amin <= rp.area <= amax:
            continue
        y0, x0, y1, x1 = rp.bbox
        if y0 == 0 or x0 == 0 or y1 == sl.shape[0] or x1 == sl.shape[1]:
            continue
        if rp.axis_major_length <= 0 or rp.solidity < cfg.trachea_min_solidity or \
                rp.axis_minor_length / rp.axis_major_length < cfg.trachea_min_roundness:
            continue
        off = abs(rp.centroid[1] - cx) / sl.shape[1]
        if off <= cfg.trachea_max_offcentre:
            out.append((off, rp.label))
    return [lab == lbl for _, lbl in sorted(out)]


def find_trachea(ct: Volume, cfg: SegmentConfig | None = None,
                 smoothed: np.ndarray | None = None) -> np.ndarray:
    """Seed voxel (z, y, x) inside the trachea lumen, found automatically in the superior
    slices: a trachea candidate (see :func:`_slice_candidates`) that continues, overlapping,
    through ``trachea_min_extent_m`` of slices below it. Raises SegmentationError when there is
    no trachea in the field of view."""
    cfg = cfg or SegmentConfig()
    a = ct.array if smoothed is None else smoothed
    sx, sy, sz = ct.spacing
    order = list(range(a.shape[0]) if _superior_first(ct) else range(a.shape[0] - 1, -1, -1))
    order = order[: max(3, int(round(cfg.trachea_search_m / sz)))]
    persist = max(2, int(np.ceil(cfg.trachea_min_extent_m / sz)))
    cache: dict[int, list[np.ndarray]] = {}

    def cands(z: int) -> list[np.ndarray]:
        if z not in cache:
            cache[z] = _slice_candidates(a[z], cfg, sx * sy * 1e6)
        return cache[z]

    for i in range(len(order) - persist + 1):
        for comp in cands(order[i]):
            chain = [comp]
            for z2 in order[i + 1: i + persist]:
                nxt = [c for c in cands(z2) if (c & chain[-1]).any()]
                if not nxt:
                    break
                chain.append(nxt[0])
            if len(chain) < persist:
                continue
            k = len(chain) // 2
            ys, xs = np.nonzero(chain[k])
            j = int(np.argmin(a[order[i + k]][ys, xs]))  # darkest voxel: surely in the lumen
            return np.array([order[i + k], ys[j], xs[j]])
    raise SegmentationError(
        f"no trachea found in the top {cfg.trachea_search_m * 1e3:.0f} mm of the CT (no round, "
        f"air-filled structure of {cfg.trachea_diameter_m[0] * 1e3:.0f}-"
        f"{cfg.trachea_diameter_m[1] * 1e3:.0f} mm near the centre): is this a chest CT with the "
        f"trachea in the field of view? Otherwise pass a seed point inside the trachea")


def _seed_from_point(ct: Volume, sm: np.ndarray, point_m, cfg: SegmentConfig) -> np.ndarray:
    ijk = np.round(ct.world_to_index(np.asarray(point_m, float).reshape(1, 3))[0]).astype(int)
    zyx = ijk[::-1]
    if np.any(zyx < 0) or np.any(zyx >= np.array(sm.shape)):
        raise SegmentationError(f"seed point {np.asarray(point_m).tolist()} m lies outside the "
                                f"CT volume; pass a point inside the trachea (world LPS metres)")
    r = 3
    sl = tuple(slice(max(0, c - r), c + r + 1) for c in zyx)
    k = np.unravel_index(np.argmin(sm[sl]), sm[sl].shape)
    best = np.array([s.start for s in sl]) + np.array(k)
    if sm[tuple(best)] >= cfg.start_hu:
        raise SegmentationError(f"seed point {np.asarray(point_m).tolist()} m is not in air "
                                f"({sm[tuple(best)]:.0f} HU near it); pass a point inside the "
                                f"trachea lumen")
    return best


# ---------------------------------------------------------------- growing


class _Flooder:
    """6-connected flood fill from a seed below a threshold, on a crop of the volume that grows
    only when the region reaches its border (most steps touch a small part of a big CT)."""

    def __init__(self, work: np.ndarray, seed, pad: int = 12):
        self.work, self.seed, self.pad = work, np.asarray(seed), pad
        self.box = tuple(slice(0, n) for n in work.shape)
        self._img = None

    def shrink(self, region: np.ndarray) -> None:
        """Crop to the region's bounding box plus ``pad`` (region given within the box)."""
        ext = _bbox(region, pad=self.pad)
        self.box = tuple(slice(b.start + e.start, min(n, b.start + e.stop)) for b, e, n in
                         zip(self.box, ext, self.work.shape, strict=True))
        self.invalidate()

    def _image(self):
        import SimpleITK as sitk

        if self._img is None:
            self._img = sitk.GetImageFromArray(np.ascontiguousarray(self.work[self.box]))
        return self._img

    def invalidate(self) -> None:
        self._img = None

    def __call__(self, upper: float, max_voxels: float = np.inf
                 ) -> tuple[tuple[slice, ...], np.ndarray, bool]:
        """(crop box, region mask within the box, exploded). ``exploded``: the region has
        more than ``max_voxels`` voxels already within the crop (the crop is then left as is:
        growing it further would only measure the size of the explosion)."""
        import SimpleITK as sitk

        while True:
            start = np.array([b.start for b in self.box])
            seed = tuple(int(v) for v in (self.seed - start)[::-1])
            out = sitk.ConnectedThreshold(
                self._image(), seedList=[seed], lower=-1.0e9, upper=float(upper),
                replaceValue=1, connectivity=sitk.ConnectedThresholdImageFilter.FaceConnectivity)
            region = sitk.GetArrayFromImage(out).view(bool)
            if np.count_nonzero(region) > max_voxels:
                return self.box, region, True
            grow = []
            for ax, (b, n) in enumerate(zip(self.box, self.work.shape, strict=True)):
                lo_hit = b.start > 0 and region.take(0, axis=ax).any()
                hi_hit = b.stop < n and region.take(-1, axis=ax).any()
                grow.append((lo_hit, hi_hit))
            if not any(lo or hi for lo, hi in grow):
                return self.box, region, False
            # enlarge the crop to the region's extent plus a generous margin, and redo
            ext = _bbox(region, pad=0)
            new = []
            for ax, (b, n) in enumerate(zip(self.box, self.work.shape, strict=True)):
                size = b.stop - b.start
                lo = b.start + ext[ax].start - (max(self.pad, size // 2) if grow[ax][0] else 0)
                hi = b.start + ext[ax].stop + (max(self.pad, size // 2) if grow[ax][1] else 0)
                new.append(slice(max(0, min(lo, b.start)), min(n, max(hi, b.stop))))
            self.box = tuple(new)
            self.invalidate()


def _bbox(mask: np.ndarray, pad: int = 1) -> tuple[slice, ...]:
    out = []
    for ax in range(3):
        idx = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != ax)))
        out.append(slice(max(0, idx[0] - pad), min(mask.shape[ax], idx[-1] + pad + 1)))
    return tuple(out)


_FACES = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])


def _components(coords: np.ndarray, shape) -> tuple[np.ndarray, int]:
    """6-connected components of a sparse voxel set (k, 3) -> (label per voxel, count).
    Cost grows with k, not with the volume: most threshold steps add few voxels."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    lin = np.ravel_multi_index(coords.T, shape)
    order = np.argsort(lin)
    srt = lin[order]
    rows, cols = [], []
    for f in _FACES[::2]:  # +z, +y, +x neighbours
        nb = coords + f
        inside = np.all(nb < np.array(shape), axis=1)
        idx = np.flatnonzero(inside)
        nl = np.ravel_multi_index(nb[idx].T, shape)
        pos = np.minimum(np.searchsorted(srt, nl), len(srt) - 1)
        hit = srt[pos] == nl
        rows.append(idx[hit])
        cols.append(order[pos[hit]])
    r, c = np.concatenate(rows), np.concatenate(cols)
    g = coo_matrix((np.ones(len(r), np.int8), (r, c)), shape=(len(lin), len(lin)))
    n, lab = connected_components(g, directed=False)
    return lab, n


def _bar(work, accepted, coords: np.ndarray, spacing_zyx, margin_m: float) -> None:
    """Bar a rejected leak (voxel coordinates), grown by ``margin_m``, from later steps (never
    the airway itself): the parenchyma just beyond a leak is as suspect as the leak."""
    r = np.maximum(0, np.round(margin_m / np.asarray(spacing_zyx)).astype(int))
    lo = np.maximum(coords.min(axis=0) - r, 0)
    hi = np.minimum(coords.max(axis=0) + r + 1, np.array(work.shape))
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    big = np.zeros(hi - lo, bool)
    big[tuple((coords - lo).T)] = True
    if r.max() > 0:
        big = ndimage.binary_dilation(big, ndimage.generate_binary_structure(3, 1),
                                      iterations=int(r.max()))
    big &= ~accepted[box]
    work[box][big] = np.float32(1e4)


def _airway_like(coords, lab, n, sizes, work, accepted, t: float,
                 cfg: SegmentConfig) -> np.ndarray:
    """Per component (index = label): accept it when it holds clear air, some voxel at least
    ``clear_air_margin_hu`` below the threshold ``t`` (a newly connected airway segment has a
    dark lumen; parenchyma is brighter) or mostly hugs the airway already accepted (the partial-
    volume shell at the wall). Held back: blobs of near-threshold voxels hanging off the wall,
    i.e. parenchyma clusters; they are looked at again at the next threshold."""
    darkest = np.full(n, np.inf, np.float32)
    np.minimum.at(darkest, lab, work[tuple(coords.T)])
    shape = np.array(accepted.shape)
    touch = np.zeros(len(coords), bool)
    for f in _FACES:
        nb = np.clip(coords + f, 0, shape - 1)
        touch |= accepted[tuple(nb.T)]
    hug = np.bincount(lab[touch], minlength=n) / np.maximum(sizes, 1)
    return (darkest < t - cfg.clear_air_margin_hu) | (hug >= cfg.shell_fraction)


def _grow(sm: np.ndarray, seed, cfg: SegmentConfig, vox_m3: float, spacing_zyx):
    """Adaptive-threshold growing with component-wise leak rejection (see module docstring).
    Returns (mask, last leak-free threshold, history [(threshold, airway voxels, leaked)])."""
    work = sm.copy()
    flood = _Flooder(work, seed)
    accepted = np.zeros(sm.shape, bool)
    box, region, _ = flood(cfg.start_hu)
    accepted[box] = region
    flood.shrink(region)
    n_acc = int(np.count_nonzero(region))
    history = [(cfg.start_hu, n_acc, 0)]
    if n_acc * vox_m3 > cfg.max_airway_m3:
        raise SegmentationError(
            f"the airway region exploded already at {cfg.start_hu:.0f} HU "
            f"({n_acc * vox_m3 * 1e6:.0f} mL > {cfg.max_airway_m3 * 1e6:.0f} mL): the "
            f"trachea seems connected to outside air or the intensities are not HU; check the CT")
    last_safe = cfg.start_hu
    for t in np.arange(cfg.start_hu + cfg.step_hu, cfg.max_hu + 1e-6, cfg.step_hu):
        box, region, exploded = flood(t, max_voxels=(1 + cfg.stop_leak_ratio) * n_acc)
        if exploded:  # more new voxels in one step than stop_leak_ratio x airway: parenchyma
            leaked = int(np.count_nonzero(region)) - n_acc
            history.append((float(t), n_acc, leaked))
            log.info("segment: explosion of >%.1f mL at %.0f HU: stop", leaked * vox_m3 * 1e6, t)
            break
        new = region & ~accepted[box]
        idx = np.flatnonzero(new)  # 1D scan, then unravel only the (few) new voxels
        coords = np.stack(np.unravel_index(idx, new.shape), axis=1)
        if len(coords) == 0:
            history.append((float(t), n_acc, 0))
            last_safe = float(t)
            continue
        coords += np.array([b.start for b in box])
        lab, n = _components(coords, sm.shape)
        sizes = np.bincount(lab, minlength=n)
        is_leak = sizes > max(cfg.leak_min_m3 / vox_m3, cfg.leak_fraction * n_acc)
        leaked = int(sizes[is_leak].sum())
        if leaked:
            # a leak step: the threshold reached parenchyma somewhere, so the small components
            # of this step are suspect too: accept none of them, bar the leak, maybe stop
            history.append((float(t), n_acc, leaked))
            log.info("segment: leak of %.1f mL rejected at %.0f HU", leaked * vox_m3 * 1e6, t)
            if leaked > cfg.stop_leak_ratio * n_acc:
                break
            _bar(work, accepted, coords[is_leak[lab]], spacing_zyx, cfg.leak_barrier_m)
            flood.invalidate()
            continue
        ok = _airway_like(coords, lab, n, sizes, work, accepted, float(t), cfg)
        accepted[tuple(coords[ok[lab]].T)] = True
        n_acc += int(sizes[ok].sum())
        history.append((float(t), n_acc, 0))
        last_safe = float(t)
    return accepted, last_safe, history


def _refine_boundary(mask: np.ndarray, sm: np.ndarray, spacing_zyx, cfg: SegmentConfig):
    """Move the boundary from the growing threshold (well inside the blurred edge) to the
    half-maximum level between lumen air and the local wall peak, where the true wall is.
    Sparse: only the one-voxel ring around the mask is examined, per iteration."""
    if cfg.refine_iterations <= 0 or not mask.any():
        return mask
    bb = _bbox(mask, pad=cfg.refine_iterations + 1)
    m, sm = mask[bb].copy(), sm[bb]
    shape = np.array(m.shape)
    air = float(np.median(sm[m]))
    half = np.maximum(1, np.round(cfg.refine_window_m / 2 / np.asarray(spacing_zyx)).astype(int))
    win = np.stack(np.meshgrid(*[np.arange(-h, h + 1) for h in half], indexing="ij"),
                   axis=-1).reshape(-1, 3)
    for _ in range(cfg.refine_iterations):
        zyx = np.argwhere(m)
        # the boundary voxels' face neighbours outside the mask
        edge = zyx[~np.all([m[tuple(np.clip(zyx + f, 0, shape - 1).T)] for f in _FACES],
                           axis=0)]
        cand = (edge[:, None, :] + _FACES[None]).reshape(-1, 3)
        cand = cand[np.all((cand >= 0) & (cand < shape), axis=1)]
        cand = np.unique(np.ravel_multi_index(cand.T, m.shape))
        cand = cand[~m.ravel()[cand]]
        if len(cand) == 0:
            break
        c = np.stack(np.unravel_index(cand, m.shape), axis=1)
        peak = np.full(len(c), -np.inf, np.float32)
        for off in win:  # local wall peak around each candidate
            q = np.clip(c + off, 0, shape - 1)
            np.maximum(peak, sm[tuple(q.T)], out=peak)
        add = sm[tuple(c.T)] < 0.5 * (air + peak)
        if not add.any():
            break
        m[tuple(c[add].T)] = True
    out = mask.copy()
    out[bb] = m
    return out


def _cleanup(mask: np.ndarray, cfg: SegmentConfig) -> np.ndarray:
    """Small closing and 3D hole filling (cavities not reaching the crop border), on the mask's
    bounding box."""
    bb = _bbox(mask, pad=cfg.closing_radius_vox + 2)
    m = mask[bb]
    # the grown mask is one 6-connected component by construction (a flood from one seed plus
    # face-adjacent refinement), so the largest-component step needs no labelling here
    if cfg.closing_radius_vox > 0:
        ball = ndimage.generate_binary_structure(3, 1)
        m = ndimage.binary_closing(m, ball, iterations=cfg.closing_radius_vox) | m
    if cfg.fill_holes:
        lab, n = ndimage.label(~m)
        hole = np.ones(n + 1, bool)
        hole[0] = False
        for ax in range(3):
            for i in (0, -1):
                hole[lab.take(i, axis=ax)] = False  # touches the crop border: not a cavity
        m = m | hole[lab]
    out = np.zeros_like(mask)
    out[bb] = m
    return out


def segment_airway(ct: Volume, cfg: SegmentConfig | None = None,
                   seed_point: np.ndarray | None = None) -> Volume:
    """Airway lumen mask (bool Volume, same geometry as ``ct``) from a CT in HU.

    ``seed_point``: optional point inside the trachea, world LPS metres (default: automatic).
    The metadata records the seed, the final threshold and the growth history.
    """
    cfg = cfg or SegmentConfig()
    cfg.validate()
    t0 = time.perf_counter()
    vox_m3 = ct.voxel_volume_m3
    a = ct.array.astype(np.float32, copy=False)
    sigma = cfg.smoothing_sigma_m / ct.spacing[::-1]
    # truncate 2 sigma: a 3-tap kernel at the default 0.5 mm / 0.7 mm, enough to damp noise
    sm = ndimage.gaussian_filter(a, sigma, truncate=2.0) if cfg.smoothing_sigma_m > 0 else a
    if seed_point is None:
        seed = find_trachea(ct, cfg, smoothed=sm)
    else:
        seed = _seed_from_point(ct, sm, seed_point, cfg)
    mask, threshold, history = _grow(sm, seed, cfg, vox_m3, ct.spacing[::-1])
    mask = _refine_boundary(mask, sm, ct.spacing[::-1], cfg)
    mask = _cleanup(mask, cfg)
    vol = mask.sum() * vox_m3
    if vol < cfg.min_airway_m3:
        raise SegmentationError(
            f"airway segmentation is nearly empty ({vol * 1e6:.2f} mL < "
            f"{cfg.min_airway_m3 * 1e6:.0f} mL) from seed {seed.tolist()}: the seed is not in the "
            f"trachea or the CT is too noisy; pass seed_point or raise start_hu")
    if vol > cfg.max_airway_m3:
        raise SegmentationError(f"airway segmentation exploded ({vol * 1e6:.0f} mL); lower max_hu")
    seed_world = ct.zyx_to_world(seed.astype(float)).tolist()
    log.info("segment: %.1f mL, last leak-free threshold %.0f HU, %.2f s", vol * 1e6, threshold,
             time.perf_counter() - t0)
    return ct.with_array(mask, segmentation={
        "method": "adaptive-threshold region growing with leak rejection",
        "seed_zyx": seed.tolist(), "seed_world_m": seed_world, "threshold_hu": threshold,
        "volume_m3": float(vol), "history": history})


# ---------------------------------------------------------------- external masks

