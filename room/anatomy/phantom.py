"""Procedural chest phantom: a seeded bronchial tree with its exact centerlines and a synthetic CT.

World frame: LPS, metres (x = patient left, y = posterior, z = superior). The trachea starts at
the origin and runs along -z; the carina lies at ``z = -trachea_length_m``. The right main
bronchus goes to -x (shorter, wider, steeper), the left one to +x.

The tree follows Weibel/Horsfield rules of thumb: diameters shrink about 0.79x per generation,
branches are about 3 diameters long, branching angles 30-45 degrees, successive branching planes
rotated about 90 degrees. Child pairs that would leave the lungs or run into other branches are
re-oriented (rotated about the parent axis, shortened) and pruned when nothing fits, so the tree
stays plausible.

The CT: outside air -1000 HU, body soft tissue, two ellipsoidal lungs with textured parenchyma
about -850 HU, vessels beside the bronchi, airway walls (about 12% of the diameter) and air
lumen; then a Gaussian point-spread blur (partial volume) and white scanner noise. Thin distal
walls blur into the parenchyma, so a naive threshold region growing leaks, as on real scans.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from room.anatomy.tree import NO_PARENT, Branch, CenterlineTree
from room.anatomy.volume import Volume
from room.errors import ConfigError

log = logging.getLogger(__name__)

# Tissue classes of Phantom.tissue (uint8). Painting uses np.maximum, so the order matters:
# a higher class overrides a lower one where they overlap.
AIR, BODY, LUNG, VESSEL, WALL, LUMEN = 0, 1, 2, 3, 4, 5
TISSUE_NAMES = {AIR: "outside air", BODY: "soft tissue", LUNG: "lung parenchyma",
                VESSEL: "vessel", WALL: "airway wall", LUMEN: "airway lumen"}


@dataclass(frozen=True)
class PhantomConfig:
    """Phantom parameters. Lengths in metres, angles in degrees, intensities in HU."""

    seed: int = 0
    generations: int = 6  # deepest generation kept (trachea = 0, main bronchi = 1)
    # tree
    trachea_length_m: float = 0.120
    trachea_diameter_m: float = 0.018
    diameter_ratio: float = 0.79  # child / parent diameter (Weibel)
    diameter_asymmetry: float = 0.06  # major child x(1+a), minor x(1-a), a ~ U(0, this)
    length_to_diameter: float = 3.0
    length_jitter: float = 0.2  # lengths x U(1 - j, 1 + j)
    angle_major_deg: tuple[float, float] = (28.0, 36.0)  # branching angle range, major child
    angle_minor_deg: tuple[float, float] = (36.0, 45.0)  # minor child
    plane_rotation_deg: float = 90.0
    plane_jitter_deg: float = 15.0
    curvature: float = 0.04  # mid-branch lateral bow as a fraction of the length
    right_main: tuple[float, float, float] = (0.028, 0.0080, 30.0)  # length m, radius m, angle
    left_main: tuple[float, float, float] = (0.048, 0.0066, 43.0)
    min_radius_m: float = 0.0008  # branches thinner than this are not grown
    # walls and vessels
    wall_fraction: float = 0.12  # wall thickness / lumen diameter
    min_wall_m: float = 0.0003
    vessel_ratio: float = 0.9  # vessel radius / bronchus radius
    vessel_min_generation: int = 1
    # anatomy boxes (centres and semi-axes, metres)
    lung_centre: tuple[float, float, float] = (0.08, 0.02, -0.145)  # left lung; right mirrors
    lung_semi_axes: tuple[float, float, float] = (0.08, 0.085, 0.15)
    # |x| below these is mediastinum, not lung: above the carina (around the trachea), below it
    mediastinum_half_width_m: tuple[float, float] = (0.02, 0.008)
    body_centre_xy: tuple[float, float] = (0.0, 0.01)
    body_semi_axes_xy: tuple[float, float] = (0.17, 0.125)
    # intensities
    hu_air: float = -1000.0
    hu_lung: float = -850.0
    hu_tissue: float = -40.0  # body: mediastinal fat and muscle, averaged
    hu_wall: float = 40.0
    hu_vessel: float = 40.0  # ~ +200 for a contrast-enhanced scan
    lung_texture_hu: float = 25.0  # std of the smooth parenchyma texture
    texture_scale_m: float = 0.002  # correlation length of the texture
    psf_sigma_m: float = 0.0005  # Gaussian point-spread (partial volume)
    noise_hu: float = 25.0
    # sampling
    spacing_m: float = 0.0007
    shape_xyz: tuple[int, int, int] | None = None  # None: padded bounding box of the tree
    pad_m: float = 0.012
    point_step_m: float = 0.0005  # ground-truth centerline sample spacing
    wall_gaps: int = 0  # >0: cut holes into that many distal walls (leak-control tests)

    def validate(self) -> None:
        if not 0 <= self.generations <= 12:
            raise ConfigError(f"phantom generations={self.generations}: use 0..12")
        if not 1e-4 <= self.spacing_m <= 1e-2:
            raise ConfigError(f"phantom spacing_m={self.spacing_m}: use 0.1 mm .. 10 mm (in m)")
        if not 0.3 <= self.diameter_ratio < 1:
            raise ConfigError(f"diameter_ratio={self.diameter_ratio}: use [0.3, 1)")
        if self.shape_xyz is not None and min(self.shape_xyz) < 8:
            raise ConfigError(f"shape_xyz={self.shape_xyz}: at least 8 voxels per axis")


@dataclass
class Phantom:
    """A phantom: exact centerline tree, CT in HU, GT lumen mask and tissue classes."""

    tree: CenterlineTree
    ct: Volume  # float32 HU
    lumen: Volume  # bool, ground-truth airway lumen (voxel centres inside the tubes)
    tissue: Volume  # uint8 tissue class per voxel (AIR .. LUMEN above)


# ---------------------------------------------------------------- tree


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _rotate(v: np.ndarray, axis: np.ndarray, deg: float) -> np.ndarray:
    """Rodrigues rotation of v about unit ``axis`` by ``deg`` degrees."""
    a = np.radians(deg)
    return v * np.cos(a) + np.cross(axis, v) * np.sin(a) + axis * (axis @ v) * (1 - np.cos(a))


def _branch_points(start, direction, length, bow, r0, r1, step):
    """Gently bowed polyline (quadratic Bezier) and linearly tapered radii."""
    end = start + direction * length
    ctrl = 0.5 * (start + end) + bow
    n = max(3, int(np.ceil(length / step)) + 1)
    t = np.linspace(0.0, 1.0, n)[:, None]
    pts = (1 - t) ** 2 * start + 2 * (1 - t) * t * ctrl + t**2 * end
    return pts, np.linspace(r0, r1, n)


def _mediastinum_half_width(cfg: PhantomConfig, z: np.ndarray) -> np.ndarray:
    above, below = cfg.mediastinum_half_width_m
    return np.where(np.asarray(z) > -cfg.trachea_length_m + 0.005, above, below)


class _TreeBuilder:
    def __init__(self, cfg: PhantomConfig):
        self.cfg = cfg
        self.rng = np.random.default_rng([cfg.seed, 1])
        self.branches: dict[int, Branch] = {}
        self.frames: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id -> (direction, plane u)
        self.side: dict[int, int] = {}  # +1 left, -1 right
        self._cache_n = -1
        self._cache: tuple = ()

    def add(self, parent, gen, pts, radii, name, direction, u, side) -> int:
        bid = len(self.branches)
        self.branches[bid] = Branch(bid, parent, gen, pts, radii, name=name)
        if parent != NO_PARENT:
            self.branches[parent].children.append(bid)
        self.frames[bid] = (direction, u)
        self.side[bid] = side
        return bid

    def wall(self, r: float) -> float:
        return max(self.cfg.wall_fraction * 2 * r, self.cfg.min_wall_m)

    def in_lung(self, pts: np.ndarray, side: int, margin: np.ndarray) -> bool:
        c = np.array(self.cfg.lung_centre) * np.array([side, 1, 1])
        ax = np.array(self.cfg.lung_semi_axes)
        # scaled radial distance; shrinking the semi-axes by the margin keeps the tube inside
        q = ((pts - c) / (ax - margin[:, None])) ** 2
        medial = np.abs(pts[:, 0]) >= _mediastinum_half_width(self.cfg, pts[:, 2])
        return bool(np.all((q.sum(axis=1) <= 1.0) & medial))

    def collides(self, pts, radii, exclude: set[int], skip: float) -> bool:
        """True when the candidate (beyond arclength ``skip``) comes closer to another branch
        than the sum of their outer radii plus 0.5 mm."""
        s = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        keep = s > skip
        p, r = pts[keep][::2], radii[keep][::2]
        if len(p) == 0:
            return False
        if self._cache_n != len(self.branches):
            bs = list(self.branches.values())
            self._cache = (np.concatenate([b.points[::2] for b in bs]),
                           np.concatenate([b.radii[::2] + self.wall(b.radius_m) for b in bs]),
                           np.concatenate([np.full(len(b.points[::2]), b.id) for b in bs]))
            self._cache_n = len(self.branches)
        q, rq, ids = self._cache
        use = ~np.isin(ids, list(exclude))
        q, rq = q[use], rq[use]
        # coarse reject by bounding box before the full distance matrix
        near = np.all(np.abs(q - p.mean(axis=0)) < np.ptp(p, axis=0) / 2 + 0.02, axis=1)
        q, rq = q[near], rq[near]
        if len(q) == 0:
            return False
        d = np.linalg.norm(p[:, None, :] - q[None, :, :], axis=2)
        need = (r + self.wall(r.max()))[:, None] + rq[None, :] + 5e-4
        return bool(np.any(d < need))

    def build(self) -> CenterlineTree:
        cfg = self.cfg
        step = cfg.point_step_m
        rt = cfg.trachea_diameter_m / 2
        down = np.array([0.0, 0.0, -1.0])
        pts, rad = _branch_points(np.zeros(3), down, cfg.trachea_length_m, np.zeros(3),
                                  rt, 0.95 * rt, step)
        self.add(NO_PARENT, 0, pts, rad, "trachea", down, np.array([1.0, 0, 0]), 0)
        if cfg.generations >= 1:
            carina = pts[-1]
            for side, (length, r, ang), name in (
                (-1, cfg.right_main, "right main bronchus"),
                (1, cfg.left_main, "left main bronchus"),
            ):
                d = _unit(np.array([side * np.sin(np.radians(ang)), 0, -np.cos(np.radians(ang))]))
                u = np.array([0.0, 1.0, 0.0])  # next plane: rotated 90 deg from the coronal one
                p, rr = _branch_points(carina, d, length, np.zeros(3), r, 0.95 * r, step)
                self.add(0, 1, p, rr, name, d, u, side)
        frontier = [b for b in self.branches.values() if b.generation == 1]
        for gen in range(2, cfg.generations + 1):
            nxt = []
            for parent in frontier:
                nxt += self.bifurcate(parent, gen)
            frontier = nxt
        return CenterlineTree(self.branches, root=0)

    def _draw_pair(self, parent: Branch):
        cfg, rng = self.cfg, self.rng
        r = parent.radii[-1]
        a = rng.uniform(0, cfg.diameter_asymmetry)
        radii = (r * cfg.diameter_ratio * (1 + a), r * cfg.diameter_ratio * (1 - a))
        angles = (rng.uniform(*cfg.angle_major_deg), rng.uniform(*cfg.angle_minor_deg))
        lengths = [cfg.length_to_diameter * 2 * rc * rng.uniform(1 - cfg.length_jitter,
                                                                  1 + cfg.length_jitter)
                   for rc in radii]
        twist = rng.normal(0, cfg.plane_jitter_deg)
        bows = rng.normal(0, 1, size=(2, 3))
        return radii, angles, lengths, twist, bows

    def bifurcate(self, parent: Branch, gen: int) -> list[Branch]:
        cfg = self.cfg
        radii, angles, lengths, twist, bows = self._draw_pair(parent)
        if min(radii) < cfg.min_radius_m:
            return []
        d, u = self.frames[parent.id]
        side = self.side[parent.id]
        start = parent.end
        # try the drawn plane, then planes rotated about the parent axis, then shorter branches
        for scale in (1.0, 0.75, 0.55, 0.4):
            for extra in (0, 30, -30, 60, -60, 90, -90, 120, -120, 150, -150, 180):
                uu = _rotate(u, d, twist + extra)
                cand = []
                for k, sgn in enumerate((1, -1)):
                    dc = _unit(np.cos(np.radians(angles[k])) * d
                               + sgn * np.sin(np.radians(angles[k])) * uu)
                    length = lengths[k] * scale
                    bow = bows[k] - dc * (bows[k] @ dc)
                    bow = bow / (np.linalg.norm(bow) + 1e-12) * cfg.curvature * length
                    p, rr = _branch_points(start, dc, length, bow, radii[k],
                                           radii[k] * 0.97, cfg.point_step_m)
                    cand.append((dc, p, rr))
                if all(self._valid(c[1], c[2], parent, side) for c in cand) and not \
                        self._pair_clash(cand):
                    return self._commit(parent, gen, cand, uu, side)
        return []

    def _valid(self, p, rr, parent: Branch, side: int) -> bool:
        tail = p[len(p) // 2:]
        margin = rr[len(p) // 2:] + self.wall(rr[0]) + 1e-3
        if not self.in_lung(tail, side, margin):
            return False
        return not self.collides(p, rr, {parent.id, *parent.children},
                                 skip=parent.radii[-1] * 1.2 + rr[0])

    def _pair_clash(self, cand) -> bool:
        (_, p0, r0), (_, p1, r1) = cand
        n = min(len(p0), len(p1))
        far = slice(n // 2, n)
        d = np.linalg.norm(p0[far] - p1[far], axis=1)
        return bool(np.any(d < r0[far] + r1[far] + 2e-3))

    def _commit(self, parent: Branch, gen: int, cand, uu, side) -> list[Branch]:
        out = []
        d = self.frames[parent.id][0]
        for dc, p, rr in cand:
            # in-plane perpendicular of the child, then rotate the plane about the child axis
            w = _unit(np.cross(d, uu))
            pc = uu - dc * (uu @ dc)
            pc = _unit(pc) if np.linalg.norm(pc) > 1e-9 else w
            uc = _unit(_rotate(pc, dc, self.cfg.plane_rotation_deg))
            name = f"{'left' if side > 0 else 'right'} generation {gen} branch"
            bid = self.add(parent.id, gen, p, rr, "", dc, uc, side)
            self.branches[bid].name = f"{name} {bid}"
            out.append(self.branches[bid])
        return out


def make_phantom_tree(cfg: PhantomConfig | None = None) -> CenterlineTree:
    """The phantom's exact ground-truth centerline tree (metres, LPS world frame)."""
    cfg = cfg or PhantomConfig()
    cfg.validate()
    return _TreeBuilder(cfg).build()


# ---------------------------------------------------------------- voxels


def _grid(cfg: PhantomConfig, tree: CenterlineTree) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Origin (x, y, z metres) and shape (nz, ny, nx) of the phantom volume."""
    s = cfg.spacing_m
    if cfg.shape_xyz is None:
        pts, rad, _ = tree.all_points()
        lo = (pts - rad[:, None] * 1.5).min(axis=0) - cfg.pad_m
        hi = (pts + rad[:, None] * 1.5).max(axis=0) + cfg.pad_m
        n = np.ceil((hi - lo) / s).astype(int) + 1
    else:
        n = np.array(cfg.shape_xyz, dtype=int)
        pts, _, _ = tree.all_points()
        centre = np.array([0.0, cfg.body_centre_xy[1], 0.5 * (pts[:, 2].min() + pts[:, 2].max())])
        lo = centre - 0.5 * (n - 1) * s
        # keep the top of the trachea (and its rounded cap) inside the field of view
        top = tree.trachea.points[0, 2] + tree.trachea.radii[0] + 0.005
        if lo[2] + (n[2] - 1) * s < top:
            lo[2] = top - (n[2] - 1) * s
    return lo, (int(n[2]), int(n[1]), int(n[0]))


def _axes(origin, shape, s):
    nz, ny, nx = shape
    return (origin[0] + s * np.arange(nx), origin[1] + s * np.arange(ny),
            origin[2] + s * np.arange(nz))


def _paint_capsule(label, axes, s, a, b, ra, rb, value, outer=0.0, outer_value=None):
    """Paint a tapered capsule (segment a-b, radii ra->rb) with ``value`` (np.maximum), and
    optionally a shell of thickness ``outer`` around it with ``outer_value``. Only the voxels
    of the segment's bounding box are evaluated."""
    xs, ys, zs = axes
    big = max(ra, rb) + outer
    lo, hi = np.minimum(a, b) - big, np.maximum(a, b) + big
    sl = []
    for ax, l_, h_ in zip((zs, ys, xs), lo[::-1], hi[::-1], strict=True):
        i0 = max(0, int(np.floor((l_ - ax[0]) / s)))
        i1 = min(len(ax), int(np.ceil((h_ - ax[0]) / s)) + 1)
        if i1 <= i0:
            return
        sl.append(slice(i0, i1))
    z = zs[sl[0]][:, None, None] - a[2]
    y = ys[sl[1]][None, :, None] - a[1]
    x = xs[sl[2]][None, None, :] - a[0]
    ab = b - a
    l2 = max(float(ab @ ab), 1e-18)
    t = np.clip((x * ab[0] + y * ab[1] + z * ab[2]) / l2, 0.0, 1.0)
    d2 = (x - t * ab[0]) ** 2 + (y - t * ab[1]) ** 2 + (z - t * ab[2]) ** 2
    r = ra + t * (rb - ra)
    block = label[tuple(sl)]
    if outer > 0 and outer_value is not None:
        np.maximum(block, np.where(d2 < (r + outer) ** 2, outer_value, 0).astype(block.dtype),
                   out=block)
    np.maximum(block, np.where(d2 < r * r, value, 0).astype(block.dtype), out=block)


def _paint_branch(label, axes, s, b: Branch, value, outer=0.0, outer_value=None,
                  offset=None, radius_scale=1.0, max_seg_m=0.004):
    """Paint a branch polyline as a chain of capsules (sub-sampled to ~max_seg_m pieces)."""
    n = len(b.points)
    k = max(1, int(np.ceil(b.length_m / max_seg_m)))
    idx = np.unique(np.linspace(0, n - 1, k + 1).round().astype(int))
    p = b.points[idx] + (0 if offset is None else offset)
    r = b.radii[idx] * radius_scale
    for i in range(len(idx) - 1):
        _paint_capsule(label, axes, s, p[i], p[i + 1], r[i], r[i + 1], value, outer, outer_value)


def _paint_ellipsoid(label, axes, centre, semi, value, lateral_min) -> None:
    """Set ``label`` to ``value`` inside an axis-aligned ellipsoid where |x| >= lateral_min(z);
    only the ellipsoid's bounding box is evaluated (float32)."""
    qs, sl = [], []
    for ax, c, r in zip(axes[::-1], centre[::-1], semi[::-1], strict=True):  # z, y, x
        q = (((ax - c) / r) ** 2).astype(np.float32)
        idx = np.flatnonzero(q <= 1.0)
        if len(idx) == 0:
            return
        sl.append(slice(idx[0], idx[-1] + 1))
        qs.append(q[sl[-1]])
    inside = (qs[0][:, None, None] + qs[1][None, :, None] + qs[2][None, None, :]) <= 1.0
    xs, zs = axes[0][sl[2]], axes[2][sl[0]]
    inside &= np.abs(xs)[None, None, :] >= lateral_min(zs)[:, None, None]
    label[tuple(sl)][inside] = value


def _tissue_labels(cfg: PhantomConfig, tree: CenterlineTree, origin, shape, rng) -> np.ndarray:
    s = cfg.spacing_m
    axes = _axes(origin, shape, s)
    xs, ys, _ = axes
    cx, cy = cfg.body_centre_xy
    ax_, ay_ = cfg.body_semi_axes_xy
    body2d = ((xs[None, :] - cx) / ax_) ** 2 + ((ys[:, None] - cy) / ay_) ** 2 <= 1.0
    label = np.broadcast_to(np.where(body2d, BODY, AIR).astype(np.uint8), shape).copy()
    for side in (1, -1):
        c = np.array(cfg.lung_centre) * np.array([side, 1, 1])
        _paint_ellipsoid(label, axes, c, cfg.lung_semi_axes, LUNG,
                         lambda z: _mediastinum_half_width(cfg, z))
    wall = _TreeBuilder(cfg).wall
    for b in tree:
        if b.generation >= cfg.vessel_min_generation:
            d = _unit(b.end - b.start)
            perp = _unit(np.cross(d, rng.normal(size=3)))
            rv = cfg.vessel_ratio * b.radius_m
            off = perp * (b.radius_m + wall(b.radius_m) + rv + 1e-3)
            _paint_branch(label, axes, s, b, VESSEL, offset=off, radius_scale=cfg.vessel_ratio)
    for b in tree:
        _paint_branch(label, axes, s, b, LUMEN, outer=wall(b.radius_m), outer_value=WALL)
    if cfg.wall_gaps:
        _cut_wall_gaps(cfg, tree, label, axes, rng)
    return label


def _cut_wall_gaps(cfg, tree, label, axes, rng) -> None:
    """Open holes in the walls of ``cfg.wall_gaps`` deepest branches: wall voxels in a ball on
    the side of the tube become parenchyma, so lumen air touches lung directly."""
    deep = sorted(tree.branches.values(), key=lambda b: (-b.generation, b.id))
    chosen = [deep[i] for i in rng.permutation(len(deep))[: cfg.wall_gaps]]
    xs, ys, zs = axes
    for b in chosen:
        mid = b.points[len(b.points) // 2]
        d = _unit(b.end - b.start)
        perp = _unit(np.cross(d, rng.normal(size=3)))
        c = mid + perp * b.radius_m * 1.2
        rr = b.radius_m * 0.9
        lo = np.searchsorted(zs, c[2] - rr), np.searchsorted(ys, c[1] - rr), \
            np.searchsorted(xs, c[0] - rr)
        hi = np.searchsorted(zs, c[2] + rr), np.searchsorted(ys, c[1] + rr), \
            np.searchsorted(xs, c[0] + rr)
        sl = tuple(slice(a, b_) for a, b_ in zip(lo, hi, strict=True))
        z, y, x = np.meshgrid(zs[sl[0]], ys[sl[1]], xs[sl[2]], indexing="ij")
        ball = (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= rr**2
        block = label[sl]
        block[ball & (block == WALL)] = LUNG


def _smooth_noise(rng, shape, sigma_vox: float) -> np.ndarray:
    """Unit-variance Gaussian random field with correlation ~sigma_vox voxels, built at a
    coarse resolution (factor f) and upsampled by voxel repetition; the later PSF blur removes
    the small steps this leaves (the coarse field is smooth, so they are small)."""
    f = max(1, min(4, int(round(sigma_vox / 1.4))))
    coarse = tuple(-(-n // f) for n in shape)
    g = ndimage.gaussian_filter(rng.standard_normal(coarse, dtype=np.float32),
                                max(sigma_vox / f, 0.5), truncate=3.0)
    g /= g.std() + 1e-12
    for ax in range(3):
        g = np.repeat(g, f, axis=ax)
    return g[: shape[0], : shape[1], : shape[2]]


def make_phantom(cfg: PhantomConfig | None = None) -> Phantom:
    """Build the phantom: tree, synthetic CT (HU, float32), GT lumen and tissue classes.

    Deterministic: the same config gives identical arrays.
    """
    cfg = cfg or PhantomConfig()
    cfg.validate()
    t0 = time.perf_counter()
    tree = make_phantom_tree(cfg)
    origin, shape = _grid(cfg, tree)
    rng = np.random.default_rng([cfg.seed, 2])
    label = _tissue_labels(cfg, tree, origin, shape, rng)
    lut = np.zeros(6, dtype=np.float32)
    lut[[AIR, BODY, LUNG, VESSEL, WALL, LUMEN]] = [cfg.hu_air, cfg.hu_tissue, cfg.hu_lung,
                                                   cfg.hu_vessel, cfg.hu_wall, cfg.hu_air]
    hu = lut[label]
    if cfg.lung_texture_hu > 0:
        tex = _smooth_noise(rng, shape, cfg.texture_scale_m / cfg.spacing_m)
        tex *= np.float32(cfg.lung_texture_hu)
        tex[(label != LUNG) & (label != BODY)] = 0
        hu += tex
    if cfg.psf_sigma_m > 0:
        hu = ndimage.gaussian_filter(hu, cfg.psf_sigma_m / cfg.spacing_m, truncate=3.0)
    if cfg.noise_hu > 0:
        hu += rng.standard_normal(shape, dtype=np.float32) * np.float32(cfg.noise_hu)
    spacing = np.full(3, cfg.spacing_m)
    meta = {"source": "phantom", "seed": cfg.seed, "generations": cfg.generations}
    ct = Volume(hu.astype(np.float32, copy=False), spacing, origin, metadata=meta)
    phantom = Phantom(tree=tree, ct=ct, lumen=ct.with_array(label == LUMEN),
                      tissue=ct.with_array(label))
    log.info("phantom: %d branches, %s voxels, %.2f s", len(tree), shape[::-1],
             time.perf_counter() - t0)
    return phantom
