"""Trajectory evaluation: ATE after Sim(3)/SE(3) Umeyama alignment, RPE, TUM files in and out.

Poses are ``T_world_cam`` (4x4, metres). Definitions follow ``evo`` (Grupp 2017) so numbers are
comparable with it:

- alignment (``sim3`` | ``se3`` | ``none``): Umeyama (1991) least squares on the camera
  positions, ``gt ~= s * R @ est + t`` (``s = 1`` for se3); applied to the estimate (positions
  scaled and moved, orientations rotated by ``R``).
- ATE: per frame ``|| p_gt - p_est_aligned ||`` [m] (evo APE, translation part); also the
  rotation angle of ``R_gt^T R_est_aligned`` [deg].
- RPE (``delta`` frames): ``E_i = (T_gt_i^-1 T_gt_j)^-1 (T_est_i^-1 T_est_j)``, j = i + delta,
  on the aligned estimate; translation ``||t(E_i)||`` [m] and rotation angle of ``R(E_i)`` [deg].

Each error series is summarised as rmse, mean, median, std (population), min, max.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from room.errors import ConfigError, InputFileError
from room.fileio import write_atomic
from room.transforms import from_tum, invert, to_tum

ALIGNMENTS = ("sim3", "se3", "none")


@dataclass(frozen=True)
class PoseEvalConfig:
    """alignment: sim3 | se3 | none; rpe_delta: frame step of RPE; max_time_diff: seconds within
    which an estimated timestamp is matched to a ground-truth one."""

    alignment: str = "sim3"
    rpe_delta: int = 1
    max_time_diff: float = 0.01

    def __post_init__(self) -> None:
        if self.alignment not in ALIGNMENTS:
            raise ConfigError(f"alignment={self.alignment!r}; use one of {ALIGNMENTS}")
        if self.rpe_delta < 1:
            raise ConfigError(f"rpe_delta must be >= 1, got {self.rpe_delta}")


# ------------------------------------------------------------------------------- TUM files
def read_tum(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(times (N,), poses (N,4,4)) from a TUM file (``t tx ty tz qx qy qz qw``; '#' comments)."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"trajectory file {p} not found")
    rows = []
    for n, line in enumerate(p.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace(",", " ").split()
        if len(parts) != 8:
            raise InputFileError(f"{p}:{n}: expected 8 numbers (t tx ty tz qx qy qz qw), "
                                 f"got {len(parts)}")
        try:
            rows.append([float(x) for x in parts])
        except ValueError as e:
            raise InputFileError(f"{p}:{n}: not a number ({e})") from e
    if not rows:
        raise InputFileError(f"{p} holds no poses")
    a = np.asarray(rows)
    if np.any(np.abs(np.linalg.norm(a[:, 4:8], axis=1) - 1) > 1e-3):
        raise InputFileError(f"{p}: quaternions are not unit length; is the column order "
                             "t tx ty tz qx qy qz qw?")
    return a[:, 0], np.stack([from_tum(r[1:]) for r in a])


def write_tum(path: str | Path, times: np.ndarray, poses: np.ndarray) -> None:
    """Write poses as a TUM file (atomically: temporary name, then rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# timestamp tx ty tz qx qy qz qw (T_world_cam, metres)\n"]
    for t, T in zip(times, poses, strict=True):
        lines.append(f"{t:.9f} " + " ".join(f"{v:.12g}" for v in to_tum(T)) + "\n")
    write_atomic(p, "".join(lines))


def associate(t_gt: np.ndarray, t_est: np.ndarray, max_diff: float) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """Index pairs (i_gt, i_est) matching each estimate to the nearest ground-truth time within
    ``max_diff`` seconds (one-to-one, in time order)."""
    t_gt, t_est = np.asarray(t_gt, float), np.asarray(t_est, float)
    order = np.argsort(t_gt, kind="stable")
    ts = t_gt[order]
    hi = np.clip(np.searchsorted(ts, t_est), 0, len(ts) - 1)
    lo = np.clip(hi - 1, 0, len(ts) - 1)
    nearest = np.where(np.abs(ts[lo] - t_est) <= np.abs(ts[hi] - t_est), lo, hi)
    ok = np.abs(ts[nearest] - t_est) <= max_diff
    ig, ie = order[nearest][ok], np.nonzero(ok)[0]
    _, first = np.unique(ig, return_index=True)
    return ig[first], ie[first]


# ------------------------------------------------------------------------------- alignment
def umeyama(src: np.ndarray, dst: np.ndarray, with_scale: bool = True):
    """``s, R, t`` minimising ``sum || dst_i - (s R src_i + t) ||^2`` (Umeyama 1991).
    src, dst: (N,3)."""
    src, dst = np.asarray(src, float), np.asarray(dst, float)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 3 or len(src) < 3:
        raise ConfigError(f"umeyama needs two (N>=3, 3) point sets, got {src.shape}, {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    cov = xd.T @ xs / len(src)
    U, D, Vt = np.linalg.svd(cov)
    S = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        S[2, 2] = -1
    R = U @ S @ Vt
    var_s = (xs**2).sum() / len(src)
    s = float(np.trace(np.diag(D) @ S) / var_s) if with_scale else 1.0
    return s, R, mu_d - s * R @ mu_s


def align_poses(gt: np.ndarray, est: np.ndarray, mode: str) -> tuple[np.ndarray, dict]:
    """The estimate aligned to the ground truth (both (N,4,4)); returns (poses, {s, R, t})."""
    if mode == "none":
        return est.copy(), {"scale": 1.0, "R": np.eye(3), "t": np.zeros(3)}
    s, R, t = umeyama(est[:, :3, 3], gt[:, :3, 3], with_scale=(mode == "sim3"))
    out = est.copy()
    out[:, :3, 3] = s * est[:, :3, 3] @ R.T + t
    out[:, :3, :3] = R @ est[:, :3, :3]
    return out, {"scale": s, "R": R, "t": t}


# --------------------------------------------------------------------------------- metrics
def stats(x: np.ndarray) -> dict[str, float]:
    x = np.asarray(x, float)
    return {"rmse": float(np.sqrt(np.mean(x**2))), "mean": float(np.mean(x)),
            "median": float(np.median(x)), "std": float(np.std(x)), "min": float(np.min(x)),
            "max": float(np.max(x))}


def _angle_deg(R: np.ndarray) -> np.ndarray:
    return np.degrees(Rotation.from_matrix(R).magnitude())


def ate_errors(gt: np.ndarray, est_aligned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame position error [m] and rotation error [deg] of an aligned estimate."""
    trans = np.linalg.norm(gt[:, :3, 3] - est_aligned[:, :3, 3], axis=1)
    rot = _angle_deg(np.transpose(gt[:, :3, :3], (0, 2, 1)) @ est_aligned[:, :3, :3])
    return trans, rot


def rpe_errors(gt: np.ndarray, est: np.ndarray, delta: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair relative translation error [m] and rotation error [deg] (frame step ``delta``)."""
    if len(gt) <= delta:
        raise ConfigError(f"RPE with delta={delta} needs more than {delta} poses, got {len(gt)}")
    E = np.stack([invert(invert(gt[i]) @ gt[i + delta]) @ (invert(est[i]) @ est[i + delta])
                  for i in range(len(gt) - delta)])
    return np.linalg.norm(E[:, :3, 3], axis=1), _angle_deg(E[:, :3, :3])


def evaluate_poses(gt: np.ndarray, est: np.ndarray, cfg: PoseEvalConfig) -> dict[str, Any]:
    """ATE and RPE of ``est`` against ``gt`` (matched (N,4,4) pose arrays)."""
    if gt.shape != est.shape or gt.ndim != 3 or gt.shape[1:] != (4, 4):
        raise ConfigError(f"need matching (N,4,4) pose arrays, got {gt.shape} and {est.shape}")
    aligned, tf = align_poses(gt, est, cfg.alignment)
    at, ar = ate_errors(gt, aligned)
    rt, rr = rpe_errors(gt, aligned, cfg.rpe_delta)
    return {"frames": len(gt), "alignment": cfg.alignment, "scale": tf["scale"],
            "ate_m": stats(at), "ate_rot_deg": stats(ar),
            "rpe_trans_m": stats(rt), "rpe_rot_deg": stats(rr), "rpe_delta": cfg.rpe_delta}


def evaluate_tum(gt_file: str | Path, est_file: str | Path, cfg: PoseEvalConfig) -> dict:
    """:func:`evaluate_poses` on two TUM files, associated by timestamp."""
    tg, pg = read_tum(gt_file)
    te, pe = read_tum(est_file)
    ig, ie = associate(tg, te, cfg.max_time_diff)
    if len(ig) < 3:
        raise InputFileError(f"only {len(ig)} timestamps of {est_file} match {gt_file} within "
                             f"{cfg.max_time_diff} s; are they the same sequence?")
    return {**evaluate_poses(pg[ig], pe[ie], cfg), "matched": int(len(ig)),
            "estimated": int(len(te))}
