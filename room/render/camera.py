"""Tip camera: intrinsics, lens distortion and the OpenCV -> OpenGL axis conversion.

Camera frame everywhere in ``room``: OpenCV (x right, y down, z forward), metres; pixel centres at
integer coordinates. The only place that knows about OpenGL's axes (x right, y up, z backward) is
:func:`gl_projection` below, through :data:`T_GL_CV`.

Defaults follow a published ex-vivo bronchoscope calibration (fx = fy = 127 px, cx = 97.5,
cy = 101.6 on a 200 x 200 image, radial k1 = -0.101, k2 = -0.152, k3 = 0.102), scaled to the
requested resolution (600 x 600 by default, the resolution of the ROOM datasets).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from room.errors import ConfigError
from room.transforms import look_at
from room.types import Intrinsics

REFERENCE_SIZE = 200
REFERENCE_FX = 127.0
REFERENCE_CX = 97.5
REFERENCE_CY = 101.6
REFERENCE_RADTAN = (-0.101, -0.152, 0.0, 0.0, 0.102)  # OpenCV order k1, k2, p1, p2, k3

T_GL_CV = np.diag([1.0, -1.0, -1.0, 1.0])
"""Maps OpenCV camera coordinates to OpenGL camera coordinates (its own inverse)."""


MAX_SIZE_PX = 4096  # see CameraConfig.__post_init__


@dataclass(frozen=True)
class CameraConfig:
    """Tip camera settings (Hydra group ``camera``).

    Focal length: ``fx``/``fy`` in pixels if given, else from ``fov_deg`` (horizontal field of view
    of the undistorted pinhole) if given, else the reference bronchoscope scaled to ``width``.
    Principal point: ``cx``/``cy`` if given, else the reference one scaled. ``distortion`` empty
    means the reference coefficients when ``distortion_model`` is ``radtan``, zeros otherwise.
    ``near``/``far`` are the clip planes in metres (0.5 mm .. 0.25 m: airway walls are a few mm
    away, the far lumen a few cm).
    """

    width: int = 600
    height: int = 600
    fov_deg: float | None = None
    fx: float | None = None
    fy: float | None = None
    cx: float | None = None
    cy: float | None = None
    near: float = 0.0005
    far: float = 0.25
    distortion_model: str = "radtan"
    distortion: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not (8 <= self.width <= MAX_SIZE_PX and 8 <= self.height <= MAX_SIZE_PX):
            raise ConfigError(
                f"camera.width x camera.height = {self.width} x {self.height}: use 8..{MAX_SIZE_PX}"
                " px (a camera with lens distortion renders a covering pinhole image up to twice"
                " as large, and OpenGL framebuffers stop at 8192 px)")
        self.intrinsics()  # focal length, clip planes, distortion: checked now, before any work

    def intrinsics(self) -> Intrinsics:
        """The :class:`~room.types.Intrinsics` these settings describe (raises ConfigError)."""
        sx, sy = self.width / REFERENCE_SIZE, self.height / REFERENCE_SIZE
        if self.fx is not None:
            fx = float(self.fx)
        elif self.fov_deg is not None:
            if not 1.0 < self.fov_deg < 179.0:
                raise ConfigError(f"camera.fov_deg={self.fov_deg} must lie in (1, 179) degrees")
            fx = 0.5 * self.width / np.tan(np.deg2rad(self.fov_deg) / 2)
        else:
            fx = REFERENCE_FX * sx
        if self.fy is not None:
            fy = float(self.fy)
        elif self.fx is None and self.fov_deg is None:
            fy = REFERENCE_FX * sy
        else:
            fy = fx
        cx = float(self.cx) if self.cx is not None else (REFERENCE_CX + 0.5) * sx - 0.5
        cy = float(self.cy) if self.cy is not None else (REFERENCE_CY + 0.5) * sy - 0.5
        coeffs = tuple(self.distortion)
        if self.distortion_model == "radtan" and not coeffs:
            coeffs = REFERENCE_RADTAN
        return Intrinsics(
            width=self.width, height=self.height, fx=fx, fy=fy, cx=cx, cy=cy,
            near=self.near, far=self.far, distortion_model=self.distortion_model,
            distortion=coeffs,
        )


def gl_projection(intr: Intrinsics) -> np.ndarray:
    """4 x 4 matrix taking OpenCV camera coordinates to OpenGL clip coordinates (pinhole part).

    Built as ``P_gl @ T_GL_CV`` followed by a vertical flip of window rows, so that the first row
    that ``glReadPixels`` returns is image row 0 (top) and the pixel (u, v) in OpenCV convention
    is the GL fragment whose centre is at window (u + 0.5, v + 0.5). Depth maps z in
    [near, far] to NDC [-1, 1].
    """
    w, h, n, f = intr.width, intr.height, intr.near, intr.far
    # Standard OpenGL projection for a camera looking down -z (y up), pixel centres at +0.5.
    P_gl = np.array([
        [2 * intr.fx / w, 0.0, 1.0 - 2 * (intr.cx + 0.5) / w, 0.0],
        [0.0, 2 * intr.fy / h, 2 * (intr.cy + 0.5) / h - 1.0, 0.0],
        [0.0, 0.0, -(f + n) / (f - n), -2 * f * n / (f - n)],
        [0.0, 0.0, -1.0, 0.0],
    ])
    flip_rows = np.diag([1.0, -1.0, 1.0, 1.0])  # image row 0 = first row in memory
    return flip_rows @ P_gl @ T_GL_CV


def project(points_cam: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Pixel coordinates (N, 2) of camera-frame points (N, 3), through the distortion model.

    Points must have z > 0. Pure numpy (same formulas as cv2.projectPoints / cv2.fisheye).
    """
    p = np.asarray(points_cam, dtype=np.float64)
    x, y = p[..., 0] / p[..., 2], p[..., 1] / p[..., 2]
    xd, yd = distort(x, y, intr)
    return np.stack([intr.fx * xd + intr.cx, intr.fy * yd + intr.cy], axis=-1)


def distort(x: np.ndarray, y: np.ndarray, intr: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
    """Apply the lens model to normalized pinhole coordinates (x = X/Z, y = Y/Z)."""
    if not intr.is_distorted:
        return x, y
    c = intr.distortion_coeffs
    if intr.distortion_model == "radtan":
        k1, k2, p1, p2, k3 = c
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return xd, yd
    k1, k2, k3, k4 = c  # fisheye (equidistant), OpenCV cv2.fisheye
    r = np.sqrt(x * x + y * y)
    th = np.arctan(r)
    t2 = th * th
    thd = th * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
    scale = np.where(r > 1e-12, thd / np.maximum(r, 1e-12), 1.0)
    return x * scale, y * scale


def undistort_pixels(uv: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Normalized pinhole coordinates (N, 2) of distorted pixels (N, 2).

    OpenCV's iterative solvers, run to convergence (residual below 1e-10 in normalized
    coordinates, i.e. far below 1e-6 px); checked by re-distorting in the tests.
    """
    import cv2

    pts = np.asarray(uv, dtype=np.float64).reshape(-1, 1, 2)
    if not intr.is_distorted:
        out = (pts[:, 0] - [intr.cx, intr.cy]) / [intr.fx, intr.fy]
        return out
    K, c = intr.K, intr.distortion_coeffs
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-14)
    if intr.distortion_model == "radtan":
        out = cv2.undistortPoints(pts, K, c, None, None, None, crit)[:, 0]
    else:
        out = cv2.fisheye.undistortPoints(pts, K, c, criteria=crit)[:, 0]
    # Polish with Newton steps on our own forward model (cv2's fisheye solver stops early).
    x, y = out[:, 0].copy(), out[:, 1].copy()
    target = (pts[:, 0] - [intr.cx, intr.cy]) / [intr.fx, intr.fy]
    for _ in range(20):
        xd, yd = distort(x, y, intr)
        ex, ey = xd - target[:, 0], yd - target[:, 1]
        if max(np.abs(ex).max(), np.abs(ey).max()) < 1e-13:
            break
        h = 1e-7
        xdx, ydx = distort(x + h, y, intr)
        xdy, ydy = distort(x, y + h, intr)
        a, b, c_, d = (xdx - xd) / h, (xdy - xd) / h, (ydx - yd) / h, (ydy - yd) / h
        det = a * d - b * c_
        x -= (d * ex - b * ey) / det
        y -= (-c_ * ex + a * ey) / det
    return np.stack([x, y], axis=1)


def pixel_rays(intr: Intrinsics) -> np.ndarray:
    """(H, W, 2) normalized pinhole coordinates (X/Z, Y/Z) of every pixel centre (cached)."""
    return _pixel_rays(intr).copy()


_RAY_CACHE: dict[Intrinsics, np.ndarray] = {}


def _pixel_rays(intr: Intrinsics) -> np.ndarray:
    r = _RAY_CACHE.get(intr)
    if r is None:
        v, u = np.mgrid[0 : intr.height, 0 : intr.width].astype(np.float64)
        uv = np.stack([u.ravel(), v.ravel()], axis=1)
        r = undistort_pixels(uv, intr).reshape(intr.height, intr.width, 2)
        r.setflags(write=False)
        if len(_RAY_CACHE) > 16:
            _RAY_CACHE.clear()
        _RAY_CACHE[intr] = r
    return r


def bifurcation_view(tree, branch_id: int | None = None, back_radii: float = 2.0) -> np.ndarray:
    """``T_world_cam`` on the axis of branch ``branch_id`` (default: the trachea), ``back_radii``
    local radii before its distal bifurcation, looking along the branch's end direction at the
    bifurcation (OpenCV camera, metres)."""
    b = tree.branches[tree.root if branch_id is None else branch_id]
    end = b.points[-1]
    k = max(0, len(b.points) - 1 - max(3, len(b.points) // 5))
    d = end - b.points[k]
    d /= np.linalg.norm(d)
    eye = end - back_radii * b.radius_m * d
    up = np.array([0.0, 1.0, 0.0]) if abs(d[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    return look_at(eye, end + 0.01 * d, up=-up)
