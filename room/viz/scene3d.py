"""3D view of an airway scene: the (decimated) lumen surface, semi-transparent or cut away, the
centerline tree coloured by generation, the robot backbone and camera frustums along a
trajectory. Rendered with matplotlib's mplot3d (Agg, no GL) to a Figure / PNG; for interactive
inspection in Jupyter, :func:`trimesh_scene` builds a ``trimesh.Scene`` (call ``.show()``).

World frame LPS in metres; plots are labelled in millimetres.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from room.viz.treeplot import generation_cmap

TISSUE_RGB = np.array([0.86, 0.55, 0.52])  # mucosa pink, shaded by the light below
LIGHT_DIR = np.array([0.3, -0.6, 0.75])  # from the front-left-top (LPS)


def decimated(mesh, max_faces: int = 3000):
    """A copy of ``mesh`` with at most ``max_faces`` faces (quadric decimation)."""
    if len(mesh.faces) <= max_faces:
        return mesh
    return mesh.simplify_quadric_decimation(face_count=int(max_faces))


def face_generations(tree, centroids: np.ndarray) -> np.ndarray:
    """Generation of the centerline sample nearest to each face centroid (N,)."""
    from scipy.spatial import cKDTree

    pts, _, ids = tree.all_points()
    gen = np.array([tree.branches[int(i)].generation for i in ids])
    return gen[cKDTree(pts).query(centroids)[1]]


def _frustum_lines(T: np.ndarray, intrinsics=None, depth_m: float = 0.006) -> np.ndarray:
    """(8, 2, 3) line segments of a camera pyramid: apex at the optical centre, base at
    ``depth_m`` along +z (OpenCV camera), spanning the image (90 deg if no intrinsics)."""
    if intrinsics is not None:
        w, h = intrinsics.width, intrinsics.height
        xs = np.array([-intrinsics.cx, w - 1 - intrinsics.cx]) / intrinsics.fx
        ys = np.array([-intrinsics.cy, h - 1 - intrinsics.cy]) / intrinsics.fy
    else:
        xs = ys = np.array([-1.0, 1.0])
    corners = np.array([[xs[0], ys[0], 1], [xs[1], ys[0], 1], [xs[1], ys[1], 1],
                        [xs[0], ys[1], 1]]) * depth_m
    c = corners @ T[:3, :3].T + T[:3, 3]
    o = T[:3, 3]
    segs = [(o, c[k]) for k in range(4)] + [(c[k], c[(k + 1) % 4]) for k in range(4)]
    return np.array(segs)


def robot_points(robot) -> np.ndarray:
    """(N, 3) backbone points from a SimState (link poses + tip), an (N, 4, 4) pose stack or
    (N, 3) points."""
    if hasattr(robot, "link_poses"):
        pts = np.asarray(robot.link_poses)[:, :3, 3]
        tip = getattr(robot, "T_world_tip", None)
        return pts if tip is None else np.vstack([pts, np.asarray(tip)[:3, 3]])
    a = np.asarray(robot, float)
    return a[:, :3, 3] if a.ndim == 3 else a


def scene_figure(scene, poses: np.ndarray | None = None, robot=None, intrinsics=None,
                 max_faces: int = 3000, alpha: float = 0.25, cutaway: bool = False,
                 frustum_every: int = 1, frustum_depth_m: float = 0.006,
                 elev: float = 12.0, azim: float = -75.0, size_in: tuple[float, float] = (6, 6),
                 dpi: int = 100, title: str | None = None,
                 zoom: Sequence[float] | None = None) -> Figure:
    """The scene in 3D. ``poses``: (N, 4, 4) T_world_cam (trajectory + frustums every
    ``frustum_every``-th); ``robot``: see :func:`robot_points`; ``cutaway``: drop the anterior
    half of the surface (y below the lumen's middle) so the inside shows; ``zoom``: (centre
    x, y, z, half-width) in metres to frame a region."""
    from mpl_toolkits.mplot3d.art3d import Line3DCollection, Poly3DCollection

    fig = Figure(figsize=size_in, dpi=dpi)
    ax = fig.add_subplot(projection="3d")
    ax.computed_zorder = False  # surface first, then lines on top (cut-away / translucent)
    m = decimated(scene.mesh, max_faces)
    tri = np.asarray(m.vertices)[np.asarray(m.faces)] * 1e3  # mm
    normals = np.asarray(m.face_normals)
    keep = np.ones(len(tri), bool)
    if cutaway:
        keep &= tri[:, :, 1].mean(1) >= np.median(np.asarray(m.vertices)[:, 1]) * 1e3
    if zoom is not None:  # faces inside the zoom box only (mplot3d draws outside the limits)
        c, h = np.asarray(zoom[:3]) * 1e3, float(zoom[3]) * 1e3
        keep &= np.all(np.abs(tri.mean(1) - c) <= h, axis=1)
    tri, normals = tri[keep], normals[keep]
    gens = face_generations(scene.tree, tri.mean(1) * 1e-3)
    gmax = max(b.generation for b in scene.tree)
    cmap = generation_cmap(gmax)
    light = LIGHT_DIR / np.linalg.norm(LIGHT_DIR)
    shade = 0.35 + 0.65 * np.abs(normals @ light)  # two-sided: normals point into the lumen
    tint = 0.75 * TISSUE_RGB + 0.25 * np.array([cmap(g)[:3] for g in gens])
    colors = np.column_stack([np.clip(tint * shade[:, None], 0, 1), np.full(len(tri), alpha)])
    ax.add_collection3d(Poly3DCollection(tri, facecolors=colors, edgecolors=colors,
                                         linewidths=0.15, zorder=1), axlim_clip=True)
    for b in scene.tree:
        p = b.points * 1e3
        ax.plot(p[:, 0], p[:, 1], p[:, 2], color=cmap(b.generation),
                lw=1.0 + 0.25 * 1e3 * b.radius_m, axlim_clip=True, zorder=2)
    if poses is not None and len(poses):
        poses = np.asarray(poses, float)
        c = poses[:, :3, 3] * 1e3
        ax.plot(c[:, 0], c[:, 1], c[:, 2], color="tab:red", lw=1.5, label="camera path",
                axlim_clip=True, zorder=3)
        segs = np.concatenate([_frustum_lines(T, intrinsics, frustum_depth_m)
                               for T in poses[::max(1, frustum_every)]]) * 1e3
        if zoom is not None:
            c, h = np.asarray(zoom[:3]) * 1e3, float(zoom[3]) * 1e3
            segs = segs[np.all(np.abs(segs - c) <= h, axis=(1, 2))]
        ax.add_collection3d(Line3DCollection(segs, colors="#202020", linewidths=0.7, zorder=3),
                            axlim_clip=True)
    if robot is not None:
        r = robot_points(robot) * 1e3
        ax.plot(r[:, 0], r[:, 1], r[:, 2], color="tab:orange", lw=4, label="robot",
                axlim_clip=True, zorder=4)
    _frame(ax, np.asarray(scene.mesh.bounds) * 1e3, zoom)
    ax.view_init(elev=elev, azim=azim)
    ax.set_xlabel("x, left (mm)", fontsize=7)
    ax.set_ylabel("y, posterior (mm)", fontsize=7)
    ax.set_zlabel("z, superior (mm)", fontsize=7)
    ax.tick_params(labelsize=6)
    for g in range(gmax + 1):
        ax.plot([], [], color=cmap(g), lw=2, label=f"gen {g}")
    ax.legend(fontsize=6, loc="upper left", ncols=2 if gmax > 4 else 1, framealpha=0.7)
    if title:
        ax.set_title(title, fontsize=9)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.95 if title else 1)
    return fig


def _frame(ax, bounds_mm: np.ndarray, zoom) -> None:
    if zoom is not None:
        c, h = np.asarray(zoom[:3]) * 1e3, float(zoom[3]) * 1e3
        lo, hi = c - h, c + h
    else:
        lo, hi = bounds_mm
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_zlim(lo[2], hi[2])
    ax.set_box_aspect(hi - lo)
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_pane_color((0.97, 0.97, 0.97, 1.0))
        axis._axinfo["grid"]["color"] = (0.85, 0.85, 0.85, 1.0)


def save_scene_view(scene, out: str | Path, **kwargs) -> Path:
    """:func:`scene_figure` written to ``out`` (PNG)."""
    out = Path(out)
    scene_figure(scene, **kwargs).savefig(out, format="png", metadata={"Software": None})
    return out


def trimesh_scene(scene, poses: np.ndarray | None = None, robot=None, intrinsics=None,
                  alpha: float = 0.35, frustum_depth_m: float = 0.006):
    """Interactive ``trimesh.Scene`` (``.show()`` in Jupyter opens a WebGL viewer): the mesh,
    the centerline tree coloured by generation, camera frustums and the robot backbone."""
    import trimesh

    s = trimesh.Scene()
    mesh = scene.mesh.copy()
    rgba = np.append(TISSUE_RGB * 255, alpha * 255).astype(np.uint8)
    mesh.visual = trimesh.visual.ColorVisuals(mesh, face_colors=np.tile(rgba, (len(mesh.faces),
                                                                                1)))
    s.add_geometry(mesh, geom_name="airway")
    cmap = generation_cmap(max(b.generation for b in scene.tree))
    for b in scene.tree:
        if len(b.points) > 1:
            col = (np.array(cmap(b.generation)) * 255).astype(np.uint8)
            path = trimesh.load_path(b.points)
            path.colors = np.tile(col, (len(path.entities), 1))
            s.add_geometry(path, geom_name=f"branch_{b.id}")
    if poses is not None and len(poses):
        segs = np.concatenate([_frustum_lines(T, intrinsics, frustum_depth_m) for T in poses])
        s.add_geometry(trimesh.load_path(segs), geom_name="frustums")
    if robot is not None:
        s.add_geometry(trimesh.load_path(robot_points(robot)), geom_name="robot")
    return s
