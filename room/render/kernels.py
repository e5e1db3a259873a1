"""Per-frame work of a moving mesh as numba kernels (loops over faces, vertices or pixels):
face planes, shading normals carried by the deformation gradient, and each pixel's surface
motion. The same formulas as the numpy functions they stand in for
(:func:`room.render.deform.face_planes`, :func:`room.render.deform.cofactor_normals`,
:func:`room.render.geometry.surface_motion`, the reference the tests compare against), without
their (N, 3) and (N, 3, 3) temporaries; float64 throughout.

Threads: the loops over every face, pixel or ray (face_planes, carried_normals,
surface_motion, chunk_extents, the BVH cast) run on numba's thread pool; the one-pass table
writers (gl_vertices, gl_planes, the BVH's field boxes: ~1-3 ms each, bound by memory) run on
one thread, so a breathing frame launches the pool twice, not five times. Numba's default
OpenMP pool spin-waits after each parallel loop, taking the cores from the GL rasterizer
(llvmpipe). Importing this module therefore sets ``OMP_WAIT_POLICY=passive`` unless the
environment already sets it (read when the OpenMP runtime starts, so it has no effect if
another library loaded that runtime first): in six idle interleaved runs on 2 cores the
breathing/static frame-time ratio was 1.10-1.29 passive against 1.24-1.41 spinning
(docs/motion.md). Every loop is independent per element, so results do not depend on the
thread count or the wait policy.
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # before numba starts its OpenMP pool

import numba as nb
import numpy as np


@nb.njit(cache=True, inline="always")
def _plane(vertices, a, b, c, origin):
    """Unit normal (nx, ny, nz) and offset n . (v_a - origin) of the triangle (a, b, c)."""
    e1x, e1y, e1z = (vertices[b, 0] - vertices[a, 0], vertices[b, 1] - vertices[a, 1],
                     vertices[b, 2] - vertices[a, 2])
    e2x, e2y, e2z = (vertices[c, 0] - vertices[a, 0], vertices[c, 1] - vertices[a, 1],
                     vertices[c, 2] - vertices[a, 2])
    nx, ny, nz = e1y * e2z - e1z * e2y, e1z * e2x - e1x * e2z, e1x * e2y - e1y * e2x
    s = 1.0 / (math.sqrt(nx * nx + ny * ny + nz * nz) + 1e-300)
    nx, ny, nz = nx * s, ny * s, nz * s
    off = (nx * (vertices[a, 0] - origin[0]) + ny * (vertices[a, 1] - origin[1])
           + nz * (vertices[a, 2] - origin[2]))
    return nx, ny, nz, off


@nb.njit(cache=True, parallel=True)
def face_planes(vertices, faces, origin):
    """Unit face normals (F, 3) and plane offsets n . (v0 - origin) (F,)."""
    m = faces.shape[0]
    n = np.empty((m, 3))
    off = np.empty(m)
    for f in nb.prange(m):
        n[f, 0], n[f, 1], n[f, 2], off[f] = _plane(vertices, faces[f, 0], faces[f, 1],
                                                   faces[f, 2], origin)
    return n, off


@nb.njit(cache=True)
def gl_planes(vertices, faces, origin, order):
    """The GL face table: (F, 4) float32 rows (unit normal, offset) of :func:`face_planes`
    (computed in float64, then rounded) for the faces ``order`` (GL face k is scene face
    ``order[k]``), without the float64 (F, 3) / (F,) arrays and their reordering."""
    m = order.shape[0]
    out = np.empty((m, 4), np.float32)
    for j in nb.prange(m):
        f = order[j]
        nx, ny, nz, off = _plane(vertices, faces[f, 0], faces[f, 1], faces[f, 2], origin)
        out[j, 0], out[j, 1], out[j, 2], out[j, 3] = nx, ny, nz, off
    return out


@nb.njit(cache=True, inline="always")
def _carried(normals, jb, jc, b, k, i):
    """Unit normal cof(I + J) n of row i, J = b jb[i] + k jc[i]."""
    a00 = 1.0 + b * jb[i, 0, 0] + k * jc[i, 0, 0]
    a01 = b * jb[i, 0, 1] + k * jc[i, 0, 1]
    a02 = b * jb[i, 0, 2] + k * jc[i, 0, 2]
    a10 = b * jb[i, 1, 0] + k * jc[i, 1, 0]
    a11 = 1.0 + b * jb[i, 1, 1] + k * jc[i, 1, 1]
    a12 = b * jb[i, 1, 2] + k * jc[i, 1, 2]
    a20 = b * jb[i, 2, 0] + k * jc[i, 2, 0]
    a21 = b * jb[i, 2, 1] + k * jc[i, 2, 1]
    a22 = 1.0 + b * jb[i, 2, 2] + k * jc[i, 2, 2]
    # cofactor matrix columns: cross products of the columns of a
    c00 = a11 * a22 - a21 * a12
    c10 = a21 * a02 - a01 * a22
    c20 = a01 * a12 - a11 * a02
    c01 = a12 * a20 - a22 * a10
    c11 = a22 * a00 - a02 * a20
    c21 = a02 * a10 - a12 * a00
    c02 = a10 * a21 - a20 * a11
    c12 = a20 * a01 - a00 * a21
    c22 = a00 * a11 - a10 * a01
    nx, ny, nz = normals[i, 0], normals[i, 1], normals[i, 2]
    x = c00 * nx + c01 * ny + c02 * nz
    y = c10 * nx + c11 * ny + c12 * nz
    z = c20 * nx + c21 * ny + c22 * nz
    s = 1.0 / (math.sqrt(x * x + y * y + z * z) + 1e-300)
    return x * s, y * s, z * s


@nb.njit(cache=True, parallel=True)
def carried_normals(normals, jb, jc, b, k):
    """Unit normals cof(I + J) n with J = b jb + k jc per vertex ((N, 3, 3) each)."""
    m = normals.shape[0]
    out = np.empty((m, 3))
    for i in nb.prange(m):
        out[i, 0], out[i, 1], out[i, 2] = _carried(normals, jb, jc, b, k, i)
    return out


@nb.njit(cache=True)
def gl_vertices(vertices, source, origin, arclength, normals, jb, jc, b, k):
    """The GL vertex data of a moved mesh in one pass, float32 (rounded from float64):
    positions (G, 3) ``vertices[source] - origin``, the same with the ``arclength`` (G, 4),
    and the :func:`carried_normals` of ``normals`` padded with 0 (G, 4) (the layouts
    ``Raster.update_geometry`` uploads), without float64 temporaries."""
    m = source.shape[0]
    pos = np.empty((m, 3), np.float32)
    pos_arc = np.empty((m, 4), np.float32)
    nrm = np.zeros((m, 4), np.float32)
    for i in nb.prange(m):
        s = source[i]
        for c in range(3):
            x = np.float32(vertices[s, c] - origin[c])
            pos[i, c] = x
            pos_arc[i, c] = x
        pos_arc[i, 3] = arclength[i]
        nrm[i, 0], nrm[i, 1], nrm[i, 2] = _carried(normals, jb, jc, b, k, i)
    return pos, pos_arc, nrm


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
        px, py = rx[i] * z, ry[i] * z
        i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
        ax, ay, az = va[i0, 0], va[i0, 1], va[i0, 2]
        wx = R[0, 0] * px + R[0, 1] * py + R[0, 2] * z + t[0] - ax
        wy = R[1, 0] * px + R[1, 1] * py + R[1, 2] * z + t[1] - ay
        wz = R[2, 0] * px + R[2, 1] * py + R[2, 2] * z + t[2] - az
        e1x, e1y, e1z = va[i1, 0] - ax, va[i1, 1] - ay, va[i1, 2] - az
        e2x, e2y, e2z = va[i2, 0] - ax, va[i2, 1] - ay, va[i2, 2] - az
        d11 = e1x * e1x + e1y * e1y + e1z * e1z
        d12 = e1x * e2x + e1y * e2y + e1z * e2z
        d22 = e2x * e2x + e2y * e2y + e2z * e2z
        w1 = wx * e1x + wy * e1y + wz * e1z
        w2 = wx * e2x + wy * e2y + wz * e2z
        den = d11 * d22 - d12 * d12
        l1 = (d22 * w1 - d12 * w2) / den
        l2 = (d11 * w2 - d12 * w1) / den
        m0x, m0y, m0z = vb[i0, 0] - ax, vb[i0, 1] - ay, vb[i0, 2] - az
        dx = m0x + l1 * (vb[i1, 0] - va[i1, 0] - m0x) + l2 * (vb[i2, 0] - va[i2, 0] - m0x)
        dy = m0y + l1 * (vb[i1, 1] - va[i1, 1] - m0y) + l2 * (vb[i2, 1] - va[i2, 1] - m0y)
        dz = m0z + l1 * (vb[i1, 2] - va[i1, 2] - m0z) + l2 * (vb[i2, 2] - va[i2, 2] - m0z)
        for c in range(3):  # R^T d: camera axes
            out[i, c] = R[0, c] * dx + R[1, c] * dy + R[2, c] * dz
    return out


@nb.njit(cache=True, parallel=True)
def chunk_extents(positions, vertex, start, axes, center):
    """(lo, hi) (C, 3): extents of each chunk's vertices (``vertex[start[c]:start[c + 1]]``)
    along its box axes, relative to its old centre (culling.refit's reductions)."""
    c_n = start.shape[0]
    lo = np.empty((c_n, 3))
    hi = np.empty((c_n, 3))
    for c in nb.prange(c_n):
        end = start[c + 1] if c + 1 < c_n else vertex.shape[0]
        for k in range(3):
            lo[c, k] = np.inf
            hi[c, k] = -np.inf
        for j in range(start[c], end):
            v = vertex[j]
            x = positions[v, 0] - center[c, 0]
            y = positions[v, 1] - center[c, 1]
            z = positions[v, 2] - center[c, 2]
            for k in range(3):
                s = axes[c, k, 0] * x + axes[c, k, 1] * y + axes[c, k, 2] * z
                lo[c, k] = min(lo[c, k], s)
                hi[c, k] = max(hi[c, k], s)
    return lo, hi


@nb.njit(cache=True, parallel=True)
def map_ids(raw, lut, offset, branch, segment):
    """Scene face ids (H, W) int32 of the geometry pass's raw ids (GL chunk order; -1 none,
    -2 - id the wall seen from outside) through ``lut[raw + offset]`` (which keeps that
    coding), the outside coding folded back to the face id, and, with ``segment``, each
    pixel's ``branch`` row (the last row for no hit). Returns (face, seg or an empty array,
    hit pixels, pixels that see the wall from outside): Renderer._draw's np.take, compare and
    sum passes in one loop."""
    h, w = raw.shape
    face = np.empty((h, w), np.int32)
    seg = np.empty((h, w) if segment else (0, 0), branch.dtype)
    none = branch[branch.shape[0] - 1]
    n_hit = 0
    n_out = 0
    for r in nb.prange(h):
        for c in range(w):
            f = lut[raw[r, c] + offset]
            if f < -1:
                f = -2 - f
                n_out += 1
            face[r, c] = f
            if f >= 0:
                n_hit += 1
            if segment:
                seg[r, c] = branch[f] if f >= 0 else none
    return face, seg, n_hit, n_out


@nb.njit(cache=True, parallel=True)
def segment(face, branch):
    """Each pixel's ``branch`` row of its face id (H, W) (the last row where ``face`` < 0), and
    the number of hit pixels."""
    h, w = face.shape
    seg = np.empty((h, w), branch.dtype)
    none = branch[branch.shape[0] - 1]
    n_hit = 0
    for r in nb.prange(h):
        for c in range(w):
            f = face[r, c]
            seg[r, c] = branch[f] if f >= 0 else none
            if f >= 0:
                n_hit += 1
    return seg, n_hit
