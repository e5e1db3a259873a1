"""Kinematic camera paths: smooth splines along the centerline, density-weighted sampling,
bounded perturbations. Metres, radians, world frame; poses are T_world_cam (OpenCV camera:
z along the view direction, y image-down).
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator, splev, splprep
from scipy.spatial import cKDTree

from room.anatomy.tree import CenterlineTree
from room.errors import ConfigError
from room.trajectory.config import TrajectoryConfig

FINE_STEP_M = 1e-4  # evaluation grid of the smoothed path (0.1 mm)


class CenterlineDistance:
    """Distance from points to the tree's centerline and the lumen radius there.

    Polylines are densified to a step of 1/10 of the smallest radius, so the distance to the
    sample set overestimates the distance to the polyline by at most h^2/(8 d) (tiny inside the
    lumen) and never underestimates it by more than h/2 = 0.05 r."""

    def __init__(self, tree: CenterlineTree):
        pts, rad = [], []
        for b in tree:
            s = b.arclength()
            h = 0.1 * max(float(b.radii.min()), 1e-4)
            n = max(2, int(np.ceil(s[-1] / h)) + 1)
            t = np.linspace(0.0, s[-1], n)
            pts.append(np.stack([np.interp(t, s, b.points[:, k]) for k in range(3)], axis=1))
            rad.append(np.interp(t, s, b.radii))
        self.points = np.concatenate(pts)
        self.radii = np.concatenate(rad)
        self._kd = cKDTree(self.points)

    def __call__(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distance to the centerline, local radius) for points (N, 3)."""
        d, i = self._kd.query(np.asarray(p, float).reshape(-1, 3))
        return d, self.radii[i]


def smooth_noise(s: np.ndarray, length: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random function of arclength with values in [-1, 1]: uniform random knots every
    ``length`` metres joined by a monotone (PCHIP) interpolant, which never overshoots them."""
    s0, s1 = float(s.min()), float(s.max())
    n = max(2, int(np.ceil((s1 - s0) / length)) + 2)
    knots = s0 - 0.5 * length + length * np.arange(n)
    return PchipInterpolator(knots, rng.uniform(-1, 1, n))(s)


def _dedup(pts: np.ndarray, rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.concatenate([[True], np.linalg.norm(np.diff(pts, axis=0), axis=1) > 1e-9])
    return pts[keep], rad[keep]


def _resample(pts, rad, step):
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    n = max(4, int(np.ceil(s[-1] / step)) + 1)
    t = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(t, s, pts[:, k]) for k in range(3)], 1), np.interp(t, s, rad)


def smooth_path(tree: CenterlineTree, target: int, smoothing: float):
    """Smoothed centerline from the trachea top to the end of ``target`` on a fine grid.

    Returns (s (M,), points (M,3), tangents (M,3), curvature (M,) in 1/m, junction arclengths)
    with s the arclength of the smoothed curve."""
    raw, rad = _dedup(*tree.polyline_to(target))
    step = 0.5 * max(float(rad.min()), 1e-4)
    pts, r = _resample(raw, rad, step)
    # weights 1 / (smoothing x local radius): the RMS deviation is ~smoothing local radii, so
    # thin distal branches are smoothed as gently, relative to their size, as the trachea
    if smoothing > 0:
        tck, _ = splprep(pts.T, w=1.0 / (smoothing * r), s=float(len(pts)), k=3)
    else:
        tck, _ = splprep(pts.T, s=0.0, k=3)
    u = np.linspace(0.0, 1.0, max(64, len(pts) * 8))
    c = np.stack(splev(u, tck), 1)
    s_u = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(c, axis=0), axis=1))])
    s = np.arange(0.0, s_u[-1], FINE_STEP_M)
    uu = np.interp(s, s_u, u)
    c = np.stack(splev(uu, tck), 1)
    d1 = np.stack(splev(uu, tck, der=1), 1)
    d2 = np.stack(splev(uu, tck, der=2), 1)
    speed = np.linalg.norm(d1, axis=1)
    tangent = d1 / speed[:, None]
    curvature = np.linalg.norm(np.cross(d1, d2), axis=1) / speed**3
    path_ids = tree.path_to(target)
    junctions = [tree[b].end for b in path_ids[:-1]]
    kd = cKDTree(c)
    s_junction = np.array([s[kd.query(j)[1]] for j in junctions])
    return s, c, tangent, curvature, s_junction


def transport_frames(tangent: np.ndarray, up: np.ndarray = (0.0, 1.0, 0.0)) -> np.ndarray:
    """Rotation-minimizing (parallel-transported) normal e2 along the tangents, starting as
    the component of ``up`` orthogonal to the first tangent (camera y = image down)."""
    e2 = np.empty_like(tangent)
    v = np.asarray(up, float) - np.dot(up, tangent[0]) * tangent[0]
    if np.linalg.norm(v) < 1e-6:
        v = np.cross(tangent[0], [1.0, 0.0, 0.0])
    e2[0] = v / np.linalg.norm(v)
    for k in range(1, len(tangent)):
        w = e2[k - 1] - np.dot(e2[k - 1], tangent[k]) * tangent[k]
        e2[k] = w / np.linalg.norm(w)
    return e2


def density(s, curvature, s_junction, r_junction, cfg: TrajectoryConfig) -> np.ndarray:
    """Sampling density multiplier along the path (>= 1): bifurcation and curvature boosts."""
    bif = np.zeros_like(s)
    for sj, rj in zip(s_junction, r_junction, strict=True):
        sig = cfg.bifurcation_extent * rj
        bif = np.maximum(bif, np.exp(-0.5 * ((s - sj) / sig) ** 2))
    m_bif = 1.0 + (cfg.bifurcation_density - 1.0) * bif
    m_curv = 1.0 + cfg.curvature_density * np.minimum(1.0, curvature * cfg.curvature_ref_radius_m)
    return np.maximum(m_bif, m_curv)


def sample_arclengths(s: np.ndarray, rate: np.ndarray, cap: int) -> np.ndarray:
    """Arclengths where the cumulative sample count (integral of ``rate`` in 1/m) crosses
    0, 1, 2, ...; at most ``cap`` of them (0 = no cap)."""
    n = np.concatenate([[0.0], np.cumsum(0.5 * (rate[1:] + rate[:-1]) * np.diff(s))])
    k = np.arange(0, int(np.floor(n[-1])) + 1)
    if cap:
        k = k[:cap]
    return np.interp(k, n, s)


def _rotate(v, axis, ang):
    """Rodrigues rotation of rows of v about unit rows of axis by angles (radians)."""
    c, sn = np.cos(ang)[:, None], np.sin(ang)[:, None]
    return v * c + np.cross(axis, v) * sn + axis * np.sum(axis * v, 1, keepdims=True) * (1 - c)


def kinematic_path(tree: CenterlineTree, target: int, cfg: TrajectoryConfig,
                   rng: np.random.Generator, dist: CenterlineDistance | None = None):
    """Camera poses (N, 4, 4) and arclengths (N,) from the trachea towards branch ``target``."""
    dist = dist or CenterlineDistance(tree)
    smoothing = cfg.smoothing
    for _ in range(6):  # a sharp bend can pull a smooth spline out of the safe zone: relax
        s, c, tan, curv, s_j = smooth_path(tree, target, smoothing)
        dev, r = dist(c)
        if np.all(dev <= cfg.safe_fraction * r):
            break
        smoothing = 0.0 if smoothing < 0.02 else 0.5 * smoothing
    else:
        raise ConfigError(f"even the unsmoothed path to branch {target} leaves the safe zone "
                          f"({cfg.safe_fraction} x radius): the centerline is too coarse; "
                          "raise trajectory.safe_fraction or check the scene's centerline")
    end = s[-1] - cfg.end_margin * float(tree[target].radii[-1])
    if end <= cfg.start_m:
        raise ConfigError(f"path to branch {target} is shorter than start_m + end_margin")
    r_j = np.interp(s_j, s, r)
    speed = 1.0 + cfg.speed_variation * smooth_noise(s, cfg.perturbation_length_m, rng)
    rate = density(s, curv, s_j, r_j, cfg) / (cfg.spacing_m * speed)
    inside = (s >= cfg.start_m) & (s <= end)
    si = sample_arclengths(s[inside], rate[inside], cfg.max_frames)
    # perturbations: 5 smooth random signals in [-1, 1] of arclength
    a, b, jx, jy, roll = (smooth_noise(s, cfg.perturbation_length_m, rng) for _ in range(5))
    e2 = transport_frames(tan)
    e1 = np.cross(e2, tan)

    def at(x):
        return np.stack([np.interp(si, s, x[:, k]) for k in range(x.shape[1])], 1)

    centre, t, n1, n2 = at(c), at(tan), at(e1), at(e2)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    ab = np.stack([np.interp(si, s, a), np.interp(si, s, b)], 1)
    ab /= np.maximum(1.0, np.linalg.norm(ab, axis=1, keepdims=True))  # inside the unit disk
    dev_i, r_i = np.interp(si, s, dev), np.interp(si, s, r)
    amp = np.clip(np.minimum(cfg.lateral_offset * r_i, cfg.safe_fraction * r_i - dev_i), 0, None)
    offset = amp[:, None] * (ab[:, :1] * n1 + ab[:, 1:] * n2)
    pos = _enforce_safe(centre, offset, dist, cfg.safe_fraction)
    # view direction: tangent tilted by at most view_jitter_rad; roll about it
    tilt = np.stack([np.interp(si, s, jx), np.interp(si, s, jy)], 1)
    tilt /= np.maximum(1.0, np.linalg.norm(tilt, axis=1, keepdims=True))
    ang = cfg.view_jitter_rad * np.linalg.norm(tilt, axis=1)
    axis = tilt[:, :1] * n2 - tilt[:, 1:] * n1  # perpendicular to t
    axis_n = np.linalg.norm(axis, axis=1, keepdims=True)
    axis = np.where(axis_n > 1e-12, axis / np.maximum(axis_n, 1e-12), n1)
    z = _rotate(t, axis, ang)
    x0 = n1 - np.sum(n1 * z, 1, keepdims=True) * z
    x0 /= np.linalg.norm(x0, axis=1, keepdims=True)
    x = _rotate(x0, z, cfg.roll_jitter_rad * np.interp(si, s, roll))
    y = np.cross(z, x)
    T = np.tile(np.eye(4), (len(si), 1, 1))
    T[:, :3, 0], T[:, :3, 1], T[:, :3, 2], T[:, :3, 3] = x, y, z, pos
    return T, si


def _enforce_safe(centre, offset, dist: CenterlineDistance, safe: float) -> np.ndarray:
    """Halve the offsets of positions farther than ``safe`` x radius from the centerline (a
    nearer, thinner branch can set a tighter bound than the one the amplitude used)."""
    scale = np.ones(len(centre))
    for _ in range(30):
        pos = centre + scale[:, None] * offset
        d, r = dist(pos)
        bad = d > safe * r
        if not bad.any():
            return pos
        scale[bad] *= 0.5
    scale[bad] = 0.0  # the centre itself is checked to be safe in kinematic_path
    return centre + scale[:, None] * offset
