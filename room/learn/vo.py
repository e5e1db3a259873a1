"""Classical monocular visual odometry baseline on room RGB (OpenCV).

Per consecutive frame pair (a, b): features (ORB or SIFT, on CLAHE-equalised grey images),
ratio-test matches, then either

- ``pnp``: 3-D points from the ground-truth depth of frame a (back-projected with the
  intrinsics) and their matches in frame b -> ``cv2.solvePnPRansac`` -> metric ``T_b_a``; or
- ``essential``: ``cv2.findEssentialMat`` + ``cv2.recoverPose`` (unit translation), with the
  scale set from the ground-truth depth of frame a: the median ratio of true depth to the depth
  of the triangulated inlier points.

Poses are chained from the first ground-truth pose: ``T_world_b = T_world_a @ inv(T_b_a)``.
When a pair fails (too few matches or inliers) the previous relative motion is repeated
(constant velocity) and the failure is counted. Distorted intrinsics: keypoints are undistorted
to the pinhole model first. Deterministic: OpenCV's RNG is seeded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from room.errors import ConfigError
from room.transforms import invert, make_T
from room.types import Intrinsics


@dataclass(frozen=True)
class VOConfig:
    """method: pnp | essential; features: sift | orb (SIFT is the default: on rendered mucosa it
    was both faster and 1.3-5x more accurate than ORB); max_features per image; ratio: Lowe's
    ratio test; ransac_px: inlier threshold [px]; min_inliers: fewer -> pair failed."""

    method: str = "pnp"
    features: str = "sift"
    max_features: int = 1500
    ratio: float = 0.8
    ransac_px: float = 1.5
    min_inliers: int = 12
    clahe: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in ("pnp", "essential"):
            raise ConfigError(f"vo.method={self.method!r}; use pnp or essential")
        if self.features not in ("orb", "sift"):
            raise ConfigError(f"vo.features={self.features!r}; use orb or sift")


class _Features:
    def __init__(self, cfg: VOConfig) -> None:
        self.cfg = cfg
        if cfg.features == "orb":
            self.det = cv2.ORB_create(nfeatures=cfg.max_features, fastThreshold=5, edgeThreshold=8,
                                      patchSize=15)
            self.matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
        else:
            self.det = cv2.SIFT_create(nfeatures=cfg.max_features, contrastThreshold=0.01)
            self.matcher = cv2.BFMatcher(cv2.NORM_L2)
        self.clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(4, 4)) if cfg.clahe else None

    def detect(self, rgb: np.ndarray):
        grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        if self.clahe is not None:
            grey = self.clahe.apply(grey)
        kp, desc = self.det.detectAndCompute(grey, None)
        pts = np.array([k.pt for k in kp], np.float64).reshape(-1, 2)
        return pts, desc

    def match(self, da, db) -> np.ndarray:
        """(M,2) index pairs passing the ratio test (and mutual uniqueness on b)."""
        if da is None or db is None or len(da) < 2 or len(db) < 2:
            return np.zeros((0, 2), int)
        pairs = [(m.queryIdx, m.trainIdx) for m, n in
                 (p for p in self.matcher.knnMatch(da, db, k=2) if len(p) == 2)
                 if m.distance < self.cfg.ratio * n.distance]
        if not pairs:
            return np.zeros((0, 2), int)
        pairs = np.asarray(pairs)
        _, first = np.unique(pairs[:, 1], return_index=True)
        return pairs[np.sort(first)]


def _undistort(pts: np.ndarray, intr: Intrinsics) -> np.ndarray:
    if not intr.is_distorted or len(pts) == 0:
        return pts
    K, D = intr.K, intr.distortion_coeffs
    p = pts.reshape(-1, 1, 2)
    if intr.distortion_model == "fisheye":
        return cv2.fisheye.undistortPoints(p, K, D, P=K).reshape(-1, 2)
    return cv2.undistortPoints(p, K, D, P=K).reshape(-1, 2)


def _depth_at(depth: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Depth at the nearest pixel of each (u, v) keypoint (0 outside the image)."""
    h, w = depth.shape
    u, v = np.round(pts[:, 0]).astype(int), np.round(pts[:, 1]).astype(int)
    ok = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    out = np.zeros(len(pts))
    out[ok] = depth[v[ok], u[ok]]
    return out


def relative_pose(pa: np.ndarray, pb: np.ndarray, depth_a: np.ndarray, pa_raw: np.ndarray,
                  K: np.ndarray, cfg: VOConfig) -> tuple[np.ndarray | None, int]:
    """``T_b_a`` (metric) from matched pinhole keypoints ``pa``, ``pb`` (N,2); ``pa_raw`` are
    the (distorted) pixel positions used to read the depth of frame a. Returns (T or None,
    inliers)."""
    z = _depth_at(depth_a, pa_raw)
    if cfg.method == "pnp":
        ok = z > 0
        if ok.sum() < max(cfg.min_inliers, 6):
            return None, int(ok.sum())
        Kinv = np.linalg.inv(K)
        X = (np.c_[pa[ok], np.ones(ok.sum())] @ Kinv.T) * z[ok, None]
        found, rvec, tvec, inl = cv2.solvePnPRansac(
            X, pb[ok], K, None, iterationsCount=300, reprojectionError=cfg.ransac_px,
            confidence=0.999, flags=cv2.SOLVEPNP_EPNP)
        n = 0 if inl is None else len(inl)
        if not found or n < cfg.min_inliers:
            return None, n
        idx = inl.ravel()
        _, rvec, tvec = cv2.solvePnP(X[idx], pb[ok][idx], K, None, rvec, tvec, True,
                                     cv2.SOLVEPNP_ITERATIVE)
        return make_T(cv2.Rodrigues(rvec)[0], tvec.ravel()), n
    if len(pa) < max(cfg.min_inliers, 8):
        return None, len(pa)
    E, mask = cv2.findEssentialMat(pa, pb, K, cv2.RANSAC, 0.999, cfg.ransac_px)
    if E is None or E.shape != (3, 3):
        return None, 0
    n, R, t, mask = cv2.recoverPose(E, pa, pb, K, mask=mask)
    if n < cfg.min_inliers:
        return None, int(n)
    inl = mask.ravel() > 0
    P0 = K @ np.c_[np.eye(3), np.zeros(3)]
    P1 = K @ np.c_[R, t]
    Xh = cv2.triangulatePoints(P0, P1, pa[inl].T, pb[inl].T)
    ztri = Xh[2] / Xh[3]
    good = (ztri > 0) & (z[inl] > 0)
    if good.sum() < 5:
        return None, int(good.sum())
    scale = float(np.median(z[inl][good] / ztri[good]))
    return make_T(R, scale * t.ravel()), int(n)


def run_vo(frames: Iterable[tuple[np.ndarray, np.ndarray]], intr: Intrinsics,
           T_world_first: np.ndarray, cfg: VOConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """Chain relative poses over ``frames`` (rgb uint8 HxWx3, GT depth float32 HxW metres).

    Returns (poses (N,4,4) T_world_cam, info with per-pair inliers and failure count)."""
    cv2.setRNGSeed(cfg.seed)
    feats = _Features(cfg)
    K = intr.K
    poses = [np.asarray(T_world_first, float)]
    inliers, failed = [], 0
    last = np.eye(4)
    prev = None
    for rgb, depth in frames:
        pts, desc = feats.detect(rgb)
        cur = (pts, _undistort(pts, intr), desc, depth)
        if prev is not None:
            m = feats.match(prev[2], desc)
            T_b_a, n = (None, len(m))
            if len(m):
                T_b_a, n = relative_pose(prev[1][m[:, 0]], cur[1][m[:, 1]], prev[3],
                                         prev[0][m[:, 0]], K, cfg)
            if T_b_a is None:
                failed += 1
                T_b_a = last
            last = T_b_a
            inliers.append(n)
            poses.append(poses[-1] @ invert(T_b_a))
        prev = cur
    return np.stack(poses), {"pairs": len(inliers), "failed_pairs": failed, "inliers": inliers}
