"""Airway lumen mask -> centerline tree (branches, radii, generations), metres, world frame (LPS).

Pipeline (:func:`extract_centerline`):

1. largest connected component, enclosed cavities filled, cropped to its bounding box;
2. distance to the nearest background voxel centre (KD-tree over the lumen's background shell);
3. 3D thinning (skimage ``skeletonize``, Lee's method) -> 26-connected voxel graph -> node graph
   (junction voxel clusters and end points are nodes, the voxel chains between them are edges).
   The graph is built here with numpy + networkx rather than skan: skan's numba kernels cost
   about 4 s of JIT compilation in every new process on these machines, more than the whole
   graph step;
4. cycles broken (minimum spanning tree), spurs pruned (terminal edges shorter than
   ``spur_factor`` x the lumen radius at their junction), degree-2 chains merged, repeatedly;
5. rooted at the trachea: the end point highest along world +z (superior in LPS) among the wide
   ones, or the end point nearest ``root_hint``; edges oriented proximal -> distal; generation =
   depth in the tree (trachea 0);
6. each branch resampled and refined to sub-voxel accuracy: interior stations move to the
   centroid of the lumen cross-section (a slab normal to the local tangent), which also gives the
   radius from the cross-section area (r = sqrt(A / pi)); stations near a bifurcation, where the
   cross-section is not a disk, keep the smoothed skeleton position and take the radius from the
   distance to the nearest background voxel centre.

Working coordinates are "scaled index" coordinates, ``(z, y, x) * spacing`` in metres; they are
mapped to world once at the end (the direction matrix is a rotation, so lengths are preserved).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from room.anatomy.centerline_eval import compare_trees, resample_polyline
from room.anatomy.mesh import crop_padded
from room.anatomy.tree import NO_PARENT, Branch, CenterlineTree
from room.anatomy.volume import Volume
from room.errors import ConfigError, SegmentationError

__all__ = ["CenterlineConfig", "compare_trees", "extract_centerline", "name_main_branches"]

# 13 half-neighbourhood offsets of the 26-neighbourhood (each undirected pair found once)
_HALF26 = np.array(
    [(dz, dy, dx) for dz in (-1, 0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
     if (dz, dy, dx) > (0, 0, 0)]
)


@dataclass(frozen=True)
class CenterlineConfig:
    """Centerline extraction settings (lengths relative to voxels or local radius)."""

    spur_factor: float = 1.5  # prune terminal edges shorter than this x junction radius
    min_branch_vox: float = 3.0  # ...and any terminal edge shorter than this many voxels
    smooth_sigma_vox: float = 2.0  # Gaussian smoothing of the skeleton polyline (arc length)
    step_vox: float = 1.0  # output point spacing along a branch, voxels (at least)
    step_radius: float = 0.5  # ...or this fraction of the local radius, whichever is larger
    refine: bool = True  # move interior stations to the cross-section centroid
    slab_vox: float = 1.0  # half-thickness of the cross-section slab, voxels

    def __post_init__(self) -> None:
        for name in ("spur_factor", "min_branch_vox", "smooth_sigma_vox", "slab_vox"):
            if getattr(self, name) < 0:
                raise ConfigError(f"centerline.{name} must be >= 0")
        if self.step_vox <= 0 or self.step_radius < 0:
            raise ConfigError("centerline.step_vox must be > 0 and step_radius >= 0")


# --------------------------------------------------------------------------- skeleton graph


def _voxel_graph(skel: np.ndarray, sp: np.ndarray) -> tuple[np.ndarray, nx.Graph]:
    """26-connected graph of skeleton voxels: nodes are row indices into the returned (N, 3)
    voxel index array; edge weight = metric length. Neighbours are found by binary search in
    the sorted linear indices (no dense label array). The skeleton must not touch the array
    border (the caller pads the mask)."""
    idx = np.argwhere(skel)  # row-major order: linear indices come out sorted
    lin = np.ravel_multi_index(idx.T, skel.shape)
    strides = np.array([skel.shape[1] * skel.shape[2], skel.shape[2], 1])
    g = nx.Graph()
    g.add_nodes_from(range(len(idx)))
    for off in _HALF26:
        target = lin + int(off @ strides)
        pos = np.minimum(np.searchsorted(lin, target), len(lin) - 1)
        ok = lin[pos] == target
        w = float(np.linalg.norm(off * sp))
        g.add_weighted_edges_from(zip(np.flatnonzero(ok).tolist(), pos[ok].tolist(),
                                      [w] * int(ok.sum()), strict=True))
    return idx, g


def _node_graph(idx: np.ndarray, vg: nx.Graph, sp: np.ndarray) -> nx.MultiGraph:
    """Contract the voxel graph: clusters of junction voxels (degree >= 3) and end voxels
    (degree 1) become nodes with ``pos`` (metres, scaled zyx); chains between them become edges
    with ``path`` (points from node u to node v, metres) and ``length``."""
    deg = dict(vg.degree())
    junction = [v for v, d in deg.items() if d >= 3]
    node_of: dict[int, int] = {}
    g = nx.MultiGraph()
    clusters = list(nx.connected_components(vg.subgraph(junction)))
    clusters += [{v} for v, d in deg.items() if d == 1]
    for k, c in enumerate(clusters):
        members = sorted(c)
        g.add_node(k, pos=(idx[members] * sp).mean(axis=0))
        for v in members:
            node_of[v] = k
    seen: set[tuple[int, int]] = set()
    for v0, k in node_of.items():
        for nb in vg.neighbors(v0):
            if nb in node_of or (v0, nb) in seen:
                continue
            chain, prev, cur = [nb], v0, nb
            while cur not in node_of:
                nxt = [w for w in vg.neighbors(cur) if w != prev]
                if not nxt:
                    break
                prev, cur = cur, nxt[0]
                chain.append(cur)
            if cur not in node_of:
                continue  # dangling (cannot happen for degree-2 chains, kept as a guard)
            seen.add((cur, prev))
            end = node_of[cur]
            pts = np.vstack([g.nodes[k]["pos"], idx[chain[:-1]] * sp, g.nodes[end]["pos"]])
            _add_edge(g, k, end, pts)
    # chains between two voxels of one node or two adjacent nodes (no interior voxel)
    for a, b in vg.edges():
        ka, kb = node_of.get(a), node_of.get(b)
        if ka is not None and kb is not None and ka != kb and not g.has_edge(ka, kb):
            _add_edge(g, ka, kb, np.vstack([g.nodes[ka]["pos"], g.nodes[kb]["pos"]]))
    return g


def _add_edge(g: nx.MultiGraph, u: int, v: int, pts: np.ndarray) -> None:
    if u == v:
        return  # a loop through one junction: closed by the cycle breaking anyway
    length = float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())
    g.add_edge(u, v, path=pts, length=length, u=u)


def _edge_path(data: dict, start: int) -> np.ndarray:
    """Edge polyline oriented to start at node ``start``."""
    return data["path"] if data["u"] == start else data["path"][::-1]


def _break_cycles(g: nx.MultiGraph) -> nx.MultiGraph:
    """Keep a minimum spanning forest (the longest edge of every loop goes)."""
    simple = nx.Graph()
    simple.add_nodes_from(g.nodes(data=True))
    for u, v, d in g.edges(data=True):
        if not simple.has_edge(u, v) or simple[u][v]["length"] > d["length"]:
            simple.add_edge(u, v, **d)
    return nx.MultiGraph(nx.minimum_spanning_tree(simple, weight="length"))


def _merge_chains(g: nx.MultiGraph) -> None:
    """Merge every degree-2 node into one edge (in place)."""
    for n in [n for n in g.nodes if g.degree(n) == 2]:
        if n not in g or g.degree(n) != 2:
            continue
        (_, a, da), (_, b, db) = list(g.edges(n, data=True))
        if a == n or b == n or a == b:
            continue
        pa = _edge_path(da, a)
        pb = _edge_path(db, n)
        g.remove_node(n)
        _add_edge(g, a, b, np.vstack([pa, pb[1:]]))


def _prune(g: nx.MultiGraph, dist, cfg: CenterlineConfig, voxel: float,
           keep: frozenset[int] = frozenset()) -> None:
    """Remove spurs and merge chains until nothing changes (in place).

    A spur is a terminal edge shorter than ``spur_factor`` x the width (median radius) of the
    widest other edge at its junction: a measure of the local lumen that is not fooled by a
    junction node sitting near a wall or an end face. End nodes in ``keep`` (open ends where
    the airway leaves the field of view) stay."""
    while True:
        _merge_chains(g)
        spurs = []
        for n in list(g.nodes):
            if g.degree(n) != 1 or n in keep:
                continue
            (_, j, k0, d), = g.edges(n, keys=True, data=True)
            if g.degree(j) < 3:
                continue
            others = [float(np.median(dist(e["path"])))
                      for _, v, k, e in g.edges(j, keys=True, data=True)
                      if not (v == n and k == k0)]
            limit = max(cfg.spur_factor * max(others), cfg.min_branch_vox * voxel)
            if d["length"] < limit:
                spurs.append((d["length"], n, j))
        if not spurs:
            break
        done_j: set[int] = set()
        for _, n, j in sorted(spurs):  # shortest first; one per junction per pass
            if j in done_j:
                continue
            g.remove_node(n)
            done_j.add(j)
    g.remove_nodes_from([n for n in list(g.nodes) if g.degree(n) == 0])


def _open_ends(crop: np.ndarray, lo: np.ndarray, shape: tuple[int, ...],
               sp: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """Where the lumen leaves the volume: (centroid in scaled crop coordinates, equivalent
    radius in metres) of each patch of lumen voxels on a face of the original volume."""
    from scipy import ndimage

    out = []
    for ax in range(3):
        for c in (-lo[ax], shape[ax] - 1 - lo[ax]):
            if not 0 <= c < crop.shape[ax]:
                continue
            face = np.take(crop, c, axis=ax)
            lab, n = ndimage.label(face)
            if n == 0:
                continue
            px_area = float(np.prod(np.delete(sp, ax)))
            for k, sl in enumerate(ndimage.find_objects(lab), start=1):
                ij = np.argwhere(lab[sl] == k) + [s.start for s in sl]
                if len(ij) < 3:
                    continue
                cen = np.insert(ij.mean(axis=0).astype(float), ax, float(c))
                out.append((cen * sp, float(np.sqrt(len(ij) * px_area / np.pi))))
    return out


# --------------------------------------------------------------------------- public API


def extract_centerline(mask: Volume, cfg: CenterlineConfig | None = None,
                       root_hint: np.ndarray | None = None) -> CenterlineTree:
    """Centerline tree of an airway lumen mask.

    Args:
        mask: lumen mask (non-zero = airway) with its geometry.
        cfg: settings.
        root_hint: optional world point (metres) near the top of the trachea; default: the
            wide end point highest along world +z.

    Returns:
        :class:`CenterlineTree` in metres, world frame; trachea = root (generation 0); main
        bronchi named by side (left = +x in LPS).

    Raises:
        SegmentationError: empty mask or no tree (a blob without a skeleton).
    """
    from skimage.morphology import skeletonize

    cfg = cfg or CenterlineConfig()
    arr = np.asarray(mask.array) > 0
    if not arr.any():
        raise SegmentationError("the airway mask is empty; nothing to extract a centerline from")
    crop, lo = crop_padded(arr, 1)
    crop = _fill_cavities(crop)
    sp = mask.spacing[::-1].copy()  # (z, y, x) metres
    voxel = float(sp.min())
    dist = _Distance(crop, sp)
    skel = skeletonize(crop)
    if skel.sum() < 2:
        raise SegmentationError("the airway mask has no centerline (too small or blob-like)")

    idx, vg = _voxel_graph(skel, sp)
    g = _break_cycles(_node_graph(idx, vg, sp))
    g = g.subgraph(max(nx.connected_components(g), key=len)).copy()
    _merge_chains(g)
    keep = set()
    for centre, r in _open_ends(crop, lo, arr.shape, sp):  # the nearest end node of each
        ends = [n for n in g.nodes if g.degree(n) == 1]
        if ends:
            n = min(ends, key=lambda n: float(np.linalg.norm(g.nodes[n]["pos"] - centre)))
            if np.linalg.norm(g.nodes[n]["pos"] - centre) < 2 * r + 2 * voxel:
                keep.add(n)
    _prune(g, dist, cfg, voxel, keep=frozenset(keep))
    if g.number_of_edges() == 0:
        raise SegmentationError("the airway skeleton collapsed to a point; is the mask a tube?")
    hint = None if root_hint is None else _world_to_scaled(mask, root_hint, lo, sp)
    up = mask.direction[2, ::-1]  # world +z (superior) in scaled (z, y, x) crop coordinates
    root = _find_root(g, dist, hint, up)
    sampler = _Sampler(crop, dist, sp, cfg)
    tree = _orient(g, root, sampler)
    return _to_world(tree, mask, lo, sp)


def _fill_cavities(crop: np.ndarray) -> np.ndarray:
    """Fill background pockets enclosed by the lumen (segmentation noise; they would make
    skeleton loops). The crop has a background border, so the outside is the background
    component of voxel (0, 0, 0); labelling is ~6x cheaper than ``binary_fill_holes``."""
    from scipy import ndimage

    lab, n = ndimage.label(~crop)
    return crop if n <= 1 else lab != lab[0, 0, 0]


class _Distance:
    """Distance (metres) from any point to the nearest background voxel centre.

    Exact and continuous: a KD-tree over the background voxels face-adjacent to the lumen (the
    nearest background voxel of a lumen point always is one: stepping from it towards the
    point along the dominant axis lands in the lumen). Near the axis of a digitized tube this
    distance is the radius to within ~0.2 voxel, since some background voxel centre always lies
    just outside a digitized circle. Much cheaper than a dense distance map of the bounding box,
    of which the airway fills ~1 %.
    """

    def __init__(self, crop: np.ndarray, sp: np.ndarray) -> None:
        from scipy.spatial import cKDTree

        near = np.zeros_like(crop)
        for ax in range(3):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[ax], hi[ax] = slice(0, -1), slice(1, None)
            near[tuple(lo)] |= crop[tuple(hi)]
            near[tuple(hi)] |= crop[tuple(lo)]
        shell = near & ~crop
        self.kd = cKDTree(np.argwhere(shell) * sp)

    def __call__(self, pts: np.ndarray) -> np.ndarray:
        return self.kd.query(np.asarray(pts, float).reshape(-1, 3))[0]


def _world_to_scaled(mask: Volume, p: np.ndarray, lo: np.ndarray, sp: np.ndarray) -> np.ndarray:
    ijk = mask.world_to_index(np.asarray(p, float).reshape(1, 3))[0]
    return (ijk[::-1] - lo) * sp


def _find_root(g: nx.MultiGraph, dist: _Distance, hint: np.ndarray | None,
               up: np.ndarray) -> int:
    """The trachea's end node: the end node nearest ``hint``, else the highest (along ``up``)
    among the end nodes whose edge is wide (median radius >= 0.6 x the widest): wall bumps and
    small bronchi end higher at times, but their edges are narrow."""
    leaves = [n for n in g.nodes if g.degree(n) == 1]
    if not leaves:
        raise SegmentationError("the airway skeleton has no end point (a closed loop?)")
    pos = {n: g.nodes[n]["pos"] for n in leaves}
    if hint is not None:
        return min(leaves, key=lambda n: float(np.linalg.norm(pos[n] - hint)))
    rad = {}
    for n in leaves:
        (_, _, d), = g.edges(n, data=True)
        rad[n] = float(np.median(dist(d["path"])))
    rmax = max(rad.values())
    wide = [n for n in leaves if rad[n] >= 0.6 * rmax]
    return max(wide, key=lambda n: float(pos[n] @ up))


def _orient(g: nx.MultiGraph, root: int, sampler: _Sampler) -> CenterlineTree:
    """Breadth-first from the root: one Branch per edge, ids in BFS order, children sorted by
    their end point (deterministic)."""
    branches: dict[int, Branch] = {}
    queue = [(root, next(iter(g.adj[root])), NO_PARENT, 0)]
    visited = {root}
    next_id = 0
    while queue:
        u, v, parent, gen = queue.pop(0)
        d = min(g.get_edge_data(u, v).values(), key=lambda e: e["length"])
        pts, rad = sampler.branch(_edge_path(d, u), start_is_junction=parent != NO_PARENT,
                                  end_is_junction=g.degree(v) > 1)
        bid = next_id
        next_id += 1
        branches[bid] = Branch(bid, parent, gen, pts, rad)
        if parent != NO_PARENT:
            branches[parent].children.append(bid)
        visited.add(v)
        kids = [w for w in g.adj[v] if w not in visited]
        kids.sort(key=lambda w: tuple(np.round(g.nodes[w]["pos"], 6)))
        queue.extend((v, w, bid, gen + 1) for w in kids)
    return CenterlineTree(branches=branches, root=0)


class _Sampler:
    """Resamples a skeleton polyline, refines stations to cross-section centroids, measures
    radii. Works in scaled zyx coordinates of the crop."""

    def __init__(self, crop: np.ndarray, dist: _Distance, sp: np.ndarray,
                 cfg: CenterlineConfig) -> None:
        self.crop, self.dist, self.sp, self.cfg = crop, dist, sp, cfg
        self.voxel = float(sp.min())


    def branch(self, path: np.ndarray, start_is_junction: bool,
               end_is_junction: bool) -> tuple[np.ndarray, np.ndarray]:
        pts = _smooth(resample_polyline(path, self.voxel), self.cfg.smooth_sigma_vox)
        r_med = float(np.median(self.radius_edt(pts)))
        step = max(self.cfg.step_vox * self.voxel, self.cfg.step_radius * r_med)
        pts = resample_polyline(pts, step)
        rad = self.radius_edt(pts)
        if not self.cfg.refine or len(pts) < 3:
            return pts, rad
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        r_start = self.radius_edt(pts[:1])[0] if start_is_junction else 0.0
        r_end = self.radius_edt(pts[-1:])[0] if end_is_junction else 0.0
        tang = np.gradient(pts, axis=0)
        tang /= np.maximum(np.linalg.norm(tang, axis=1, keepdims=True), 1e-12)
        new = pts.copy()
        for i in range(1, len(pts) - 1):
            c, r = self._section(pts[i], tang[i], rad[i])
            # a section that cuts into a bifurcation is wider than the inscribed sphere says
            # and its centroid is pulled towards the sibling: keep the skeleton there
            if c is None or r > 1.25 * rad[i] + self.voxel:
                continue
            if np.linalg.norm(c - pts[i]) > 0.5 * rad[i] + self.voxel:
                continue
            rad[i] = r
            if r_start <= s[i] <= s[-1] - r_end:
                new[i] = c
        return _smooth(new, 1.0), rad

    def radius_edt(self, pts: np.ndarray) -> np.ndarray:
        """Radius from the distance to the nearest background voxel centre (see _Distance)."""
        return np.maximum(self.dist(pts), 0.5 * self.voxel)

    def _section(self, p: np.ndarray, t: np.ndarray, r0: float):
        """Centroid and area-equivalent radius of the lumen in a slab through p normal to t."""
        reach = 1.4 * r0 + 2 * self.voxel
        lo = np.maximum(np.floor((p - reach) / self.sp).astype(int), 0)
        hi = np.minimum(np.ceil((p + reach) / self.sp).astype(int) + 1, self.crop.shape)
        sub = self.crop[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        vox = (np.argwhere(sub) + lo) * self.sp
        if len(vox) == 0:
            return None, r0
        d = vox - p
        along = d @ t
        radial = np.linalg.norm(d - along[:, None] * t, axis=1)
        h = self.cfg.slab_vox * self.voxel
        sel = (np.abs(along) <= h) & (radial <= reach - self.voxel)
        if sel.sum() < 3:
            return None, r0
        area = sel.sum() * float(np.prod(self.sp)) / (2 * h)
        c = vox[sel].mean(axis=0)
        c = c - ((c - p) @ t) * t  # stay in the section plane
        return c, float(np.sqrt(area / np.pi))


def _smooth(pts: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along the polyline with end points fixed (odd reflection at the ends
    keeps a straight continuation, so the ends do not curl)."""
    from scipy.ndimage import gaussian_filter1d

    if sigma <= 0 or len(pts) < 3:
        return pts
    k = min(len(pts) - 1, int(np.ceil(3 * sigma)))
    head = 2 * pts[0] - pts[k:0:-1]
    tail = 2 * pts[-1] - pts[-2:-k - 2:-1]
    ext = np.vstack([head, pts, tail])
    out = gaussian_filter1d(ext, sigma, axis=0, mode="nearest")[k:k + len(pts)]
    out[0], out[-1] = pts[0], pts[-1]
    return out


def _to_world(tree: CenterlineTree, mask: Volume, lo: np.ndarray, sp: np.ndarray):
    """Map branch points from crop-scaled zyx to world metres; name trachea and main bronchi."""
    for b in tree.branches.values():
        zyx = b.points / sp + lo
        b.points = mask.zyx_to_world(zyx)
    name_main_branches(tree)
    return tree


def name_main_branches(tree: CenterlineTree) -> None:
    """Name the root 'trachea' and its two widest children by side: the one further along world
    +x (patient left in LPS) 'left main bronchus', the other 'right main bronchus'."""
    root = tree.trachea
    root.name = "trachea"
    kids = sorted((tree[c] for c in root.children), key=lambda b: -b.radius_m)[:2]
    if len(kids) == 2:
        a, b = sorted(kids, key=lambda k: k.end[0] - root.end[0], reverse=True)
        a.name, b.name = "left main bronchus", "right main bronchus"
