"""Per-frame work of a moving mesh as numba kernels (parallel over faces, vertices or pixels):
face planes, shading normals carried by the deformation gradient, and each pixel's surface
motion. The same formulas as the numpy functions they stand in for
(:func:`room.render.deform.face_planes`, :func:`room.render.deform.cofactor_normals`,
:func:`room.render.geometry.surface_motion`, the reference the tests compare against), without
their (N, 3) and (N, 3, 3) temporaries; float64 throughout.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np


@nb.njit(cache=True, parallel=True)
def face_planes(vertices, faces, origin):
    """Unit face normals (F, 3) and plane offsets n . (v0 - origin) (F,)."""
    m = faces.shape[0]
    n = np.empty((m, 3))
    off = np.empty(m)
    for f in nb.prange(m):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        e1x, e1y, e1z = (vertices[b, 0] - vertices[a, 0], vertices[b, 1] - vertices[a, 1],
                         vertices[b, 2] - vertices[a, 2])
        e2x, e2y, e2z = (vertices[c, 0] - vertices[a, 0], vertices[c, 1] - vertices[a, 1],
                         vertices[c, 2] - vertices[a, 2])
        nx, ny, nz = e1y * e2z - e1z * e2y, e1z * e2x - e1x * e2z, e1x * e2y - e1y * e2x
        s = 1.0 / (math.sqrt(nx * nx + ny * ny + nz * nz) + 1e-300)
        nx, ny, nz = nx * s, ny * s, nz * s
        n[f, 0], n[f, 1], n[f, 2] = nx, ny, nz
        off[f] = (nx * (vertices[a, 0] - origin[0]) + ny * (vertices[a, 1] - origin[1])
                  + nz * (vertices[a, 2] - origin[2]))
    return n, off


@nb.njit(cache=True, parallel=True)
def carried_normals(normals, jb, jc, b, k):
    """Unit normals cof(I + J) n with J = b jb + k jc per vertex ((N, 3, 3) each)."""
    m = normals.shape[0]
    out = np.empty((m, 3))
    for i in nb.prange(m):
        a = np.empty((3, 3))
        for r in range(3):
            for c in range(3):
                a[r, c] = b * jb[i, r, c] + k * jc[i, r, c] + (1.0 if r == c else 0.0)
        # cofactor matrix columns: cross products of the columns of a
        c00 = a[1, 1] * a[2, 2] - a[2, 1] * a[1, 2]
        c10 = a[2, 1] * a[0, 2] - a[0, 1] * a[2, 2]
        c20 = a[0, 1] * a[1, 2] - a[1, 1] * a[0, 2]
        c01 = a[1, 2] * a[2, 0] - a[2, 2] * a[1, 0]
        c11 = a[2, 2] * a[0, 0] - a[0, 2] * a[2, 0]
        c21 = a[0, 2] * a[1, 0] - a[1, 2] * a[0, 0]
        c02 = a[1, 0] * a[2, 1] - a[2, 0] * a[1, 1]
        c12 = a[2, 0] * a[0, 1] - a[0, 0] * a[2, 1]
        c22 = a[0, 0] * a[1, 1] - a[1, 0] * a[0, 1]
        nx, ny, nz = normals[i, 0], normals[i, 1], normals[i, 2]
        x = c00 * nx + c01 * ny + c02 * nz
        y = c10 * nx + c11 * ny + c12 * nz
        z = c20 * nx + c21 * ny + c22 * nz
        s = 1.0 / (math.sqrt(x * x + y * y + z * z) + 1e-300)
        out[i, 0], out[i, 1], out[i, 2] = x * s, y * s, z * s
    return out


@nb.njit(cache=True, parallel=True)
def surface_motion(depth, face_id, rx, ry, faces, va, vb, R, t):
    """(N, 3) motion a -> b of each pixel's surface point (flat depth, face ids and ray
    columns), camera axes: barycentric coordinates on its face at ``va``, the blend of the
    vertex motions ``vb - va``; 0 where nothing was hit."""
    n = depth.shape[0]
    out = np.zeros((n, 3))
    for i in nb.prange(n):
        f = face_id[i]
        z = np.float64(depth[i])
        if f < 0 or not z > 0:
            continue
        px, py, pz = rx[i] * z, ry[i] * z, z
        q = np.empty(3)
        for r in range(3):
            q[r] = R[r, 0] * px + R[r, 1] * py + R[r, 2] * pz + t[r]
        i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
        e1 = va[i1] - va[i0]
        e2 = va[i2] - va[i0]
        w = q - va[i0]
        d11 = e1[0] * e1[0] + e1[1] * e1[1] + e1[2] * e1[2]
        d12 = e1[0] * e2[0] + e1[1] * e2[1] + e1[2] * e2[2]
        d22 = e2[0] * e2[0] + e2[1] * e2[1] + e2[2] * e2[2]
        w1 = w[0] * e1[0] + w[1] * e1[1] + w[2] * e1[2]
        w2 = w[0] * e2[0] + w[1] * e2[1] + w[2] * e2[2]
        den = d11 * d22 - d12 * d12
        l1 = (d22 * w1 - d12 * w2) / den
        l2 = (d11 * w2 - d12 * w1) / den
        for r in range(3):
            m0 = vb[i0, r] - va[i0, r]
            d = m0 + l1 * (vb[i1, r] - va[i1, r] - m0) + l2 * (vb[i2, r] - va[i2, r] - m0)
            q[r] = d
        for c in range(3):  # R^T d: camera axes
            out[i, c] = R[0, c] * q[0] + R[1, c] * q[1] + R[2, c] * q[2]
    return out
