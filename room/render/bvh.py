"""A bounding volume hierarchy for first-hit ray casts on a moving mesh (numba).

Embree builds a rigid scene's hierarchy once; a breathing airway changes shape every frame and
a full Embree rebuild costs more than the frame. Its connectivity does not change, so the tree
is built once over the reference mesh (median splits of face centroids along the widest axis,
leaves of at most ``LEAF_FACES`` faces) and per frame only its boxes are refitted to the moved
vertices (bottom-up, O(faces)). A refitted box contains its faces exactly (plus ``PAD_M``), so
the traversal (nearest child first, pruned by the best hit so far) returns the first hit on the
whole mesh. Triangles are tested in float64 (Moller-Trumbore with the renderer's 1e-7
barycentric slack).
"""

from __future__ import annotations

import numba as nb
import numpy as np

LEAF_FACES = 4
EPS = 1e-7  # barycentric slack, as the renderer's own ray-triangle test
PAD_M = 1e-9
"""Box padding (m): above float64 rounding of the coordinates, far below any triangle."""


@nb.njit(cache=True)
def _build(cent: np.ndarray, leaf: int):
    """Nodes of the tree over face centroids ``cent`` (F, 3): (order, left, right, first,
    count, n_nodes); children have larger indices than their parent; a leaf has left = -1 and
    holds ``order[first:first + count]``."""
    n = cent.shape[0]
    order = np.arange(n)
    cap = 2 * n + 1
    left = np.full(cap, -1, np.int64)
    right = np.full(cap, -1, np.int64)
    first = np.zeros(cap, np.int64)
    count = np.zeros(cap, np.int64)
    stack = np.zeros((cap, 3), np.int64)  # node, start, end
    sp = 0
    stack[0, 0], stack[0, 1], stack[0, 2] = 0, 0, n
    sp = 1
    n_nodes = 1
    while sp > 0:
        sp -= 1
        node, s, e = stack[sp, 0], stack[sp, 1], stack[sp, 2]
        if e - s <= leaf:
            first[node], count[node] = s, e - s
            continue
        lo = np.full(3, np.inf)
        hi = np.full(3, -np.inf)
        for i in range(s, e):
            for k in range(3):
                v = cent[order[i], k]
                lo[k] = min(lo[k], v)
                hi[k] = max(hi[k], v)
        axis = np.argmax(hi - lo)
        keys = np.empty(e - s)
        for i in range(s, e):
            keys[i - s] = cent[order[i], axis]
        sub = order[s:e][np.argsort(keys, kind="mergesort")]
        order[s:e] = sub
        mid = (s + e) // 2
        a, b = n_nodes, n_nodes + 1
        n_nodes += 2
        left[node], right[node] = a, b
        stack[sp, 0], stack[sp, 1], stack[sp, 2] = a, s, mid
        stack[sp + 1, 0], stack[sp + 1, 1], stack[sp + 1, 2] = b, mid, e
        sp += 2
    return order, left[:n_nodes], right[:n_nodes], first[:n_nodes], count[:n_nodes]


@nb.njit(cache=True)
def _refit(vertices, faces, order, left, right, first, count, pad):
    """(n_nodes, 6) boxes (lo xyz, hi xyz) of every node for these vertex positions."""
    m = left.shape[0]
    box = np.empty((m, 6))
    for node in range(m - 1, -1, -1):
        if left[node] < 0:
            for k in range(3):
                box[node, k] = np.inf
                box[node, 3 + k] = -np.inf
            for i in range(first[node], first[node] + count[node]):
                f = order[i]
                for c in range(3):
                    v = faces[f, c]
                    for k in range(3):
                        x = vertices[v, k]
                        box[node, k] = min(box[node, k], x - pad)
                        box[node, 3 + k] = max(box[node, 3 + k], x + pad)
        else:
            a, b = left[node], right[node]
            for k in range(3):
                box[node, k] = min(box[a, k], box[b, k])
                box[node, 3 + k] = max(box[a, 3 + k], box[b, 3 + k])
    return box


@nb.njit(cache=True)
def _field_boxes(ref, fb, fc, b, k):
    """(n_nodes, 6) boxes ref + b fb + k fc per bound, with fc's lo and hi swapped for k < 0
    (b >= 0): :meth:`MovingBVH.refit_field`."""
    m = ref.shape[0]
    out = np.empty((m, 6))
    sw = 3 if k < 0 else 0
    for i in nb.prange(m):
        for c in range(6):
            out[i, c] = ref[i, c] + b * fb[i, c] + k * fc[i, (c + sw) % 6]
    return out


@nb.njit(cache=True, inline="always")
def _enter(box, node, ox, oy, oz, ix, iy, iz):
    """Ray parameter where the ray (origin o, inverse direction i) enters the node's box (inf
    if it misses)."""
    a, b = (box[node, 0] - ox) * ix, (box[node, 3] - ox) * ix
    t0, t1 = min(a, b), max(a, b)
    a, b = (box[node, 1] - oy) * iy, (box[node, 4] - oy) * iy
    t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
    a, b = (box[node, 2] - oz) * iz, (box[node, 5] - oz) * iz
    t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
    t0 = max(t0, 0.0)
    return t0 if t1 >= t0 else np.inf


@nb.njit(cache=True, parallel=True)
def _cast(org, dirs, vertices, faces, order, left, right, first, count, box):
    n = dirs.shape[0]
    out = np.full(n, -1, np.int64)
    for r in nb.prange(n):
        d = dirs[r]
        dx, dy, dz = d[0], d[1], d[2]
        ox, oy, oz = org[0], org[1], org[2]
        ix = 1.0 / dx if dx != 0.0 else 1e300
        iy = 1.0 / dy if dy != 0.0 else 1e300
        iz = 1.0 / dz if dz != 0.0 else 1e300
        best = np.inf
        hit = -1
        stack = np.empty(128, np.int64)
        enter = np.empty(128)  # each stacked node's entry parameter (tested again on pop)
        sp = 0
        t_root = _enter(box, 0, ox, oy, oz, ix, iy, iz)
        if t_root < np.inf:
            stack[0], enter[0] = 0, t_root
            sp = 1
        while sp > 0:
            sp -= 1
            node = stack[sp]
            if enter[sp] >= best:
                continue
            if left[node] < 0:
                for i in range(first[node], first[node] + count[node]):
                    f = order[i]
                    i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
                    ax, ay, az = vertices[i0, 0], vertices[i0, 1], vertices[i0, 2]
                    e1x, e1y, e1z = (vertices[i1, 0] - ax, vertices[i1, 1] - ay,
                                     vertices[i1, 2] - az)
                    e2x, e2y, e2z = (vertices[i2, 0] - ax, vertices[i2, 1] - ay,
                                     vertices[i2, 2] - az)
                    px, py, pz = dy * e2z - dz * e2y, dz * e2x - dx * e2z, dx * e2y - dy * e2x
                    det = e1x * px + e1y * py + e1z * pz
                    if abs(det) < 1e-30:
                        continue
                    tx, ty, tz = ox - ax, oy - ay, oz - az
                    u = (tx * px + ty * py + tz * pz) / det
                    qx, qy, qz = ty * e1z - tz * e1y, tz * e1x - tx * e1z, tx * e1y - ty * e1x
                    v = (dx * qx + dy * qy + dz * qz) / det
                    t = (e2x * qx + e2y * qy + e2z * qz) / det
                    if u >= -EPS and v >= -EPS and u + v <= 1 + EPS and 0 < t < best:
                        best, hit = t, f
            else:
                a, b = left[node], right[node]
                ta = _enter(box, a, ox, oy, oz, ix, iy, iz)
                tb = _enter(box, b, ox, oy, oz, ix, iy, iz)
                if ta > tb:  # push the far child first: the near one is searched next
                    a, b, ta, tb = b, a, tb, ta
                if tb < best:
                    stack[sp], enter[sp] = b, tb
                    sp += 1
                if ta < best:
                    stack[sp], enter[sp] = a, ta
                    sp += 1
        out[r] = hit
    return out


class MovingBVH:
    """The tree of one mesh's connectivity (``faces`` (F, 3)), built from reference
    ``vertices``; :meth:`refit` to moved vertices, then :meth:`first_hit`."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray) -> None:
        self.faces = np.ascontiguousarray(faces, np.int64)
        v = np.ascontiguousarray(vertices, np.float64)
        cent = v[self.faces].mean(axis=1)
        self.order, self.left, self.right, self.first, self.count = _build(cent, LEAF_FACES)
        self.vertices = self._ref = v
        self.box = _refit(v, self.faces, self.order, self.left, self.right, self.first,
                          self.count, PAD_M)

    def refit(self, vertices: np.ndarray) -> None:
        """Boxes for moved ``vertices`` (same connectivity)."""
        self.vertices = np.ascontiguousarray(vertices, np.float64)
        self.box = _refit(self.vertices, self.faces, self.order, self.left, self.right,
                          self.first, self.count, PAD_M)

    def set_field(self, fb: np.ndarray, fc: np.ndarray) -> None:
        """Prepare :meth:`refit_field` for the motion u = b F_b + k F_c with parts ``fb``,
        ``fc`` (V, 3) at the reference vertices: every node's extents of each part (two
        passes over the tree, once per field)."""
        args = (self.faces, self.order, self.left, self.right, self.first, self.count, 0.0)
        self._ref_box = _refit(self._ref, *args[:-1], PAD_M)
        self._fb_box = _refit(np.ascontiguousarray(fb, np.float64), *args)
        self._fc_box = _refit(np.ascontiguousarray(fc, np.float64), *args)

    def refit_field(self, vertices: np.ndarray, b: float, k: float) -> None:
        """Boxes for ``vertices`` = the reference moved by the field of :meth:`set_field` at
        signals (b >= 0, k), in O(nodes) array operations instead of a pass over the faces:
        per axis the moved extent lies within the sum of the terms' extents (k < 0 swaps
        F_c's lo and hi), so each box still contains its faces (loose by the field parts'
        variation over the node) and the traversal stays exact."""
        if b < 0:
            raise ValueError(f"refit_field: the breathing signal b={b} must be >= 0")
        self.vertices = np.ascontiguousarray(vertices, np.float64)
        self.box = _field_boxes(self._ref_box, self._fb_box, self._fc_box, float(b), float(k))

    def first_hit(self, org: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """First face (-1 none) hit by rays from ``org`` (3,) along ``dirs`` (N, 3)."""
        return _cast(np.ascontiguousarray(org, np.float64),
                     np.ascontiguousarray(dirs, np.float64), self.vertices, self.faces,
                     self.order, self.left, self.right, self.first, self.count, self.box)
