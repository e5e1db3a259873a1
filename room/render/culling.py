"""Exact visibility culling for the geometry pass: chunks, frustum test, occlusion rounds.

A camera inside an airway sees 5-15 % of the wall; on a CPU rasterizer (llvmpipe) every
triangle sent down costs time whether it shows or not. The mesh is split once into compact
chunks of at most ``CHUNK_FACES`` triangles (a k-d split of the face centroids), each with an
oriented bounding box. Per frame (:func:`plan`; the GL side is room.render.raster):

1. frustum: chunks whose box lies wholly outside one clip plane are skipped (numpy);
2. round 0 draws the chunks that are near the camera or cut the near plane;
3. each later round (farther distance bands, front to back) draws a chunk's *box* against the
   depth buffer of what is drawn so far (an occlusion query, no colour or depth writes) and
   draws the chunk only where a box fragment passed.

Nothing visible is lost: the box contains the chunk (inflated by ``MARGIN_M``), so every pixel
centre a chunk triangle covers is covered by the box's projection, and the box's front surface
lies in front of the triangle along that pixel's ray; if the triangle would pass the depth test,
so does the box. Boxes that cut the near plane (clipped, hence not conservative) are never
queried but drawn in round 0. The result is the same image as drawing everything (the tests
compare both bit for bit), and since the plan depends on the pose alone, a frame does not
depend on what was rendered before it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK_FACES = 2048
"""Faces per chunk at most. Smaller chunks fit the visible wall more tightly but need more
occlusion queries (each costs llvmpipe some 20-50 us); on the phantom (165k triangles) sizes
from 512 to 4096 measured within noise of each other."""

MARGIN_M = 1e-4
"""Box inflation (m): far above float32 rounding of the corners (~1e-8 m) and the 24-bit depth
quantization at the far plane (~z^2 / (near 2^24) = 7e-6 m at z = 0.25 m, near 0.5 mm), so a
box face in front of a triangle stays in front after rasterization."""

BANDS_M = (0.012, 0.024, 0.048, 0.096)
"""Distance bands (m from the camera centre to a box) of the occlusion rounds: round 0 draws
everything nearer than the first edge; later rounds query one band each, front to back, so
the near lumen wall (drawn first) hides the far branches behind it."""

_BOX_EDGES = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0],
                       [0, 0, 1], [1, 0, 1], [0, 1, 1], [1, 1, 1]], float) * 2.0 - 1.0
BOX_INDICES = np.array([0, 2, 1, 1, 2, 3, 4, 5, 6, 5, 7, 6, 0, 1, 4, 1, 5, 4,
                        2, 6, 3, 3, 6, 7, 0, 4, 2, 2, 4, 6, 1, 3, 5, 3, 7, 5], np.uint32)
"""12 triangles over the 8 corners of a box (corner k has signs ``_BOX_EDGES[k]``), wound so
that their right-hand normals point out of the box (for right-handed box axes)."""


@dataclass
class Chunks:
    """``order``: scene face index of each face in chunk order (chunk c holds faces
    ``order[start[c]:start[c] + count[c]]``); ``center``/``axes``/``half``: oriented boxes
    (C, 3), (C, 3, 3) rows = box axes, (C, 3) half extents incl. the margin (m, the same frame
    as the positions given to :func:`make_chunks`); ``corners`` (C, 8, 3)."""

    order: np.ndarray
    start: np.ndarray
    count: np.ndarray
    center: np.ndarray
    axes: np.ndarray
    half: np.ndarray
    corners: np.ndarray


def make_chunks(positions: np.ndarray, faces: np.ndarray,
                max_faces: int | None = None) -> Chunks:
    """Split faces into spatially compact chunks of at most ``max_faces`` (default
    :data:`CHUNK_FACES`): recursive halving of the face centroids along their widest axis;
    oriented bounding boxes from the principal axes of each chunk's vertices."""
    max_faces = int(max_faces or CHUNK_FACES)
    pos = np.asarray(positions, np.float64)
    faces = np.asarray(faces, np.int64)
    cent = pos[faces].mean(axis=1)
    leaves: list[np.ndarray] = []
    stack = [np.arange(len(faces))]
    while stack:
        idx = stack.pop()
        if idx.size <= max_faces:
            leaves.append(np.sort(idx))  # scene order inside: neighbours share vertices
            continue
        c = cent[idx]
        axis = int(np.argmax(c.max(axis=0) - c.min(axis=0)))
        part = np.argsort(c[:, axis], kind="stable")
        half = idx.size // 2
        stack += [idx[part[half:]], idx[part[:half]]]  # depth first: neighbours stay adjacent
    order = np.concatenate(leaves)
    count = np.array([len(x) for x in leaves], np.int64)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    center, axes, halfs = (np.empty((len(leaves), 3)), np.empty((len(leaves), 3, 3)),
                           np.empty((len(leaves), 3)))
    for k, idx in enumerate(leaves):
        v = pos[np.unique(faces[idx])]
        mean = v.mean(axis=0)
        _, _, vt = np.linalg.svd(v - mean, full_matrices=False)
        if np.linalg.det(vt) < 0:  # right-handed axes: BOX_INDICES wind outward
            vt[2] *= -1.0
        local = (v - mean) @ vt.T
        lo, hi = local.min(axis=0), local.max(axis=0)
        center[k] = mean + 0.5 * (lo + hi) @ vt
        axes[k] = vt
        halfs[k] = 0.5 * (hi - lo) + MARGIN_M
    corners = center[:, None, :] + np.einsum("ej,cj,cjk->cek", _BOX_EDGES, halfs, axes)
    return Chunks(order=order, start=start, count=count, center=center, axes=axes, half=halfs,
                  corners=corners)


def plan(chunks: Chunks, cam_world: np.ndarray, proj: np.ndarray, near: float,
         bands: tuple[float, ...] | None = None) -> list[np.ndarray]:
    """Chunk indices per round for the camera ``cam_world`` (OpenCV camera <- the positions'
    frame) and GL projection ``proj``: [round 0 (draw), band 1 (query), ...]; chunks outside
    the view frustum appear in none. Later lists are sorted by distance."""
    R, t = cam_world[:3, :3], cam_world[:3, 3]
    pc = np.einsum("cej,ij->cei", chunks.corners, R) + t  # camera-frame corners (C, 8, 3)
    clip = np.einsum("cej,ij->cei", pc, proj[:, :3]) + proj[:, 3]
    w = clip[..., 3]
    out = ((clip[..., 0] < -w).all(1) | (clip[..., 0] > w).all(1) | (clip[..., 1] < -w).all(1)
           | (clip[..., 1] > w).all(1) | (clip[..., 2] < -w).all(1) | (clip[..., 2] > w).all(1))
    cam = -R.T @ t  # camera centre in the positions' frame
    local = np.einsum("ckj,cj->ck", chunks.axes, cam - chunks.center)
    dist = np.linalg.norm(np.maximum(np.abs(local) - chunks.half, 0.0), axis=1)
    cuts_near = (pc[..., 2] <= near * 1.01).any(axis=1)
    cand = np.flatnonzero(~out)
    edges = (-np.inf, *(BANDS_M if bands is None else bands), np.inf)
    rounds = [cand[cuts_near[cand] | (dist[cand] < edges[1])]]
    rest = cand[~(cuts_near[cand] | (dist[cand] < edges[1]))]
    for lo, hi in zip(edges[1:-1], edges[2:], strict=True):
        sel = rest[(dist[rest] >= lo) & (dist[rest] < hi)]
        rounds.append(sel[np.argsort(dist[sel], kind="stable")])
    return rounds


def ranges(chunks: Chunks, ids: np.ndarray) -> list[tuple[int, int]]:
    """(first face, face count) draw ranges of the chunks ``ids``, merging consecutive chunks."""
    out: list[tuple[int, int]] = []
    for c in np.sort(ids):
        s, n = int(chunks.start[c]), int(chunks.count[c])
        if out and out[-1][0] + out[-1][1] == s:
            out[-1] = (out[-1][0], out[-1][1] + n)
        else:
            out.append((s, n))
    return out


@dataclass
class ChunkVertices:
    """The vertices of each chunk (for refitting its box after the mesh moved): ``vertex``
    (N,) vertex indices grouped by chunk, ``chunk`` (N,) their chunk, ``start`` (C,) offsets."""

    vertex: np.ndarray
    chunk: np.ndarray
    start: np.ndarray


def chunk_vertices(chunks: Chunks, faces: np.ndarray) -> ChunkVertices:
    """Each chunk's distinct vertices; ``faces`` (F, 3) in scene face order."""
    f = np.asarray(faces, np.int64)[chunks.order]
    cid = np.repeat(np.arange(len(chunks.start)), chunks.count * 3)
    n_v = int(f.max()) + 1
    key = np.unique(cid * n_v + f.ravel())
    chunk, vertex = key // n_v, key % n_v
    return ChunkVertices(vertex=vertex, chunk=chunk,
                         start=np.searchsorted(chunk, np.arange(len(chunks.start))))


def refit(chunks: Chunks, cv: ChunkVertices, positions: np.ndarray) -> Chunks:
    """The chunks' boxes refitted to moved vertex ``positions`` (same frame as before): the
    same box axes, centre and half extents from the chunk's vertices now (plus ``MARGIN_M``),
    so every box again contains its chunk exactly as :func:`make_chunks` makes it, and culling
    stays exact for the moved mesh."""
    from room.render.kernels import chunk_extents

    lo, hi = chunk_extents(np.ascontiguousarray(positions, np.float64), cv.vertex, cv.start,
                           np.ascontiguousarray(chunks.axes), np.ascontiguousarray(chunks.center))
    return _boxes(chunks, lo, hi)


def _boxes(chunks: Chunks, lo: np.ndarray, hi: np.ndarray) -> Chunks:
    """``chunks`` with boxes spanning [lo, hi] (C, 3) along their axes about their old
    centres, inflated by ``MARGIN_M``."""
    center = chunks.center + np.einsum("cj,cjk->ck", 0.5 * (lo + hi), chunks.axes)
    half = 0.5 * (hi - lo) + MARGIN_M
    corners = center[:, None, :] + np.einsum("ej,cj,cjk->cek", _BOX_EDGES, half, chunks.axes)
    return Chunks(order=chunks.order, start=chunks.start, count=chunks.count, center=center,
                  axes=chunks.axes, half=half, corners=corners)


@dataclass
class ChunkField:
    """Extents (C, 3) along each chunk's box axes, over the chunk's vertices: of the reference
    positions relative to the box centre (``ref``) and of the two spatial parts of a motion
    field u = b F_b + k F_c (``fb``, ``fc``; m per unit signal). :func:`refit_field` bounds
    the moved chunks with them."""

    ref_lo: np.ndarray
    ref_hi: np.ndarray
    fb_lo: np.ndarray
    fb_hi: np.ndarray
    fc_lo: np.ndarray
    fc_hi: np.ndarray


def chunk_field(chunks: Chunks, cv: ChunkVertices, positions: np.ndarray, fb: np.ndarray,
                fc: np.ndarray) -> ChunkField:
    """The :class:`ChunkField` of reference vertex ``positions`` (V, 3) (the frame of
    ``chunks``) and the field's parts ``fb``, ``fc`` (V, 3) at those vertices (once per
    field: three passes over the chunks' vertices)."""
    from room.render.kernels import chunk_extents

    axes = np.ascontiguousarray(chunks.axes)
    zero = np.zeros_like(chunks.center)
    ext = [chunk_extents(np.ascontiguousarray(x, np.float64), cv.vertex, cv.start, axes, c)
           for x, c in ((positions, np.ascontiguousarray(chunks.center)), (fb, zero),
                        (fc, zero))]
    return ChunkField(*ext[0], *ext[1], *ext[2])


def refit_field(chunks: Chunks, cf: ChunkField, b: float, k: float) -> Chunks:
    """Boxes that contain every chunk of the mesh moved by u = b F_b + k F_c (b >= 0), in
    O(chunks) instead of a pass over the vertices: along a box axis a, a moved vertex is at
    a . (x - c) + b a . F_b + k a . F_c, whose minimum over the chunk is at least the sum of
    the terms' minima (``b`` >= 0 keeps F_b's extent in order; k < 0 swaps F_c's), and
    likewise for the maximum. The bound is loose by at most the variation of the field's parts
    over a chunk (the chunk's size times the parts' gradient bound), so culling stays exact
    (every box still contains its chunk) and only a few more boxes pass the occlusion test."""
    if b < 0:
        raise ValueError(f"refit_field: the breathing signal b={b} must be >= 0")
    c_lo, c_hi = (cf.fc_lo, cf.fc_hi) if k >= 0 else (cf.fc_hi, cf.fc_lo)
    lo = cf.ref_lo + b * cf.fb_lo + k * c_lo
    hi = cf.ref_hi + b * cf.fb_hi + k * c_hi
    return _boxes(chunks, lo, hi)
