"""Rigid transforms as 4 x 4 homogeneous matrices (float64, metres).

Naming: ``T_a_b`` maps points expressed in frame b into frame a, so
``p_a = T_a_b @ p_b`` and ``T_a_c = T_a_b @ T_b_c``. A camera pose is ``T_world_cam``.
Quaternions follow the TUM trajectory format order (qx, qy, qz, qw), Hamilton convention.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from room.errors import ConfigError

RIGID_TOL = 1e-6
"""Tolerance on R^T R = I and det R = 1; float64 poses composed over thousands of frames stay
well inside it, while a scaled or sheared matrix (a common mistake) is far outside."""


def make_T(R: np.ndarray | None = None, t: np.ndarray | None = None) -> np.ndarray:
    """Build a 4 x 4 transform from a 3 x 3 rotation and a translation in metres."""
    T = np.eye(4)
    if R is not None:
        T[:3, :3] = R
    if t is not None:
        T[:3, 3] = np.asarray(t, dtype=float).reshape(3)
    return T


def is_rigid(T: np.ndarray, tol: float = RIGID_TOL) -> bool:
    """True when T is a finite 4 x 4 proper rigid transform (rotation + translation)."""
    T = np.asarray(T, dtype=float)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        return False
    R = T[:3, :3]
    return (
        np.allclose(T[3], [0.0, 0.0, 0.0, 1.0], atol=tol)
        and np.allclose(R.T @ R, np.eye(3), atol=tol)
        and abs(np.linalg.det(R) - 1.0) < tol
    )


def check_rigid(T: np.ndarray, name: str = "T") -> np.ndarray:
    """Return T as float64 or raise :class:`ConfigError` saying why it is not rigid."""
    T = np.asarray(T, dtype=float)
    if T.shape != (4, 4):
        raise ConfigError(f"{name} must be a 4x4 homogeneous matrix, got shape {T.shape}")
    if not is_rigid(T):
        raise ConfigError(
            f"{name} is not a rigid transform (rotation must be orthonormal with det +1, last "
            f"row [0 0 0 1], all finite); got\n{np.array2string(T, precision=4)}"
        )
    return T


def invert(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform, exact (no general matrix inverse)."""
    R, t = T[:3, :3], T[:3, 3]
    Ti = np.eye(4)
    Ti[:3, :3] = R.T
    Ti[:3, 3] = -R.T @ t
    return Ti


def apply(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Transform an (N, 3) array of points (or one point) by T."""
    p = np.asarray(points, dtype=float)
    return p @ T[:3, :3].T + T[:3, 3]


def to_tum(T: np.ndarray) -> np.ndarray:
    """(tx, ty, tz, qx, qy, qz, qw) of a rigid transform, as in a TUM trajectory line."""
    q = Rotation.from_matrix(T[:3, :3]).as_quat()  # scipy order: x, y, z, w
    if q[3] < 0:  # canonical sign so identical poses write identical text
        q = -q
    return np.concatenate([T[:3, 3], q])


def from_tum(values: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_tum`."""
    v = np.asarray(values, dtype=float)
    return make_T(Rotation.from_quat(v[3:7]).as_matrix(), v[:3])


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 0.0, 1.0)) -> np.ndarray:
    """``T_world_cam`` of an OpenCV camera at ``eye`` looking at ``target``.

    The camera's z axis points at the target and its y axis (image down) is as close to
    ``-up`` as possible, so ``up`` appears at the top of the image.
    """
    eye = np.asarray(eye, dtype=float)
    z = np.asarray(target, dtype=float) - eye
    z /= np.linalg.norm(z)
    up = np.asarray(up, dtype=float)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:  # looking along up: pick any perpendicular
        x = np.cross(z, [1.0, 0.0, 0.0] if abs(z[0]) < 0.9 else [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return make_T(np.stack([x, y, z], axis=1), eye)
