"""Analytic frames for writer/reader tests: a camera looking down a plane-walled box, with depth,
normals and segmentation consistent with each other (no renderer needed)."""

from __future__ import annotations

import numpy as np

from room.transforms import make_T
from room.types import Frame, Intrinsics


def intrinsics(size: int = 32) -> Intrinsics:
    f = 0.5 * size / np.tan(np.deg2rad(40))
    return Intrinsics(size, size, f, f, (size - 1) / 2, (size - 1) / 2, near=0.001, far=0.25)


def plane_frame(index: int, size: int = 32, z0: float = 0.05, step: float = 0.001,
                seed: int = 0) -> Frame:
    """Camera at z = index * step looking along +z at a tilted plane through (0, 0, z0):
    n . p = n . p0 with n = normalize(0.3, 0.1, -1). Pixels in the top-left corner miss
    (background), so every encoding sees both hits and misses."""
    K = intrinsics(size)
    T = make_T(t=[0.0, 0.0, index * step])
    n = np.array([0.3, 0.1, -1.0])
    n /= np.linalg.norm(n)
    u, v = np.meshgrid(np.arange(size), np.arange(size))
    rays = np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones_like(u, float)], -1)
    cam_z = index * step
    t = (n @ np.array([0, 0, z0]) - n[2] * cam_z) / (rays @ n)  # ray param = z-depth
    depth = t.astype(np.float32)
    miss = (u < size // 4) & (v < size // 4)
    depth[miss] = 0
    normals = np.broadcast_to(-n if n[2] > 0 else n, (size, size, 3)).astype(np.float32).copy()
    normals[miss] = 0
    seg = np.where(u < size // 2, 1, 2).astype(np.int32)
    seg[miss] = -1
    face = (u + v * size + 70000).astype(np.int32)
    face[miss] = -1
    rng = np.random.default_rng(seed + index)
    clean = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    noisy = np.clip(clean.astype(int) + rng.integers(-3, 4, clean.shape), 0, 255).astype(np.uint8)
    return Frame(rgb=noisy, rgb_clean=clean, depth=depth, normals=normals, segmentation=seg,
                 face_id=face, T_world_cam=T, intrinsics=K, index=index, time_s=index / 30.0,
                 meta={"source": "analytic plane"})
