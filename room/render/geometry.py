"""Derived ground truth as pure numpy functions of frames: back-projection, point clouds,
optical flow (with occlusion and out-of-view masks) and image warping.

Conventions: camera frame OpenCV (x right, y down, z forward), metres; pixel (u, v) = (column,
row) with pixel centres at integers; z-depth (not ray length), 0 = no hit. Lens distortion is
honoured everywhere through :mod:`room.render.camera` (rays of distorted pixels come from the
inverse lens model; projections go through the forward model).
"""

from __future__ import annotations

import numpy as np

from room.render.camera import _pixel_rays, distort
from room.transforms import invert
from room.types import Frame, Intrinsics

FLOW_DEPTH_TOL = 0.01
"""Relative depth tolerance of the occlusion test in :func:`optical_flow`. A point of frame a is
visible in frame b when its predicted depth in b agrees with b's depth map, bilinearly
interpolated at the predicted position over four hit pixels, within 1 %. On a smooth wall the
interpolation error of one pixel is far below 1 % (depth varies by z * tan(incidence) / f per
pixel, ~0.3 % at 45 degrees with f = 380 px, and bilinear interpolation errs by a small fraction
of that); an occluding fold or the carina lies millimetres in front of what it hides at
centimetre depths, i.e. well over 1 %. Pixels whose four neighbours straddle an occlusion
boundary fail the test and are marked invalid (conservative)."""


def backproject(depth: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """(H, W, 3) camera-frame points (m) of a z-depth map; zeros where depth is 0."""
    rays = _pixel_rays(intrinsics)
    z = np.asarray(depth, dtype=np.float64)
    pts = np.empty(z.shape + (3,), dtype=np.float64)
    pts[..., 0] = rays[..., 0] * z
    pts[..., 1] = rays[..., 1] * z
    pts[..., 2] = z
    return pts


def _points(depth: np.ndarray, intrinsics: Intrinsics, idx: np.ndarray) -> np.ndarray:
    """(N, 3) float64 camera-frame points of the flat pixel indices ``idx``."""
    r = np.take(_pixel_rays(intrinsics).reshape(-1, 2), idx, axis=0)
    z = np.take(depth.ravel(), idx).astype(np.float64)
    return np.stack([r[:, 0] * z, r[:, 1] * z, z], axis=1)


def point_cloud(frame: Frame, world: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points (N, 3) float64 m, colours (N, 3) uint8 (the frame's ``rgb``) and unit normals
    (N, 3) float32 of every hit pixel, row-major order; camera frame, or world frame when
    ``world`` (through ``frame.T_world_cam``)."""
    idx = np.flatnonzero(frame.depth > 0)
    pts = _points(frame.depth, frame.intrinsics, idx)
    nrm = np.take(frame.normals.reshape(-1, 3), idx, axis=0)
    col = np.take(frame.rgb.reshape(-1, 3), idx, axis=0)
    if world:
        R, t = frame.T_world_cam[:3, :3], frame.T_world_cam[:3, 3]
        pts = np.einsum("ij,kj->ik", pts, R) + t
        nrm = np.einsum("ij,kj->ik", nrm, R.astype(np.float32))
    return pts, col, nrm


def optical_flow(frame_a: Frame, frame_b: Frame,
                 rel_tol: float = FLOW_DEPTH_TOL) -> tuple[np.ndarray, np.ndarray]:
    """Flow from frame a to frame b of a static scene: ``flow[v, u] = (du, dv)`` pixels such
    that the surface point at pixel (u, v) of a appears at (u + du, v + dv) in b (both images in
    their distorted pixel space).

    ``valid`` marks pixels hit in a whose point lies in front of camera b, projects inside image
    b, and is not occluded there (depth test, see :data:`FLOW_DEPTH_TOL`). Flow is 0 where
    invalid. Forward flow: ``optical_flow(t, t+1)``; backward: ``optical_flow(t+1, t)``.
    """
    ia, ib = frame_a.intrinsics, frame_b.intrinsics
    h, w = ia.shape
    flow = np.zeros((h, w, 2), np.float32)
    valid = np.zeros((h, w), bool)
    idx = np.flatnonzero(frame_a.depth > 0)
    if idx.size == 0:
        return flow, valid
    pa = _points(frame_a.depth, ia, idx)
    T_b_a = invert(frame_b.T_world_cam) @ frame_a.T_world_cam
    pb = np.einsum("ij,kj->ik", pa, T_b_a[:3, :3]) + T_b_a[:3, 3]  # no BLAS: see renderer
    zb = pb[:, 2]
    front = zb > ib.near
    zs = np.where(front, zb, 1.0)
    xd, yd = distort(pb[:, 0] / zs, pb[:, 1] / zs, ib)
    ub, vb = ib.fx * xd + ib.cx, ib.fy * yd + ib.cy
    hb, wb = ib.shape
    ok = front & (ub >= 0) & (ub <= wb - 1) & (vb >= 0) & (vb <= hb - 1)
    z_seen = _bilinear_all_hit(frame_b.depth, ub, vb)  # NaN fails the test below
    with np.errstate(invalid="ignore"):
        ok &= np.abs(z_seen - zb) <= rel_tol * zb
    sel = idx[ok]
    v, u = np.divmod(sel, w)
    flow.reshape(-1, 2)[sel] = np.stack([ub[ok] - u, vb[ok] - v], axis=1)
    valid.reshape(-1)[sel] = True
    return flow, valid


def _bilinear_all_hit(depth: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear depth at (u, v); NaN where any of the four neighbours has no hit."""
    h, w = depth.shape
    u0 = np.clip(np.floor(u), 0, w - 2).astype(np.int64)
    v0 = np.clip(np.floor(v), 0, h - 2).astype(np.int64)
    fu, fv = u - u0, v - v0
    flat = depth.ravel()
    i00 = v0 * w + u0
    d00, d01 = np.take(flat, i00), np.take(flat, i00 + 1)
    d10, d11 = np.take(flat, i00 + w), np.take(flat, i00 + w + 1)
    z = (d00 * (1 - fu) + d01 * fu) * (1 - fv) + (d10 * (1 - fu) + d11 * fu) * fv
    allhit = (d00 > 0) & (d01 > 0) & (d10 > 0) & (d11 > 0)
    return np.where(allhit, z, np.nan)


def warp(image_b: np.ndarray, flow_ab: np.ndarray, valid: np.ndarray | None = None,
         fill: float = 0) -> np.ndarray:
    """Image b resampled into frame a through the flow a -> b (bilinear): ``out[v, u] =
    image_b[v + dv, u + du]``. Pixels where ``valid`` is False get ``fill``."""
    import cv2

    h, w = flow_ab.shape[:2]
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    mx = u + flow_ab[..., 0]
    my = v + flow_ab[..., 1]
    src = np.asarray(image_b)
    out = cv2.remap(src.astype(np.float32), mx, my, cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
    if valid is not None:
        out[~valid] = fill
    return out.astype(src.dtype) if src.dtype == np.float32 else out
