"""Optical flow as one fused numba loop over pixels: the float64 formulas of
:func:`room.render.geometry.optical_flow` (the numpy reference), in the same order, without its
temporaries; each pixel independent, so the result does not depend on the thread count.

Why a CPU kernel beside the GL pass (:mod:`room.render.flowpass`): on a software rasterizer
(Mesa llvmpipe) a full-screen fragment pass runs the shader in SIMD blocks with every branch
and texel gathers one by one. The GL flow pass costs ~11-12 ms per 600 x 600 pair on 2 cores,
this loop ~6 ms, the numpy reference ~38 ms (``benchmarks/bench_render.py`` prints all three).
On a GPU the GL pass stays the faster one; :meth:`room.render.renderer.Renderer.optical_flow`
picks by the GL renderer. Rigid scenes give the numpy reference bit for bit (no fused
multiply-adds, same operation order; the tests check equality); with tissue motion the
motion's rotation into camera b is a 3-term sum, equal to the reference's matrix product to
float64 rounding.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from room.render import kernels as _kernels  # noqa: F401  (OMP_WAIT_POLICY before the pool)
from room.transforms import invert
from room.types import Intrinsics

_MODELS = {"none": 0, "radtan": 1, "fisheye": 2}


@nb.njit(cache=True, inline="always")
def _distort(x, y, model, k):
    """camera.distort for one point (same formulas and operation order)."""
    if model == 1:
        r2 = x * x + y * y
        radial = 1 + r2 * (k[0] + r2 * (k[1] + r2 * k[4]))
        xd = x * radial + 2 * k[2] * x * y + k[3] * (r2 + 2 * x * x)
        yd = y * radial + k[2] * (r2 + 2 * y * y) + 2 * k[3] * x * y
        return xd, yd
    if model == 2:
        r = math.sqrt(x * x + y * y)
        th = math.atan(r)
        t2 = th * th
        thd = th * (1 + t2 * (k[0] + t2 * (k[1] + t2 * (k[2] + t2 * k[3]))))
        scale = thd / max(r, 1e-12) if r > 1e-12 else 1.0
        return x * scale, y * scale
    return x, y


@nb.njit(cache=True, parallel=True)
def _flow(za, zb_map, rx, ry, R, t, model, k, cam, near, rel_tol, motion, flow, valid):
    """Fill ``flow`` (H, W, 2) float32 and ``valid`` (H, W) bool (both zeroed by the caller)
    from a's flat depth ``za`` and b's depth map; ``cam`` = fx, fy, cx, cy of b; ``motion``
    (N, 3) or (0, 3) for a rigid scene."""
    h, w = zb_map.shape
    moving = motion.shape[0] > 0
    for row in nb.prange(h):
        for col in range(w):
            i = row * w + col
            z = np.float64(za[i])
            if not z > 0:
                continue
            x, y = rx[i], ry[i]
            xb = (R[0, 0] * x + R[0, 1] * y + R[0, 2]) * z + t[0]
            yb = (R[1, 0] * x + R[1, 1] * y + R[1, 2]) * z + t[1]
            zb = (R[2, 0] * x + R[2, 1] * y + R[2, 2]) * z + t[2]
            if moving:
                m0, m1, m2 = motion[i, 0], motion[i, 1], motion[i, 2]
                xb += m0 * R[0, 0] + m1 * R[0, 1] + m2 * R[0, 2]
                yb += m0 * R[1, 0] + m1 * R[1, 1] + m2 * R[1, 2]
                zb += m0 * R[2, 0] + m1 * R[2, 1] + m2 * R[2, 2]
            if not zb > near:
                continue
            xd, yd = _distort(xb / zb, yb / zb, model, k)
            ub, vb = cam[0] * xd + cam[2], cam[1] * yd + cam[3]
            if not (ub >= 0 and ub <= w - 1 and vb >= 0 and vb <= h - 1):
                continue
            u0 = min(max(math.floor(ub), 0.0), w - 2.0)
            v0 = min(max(math.floor(vb), 0.0), h - 2.0)
            fu, fv = ub - u0, vb - v0
            iu, iv = int(u0), int(v0)
            d00, d01 = zb_map[iv, iu], zb_map[iv, iu + 1]
            d10, d11 = zb_map[iv + 1, iu], zb_map[iv + 1, iu + 1]
            if not min(min(d00, d01), min(d10, d11)) > 0:
                continue
            zs = (d00 * (1 - fu) + d01 * fu) * (1 - fv) + (d10 * (1 - fu) + d11 * fu) * fv
            if not abs(zs - zb) <= zb * rel_tol:
                continue
            flow[row, col, 0] = ub - col
            flow[row, col, 1] = vb - row
            valid[row, col] = True


def optical_flow(depth_a: np.ndarray, T_world_a: np.ndarray, intr_a: Intrinsics,
                 depth_b: np.ndarray, T_world_b: np.ndarray, intr_b: Intrinsics,
                 rel_tol: float, rays: tuple[np.ndarray, np.ndarray],
                 motion: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Flow a -> b (H, W, 2) float32 px and validity (H, W) bool of two depth maps (float32 m)
    and camera poses (``T_world_cam``), cameras a and b of the same size; ``rays``: a's flat
    ray columns (x, y) (geometry._ray_columns); ``motion`` (H, W, 3): each pixel's surface
    motion a -> b in camera-a axes (m), or None for a rigid scene."""
    h, w = depth_a.shape
    T = invert(T_world_b) @ T_world_a
    k = np.zeros(5)
    if intr_b.is_distorted:
        c = np.asarray(intr_b.distortion_coeffs, np.float64).ravel()
        k[: len(c)] = c
    model = _MODELS[intr_b.distortion_model] if intr_b.is_distorted else 0
    mot = (np.zeros((0, 3)) if motion is None
           else np.ascontiguousarray(motion, np.float64).reshape(-1, 3))
    flow = np.zeros((h, w, 2), np.float32)
    valid = np.zeros((h, w), bool)
    cam = np.array([intr_b.fx, intr_b.fy, intr_b.cx, intr_b.cy], np.float64)
    _flow(np.ascontiguousarray(depth_a).ravel(), np.ascontiguousarray(depth_b), rays[0],
          rays[1], np.ascontiguousarray(T[:3, :3]), np.ascontiguousarray(T[:3, 3]), model, k,
          cam, float(intr_b.near), float(rel_tol), mot, flow, valid)
    return flow, valid
