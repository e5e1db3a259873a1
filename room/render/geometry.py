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


def _ray_columns(intrinsics: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
    """Flat contiguous x and y ray coordinates (H * W,) of every pixel, cached per camera."""
    r = _RAY_COLS.get(intrinsics)
    if r is None:
        rays = _pixel_rays(intrinsics)
        r = tuple(np.ascontiguousarray(rays[..., k]).ravel() for k in range(2))
        if len(_RAY_COLS) > 16:
            _RAY_COLS.clear()
        _RAY_COLS[intrinsics] = r
    return r


_RAY_COLS: dict[Intrinsics, tuple[np.ndarray, np.ndarray]] = {}


def _points(depth: np.ndarray, intrinsics: Intrinsics, idx: np.ndarray | None) -> np.ndarray:
    """(N, 3) float64 camera-frame points of the flat pixel indices ``idx`` (None: all)."""
    rx, ry = _ray_columns(intrinsics)
    z_all = depth.ravel()
    n = z_all.size if idx is None else idx.size
    out = np.empty((n, 3))
    z = out[:, 2]
    z[:] = z_all if idx is None else np.take(z_all, idx)  # float32 -> float64 (exact)
    np.multiply(rx if idx is None else np.take(rx, idx), z, out=out[:, 0])
    np.multiply(ry if idx is None else np.take(ry, idx), z, out=out[:, 1])
    return out


def _rows(a: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    """Rows ``idx`` (None: all, copied) of ``a`` (..., k) flattened to (N, k): one gather of
    k-element records instead of k strided ones."""
    flat = np.ascontiguousarray(a).reshape(-1, a.shape[-1])
    if idx is None:
        return flat.copy()
    rec = flat.view(np.dtype((np.void, flat.dtype.itemsize * flat.shape[1]))).ravel()
    return np.take(rec, idx).view(flat.dtype).reshape(-1, flat.shape[1])


def _hit_index(depth: np.ndarray) -> np.ndarray | None:
    """Flat indices of hit pixels (depth > 0), or None when every pixel is hit (the usual case
    inside an airway: callers then skip the gathers)."""
    hit = depth.ravel() > 0
    return None if hit.all() else np.flatnonzero(hit)


def point_cloud(frame: Frame, world: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points (N, 3) float64 m, colours (N, 3) uint8 (the frame's ``rgb``) and unit normals
    (N, 3) float32 of every hit pixel, row-major order; camera frame, or world frame when
    ``world`` (through ``frame.T_world_cam``)."""
    idx = _hit_index(frame.depth)
    pts = _points(frame.depth, frame.intrinsics, idx)
    nrm = _rows(frame.normals, idx)
    col = _rows(frame.rgb, idx)
    if world:
        R, t = frame.T_world_cam[:3, :3], frame.T_world_cam[:3, 3]
        pts = np.einsum("ij,kj->ik", pts, R) + t
        nrm = np.einsum("ij,kj->ik", nrm, R.astype(np.float32))
    return pts, col, nrm


def strided_cloud(frame: Frame, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The point cloud a dataset stores: :func:`point_cloud` (camera frame) of the frame's valid
    pixels on every ``stride``-th row and column, as float32 points, uint8 colours and float32
    normals (valid pixels in row-major order)."""
    if stride <= 1:
        pts, col, nrm = point_cloud(frame)
    else:  # only the strided pixels: the same per-pixel arithmetic as point_cloud
        h, w = frame.depth.shape
        grid = (np.arange(0, h, stride)[:, None] * w + np.arange(0, w, stride)).ravel()
        idx = grid[np.take(frame.depth.ravel(), grid) > 0]
        pts = _points(frame.depth, frame.intrinsics, idx)
        nrm, col = _rows(frame.normals, idx), _rows(frame.rgb, idx)
    return (pts.astype(np.float32), col.astype(np.uint8), nrm.astype(np.float32))


def surface_motion(frame: Frame, faces: np.ndarray, verts_a: np.ndarray,
                   verts_b: np.ndarray) -> np.ndarray:
    """Per pixel of ``frame`` (z-depth and face ids), the 3D motion (m) of the surface point
    it sees from the mesh with vertices ``verts_a`` (the frame's own shape) to the mesh with
    vertices ``verts_b`` (same ``faces``), in the axes of the frame's camera: (H, W, 3)
    float64, 0 where nothing was hit. A material point keeps its barycentric coordinates on its
    face: the pixel's point (from depth, world frame) is projected onto its face at a, and its
    motion is the barycentric blend of the three vertex motions. This is the ``scene_flow``
    modality (world motion expressed in camera-t axes; 0 for a rigid scene)."""
    h, w = frame.depth.shape
    out = np.zeros((h * w, 3))
    fid = frame.face_id.ravel()
    idx = np.flatnonzero((fid >= 0) & (frame.depth.ravel() > 0))
    if idx.size == 0:
        return out.reshape(h, w, 3)
    f_pix = np.take(fid, idx)
    seen = np.zeros(len(faces), bool)
    seen[f_pix] = True
    uf = np.flatnonzero(seen)  # the faces in view (no sort of the pixels)
    row = np.empty(len(faces), np.int64)
    row[uf] = np.arange(len(uf))
    table = _face_motion_maps(np.asarray(faces, np.int64)[uf], verts_a, verts_b,
                              frame.T_world_cam)
    rec = _rows(table, np.take(row, f_pix))  # (N, 12): Wc columns 0, 1, 2 and bc
    rx, ry = _ray_columns(frame.intrinsics)
    x, y = np.take(rx, idx)[:, None], np.take(ry, idx)[:, None]
    z = np.take(frame.depth.ravel(), idx).astype(np.float64)[:, None]
    out[idx] = z * (x * rec[:, 0:3] + y * rec[:, 3:6] + rec[:, 6:9]) + rec[:, 9:12]
    return out.reshape(h, w, 3)


def _face_motion_maps(tri: np.ndarray, verts_a: np.ndarray, verts_b: np.ndarray,
                      T_world_cam: np.ndarray) -> np.ndarray:
    """Per face (vertex indices ``tri`` (F, 3)), the affine map from a camera point p on the
    face's plane at a to its motion a -> b, both in camera axes: ``D = Wc p + bc``, returned as
    (F, 12) rows [Wc[:, 0], Wc[:, 1], Wc[:, 2], bc]. The barycentric coordinates of a world
    point q on the face are linear, lambda_k = g_k . (q - a0) (k = 1, 2; g from the face's
    Gram matrix; a point off the plane is projected onto it), and the motion is
    m0 + lambda_1 (m1 - m0) + lambda_2 (m2 - m0), so D_world = m0 + W (q - a0) with
    W = (m1 - m0) g1^T + (m2 - m0) g2^T; with q = R p + t, Wc = R^T W R and
    bc = R^T (m0 + W (t - a0))."""
    a0, a1, a2 = (verts_a[tri[:, k]] for k in range(3))
    m0, m1, m2 = (verts_b[tri[:, k]] - verts_a[tri[:, k]] for k in range(3))
    e1, e2 = a1 - a0, a2 - a0
    d11, d12, d22 = (np.einsum("ij,ij->i", u, v) for u, v in ((e1, e1), (e1, e2), (e2, e2)))
    den = (d11 * d22 - d12 * d12)[:, None]
    g1 = (d22[:, None] * e1 - d12[:, None] * e2) / den
    g2 = (d11[:, None] * e2 - d12[:, None] * e1) / den
    W = (m1 - m0)[:, :, None] * g1[:, None, :]
    W += (m2 - m0)[:, :, None] * g2[:, None, :]
    R, t = T_world_cam[:3, :3], T_world_cam[:3, 3]
    Wc = R.T @ W @ R  # (F, 3, 3), broadcast matmul
    bc = (m0 + (W @ (t - a0)[:, :, None])[:, :, 0]) @ R
    return np.ascontiguousarray(np.concatenate(
        [Wc[:, :, 0], Wc[:, :, 1], Wc[:, :, 2], bc], axis=1))


def optical_flow(frame_a: Frame, frame_b: Frame, rel_tol: float = FLOW_DEPTH_TOL,
                 motion: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Flow from frame a to frame b of a static scene: ``flow[v, u] = (du, dv)`` pixels such
    that the surface point at pixel (u, v) of a appears at (u + du, v + dv) in b (both images in
    their distorted pixel space).

    ``valid`` marks pixels hit in a whose point lies in front of camera b, projects inside image
    b, and is not occluded there (depth test, see :data:`FLOW_DEPTH_TOL`). Flow is 0 where
    invalid. Forward flow: ``optical_flow(t, t+1)``; backward: ``optical_flow(t+1, t)``.

    A moving scene: ``motion`` (H, W, 3) is each pixel's surface motion from a to b in camera-a
    axes (:func:`surface_motion`); the point of pixel (u, v) is moved by it before it goes into
    camera b, so flow maps a material point of a to where it appears in b.
    """
    ia, ib = frame_a.intrinsics, frame_b.intrinsics
    h, w = ia.shape
    flow = np.zeros((h, w, 2), np.float32)
    valid = np.zeros((h, w), bool)
    idx = _hit_index(frame_a.depth)  # None: every pixel hit, no gathers
    if idx is not None and idx.size == 0:
        return flow, valid
    T_b_a = invert(frame_b.T_world_cam) @ frame_a.T_world_cam
    R, t = T_b_a[:3, :3], T_b_a[:3, 3]
    # p_b = R (x z, y z, z) + t = z (R[:, 0] x + R[:, 1] y + R[:, 2]) + t: no (N, 3) arrays
    rx, ry = _ray_columns(ia)
    za = frame_a.depth.ravel()
    if idx is None:
        x, y, z = rx, ry, za.astype(np.float64)
        idx = np.arange(za.size)
    else:
        x, y, z = np.take(rx, idx), np.take(ry, idx), np.take(za, idx).astype(np.float64)
    xb, yb, zb = (_affine(R[k, 0], x, R[k, 1], y, R[k, 2], z, t[k]) for k in range(3))
    if motion is not None:  # + R d: the material point's own motion
        d = np.asarray(motion, np.float64).reshape(-1, 3)[idx] @ R.T
        xb, yb, zb = xb + d[:, 0], yb + d[:, 1], zb + d[:, 2]
    front = zb > ib.near
    zs = np.where(front, zb, 1.0)
    np.divide(xb, zs, out=xb)
    np.divide(yb, zs, out=yb)
    xd, yd = distort(xb, yb, ib)
    ub, vb = ib.fx * xd + ib.cx, ib.fy * yd + ib.cy
    hb, wb = ib.shape
    ok = front & (ub >= 0) & (ub <= wb - 1) & (vb >= 0) & (vb <= hb - 1)
    ub, vb, zb, idx = _subset(ok, ub, vb, zb, idx)  # occlusion test only for points in view
    z_seen = _bilinear_all_hit(frame_b.depth, ub, vb)  # NaN fails the test below
    with np.errstate(invalid="ignore"):
        np.subtract(z_seen, zb, out=z_seen)
        np.abs(z_seen, out=z_seen)
        zb *= rel_tol
        seen = z_seen <= zb
    ub, vb, sel = _subset(seen, ub, vb, idx)
    cols, rows = _pixel_grid(h, w)
    ub -= np.take(cols, sel)  # pixel column of a (exact in float64)
    vb -= np.take(rows, sel)
    f2 = flow.reshape(-1, 2)
    f2[sel, 0] = ub
    f2[sel, 1] = vb
    valid.reshape(-1)[sel] = True
    return flow, valid


def _pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat float64 column and row of every pixel of an h x w image (cached)."""
    g = _GRIDS.get((h, w))
    if g is None:
        v, u = np.mgrid[0:h, 0:w].astype(np.float64)
        g = _GRIDS[(h, w)] = (u.ravel(), v.ravel())
    return g


_GRIDS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _subset(mask: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """The arrays where ``mask`` holds (the arrays themselves when it holds everywhere)."""
    if mask.all():
        return arrays
    return tuple(np.compress(mask, a) for a in arrays)


def _affine(a: float, x: np.ndarray, b: float, y: np.ndarray, c: float, z: np.ndarray,
            d: float) -> np.ndarray:
    """(a x + b y + c) z + d elementwise, in one new array."""
    out = a * x
    out += b * y
    out += c
    out *= z
    out += d
    return out


def _bilinear_all_hit(depth: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear depth at (u, v); NaN where any of the four neighbours has no hit."""
    h, w = depth.shape
    u0 = np.floor(u)
    v0 = np.floor(v)
    np.clip(u0, 0, w - 2, out=u0)
    np.clip(v0, 0, h - 2, out=v0)
    fu, fv = u - u0, v - v0
    flat = depth.ravel()
    i00 = v0.astype(np.int64)
    i00 *= w
    i00 += u0.astype(np.int64)
    d00, d01 = np.take(flat, i00), np.take(flat, i00 + 1)
    i00 += w
    d10, d11 = np.take(flat, i00), np.take(flat, i00 + 1)
    z = (d00 * (1 - fu) + d01 * fu) * (1 - fv) + (d10 * (1 - fu) + d11 * fu) * fv
    allhit = np.minimum(np.minimum(d00, d01), np.minimum(d10, d11)) > 0
    z[~allhit] = np.nan
    return z


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
