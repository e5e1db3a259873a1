"""2D plots of the centerline tree (coloured by generation) with the camera trajectory and an
optional robot shape, in anatomical projections of the world frame (LPS, plotted in mm):

- ``coronal``: x (towards patient left) across, z (superior) up: seen from the front with the
  patient's right on the image left (radiological convention);
- ``sagittal``: y (posterior) across, z up;
- ``axial``: x across, y (posterior) down.

Figures are built with matplotlib's object API (``Figure``, no pyplot state, no backend
switch), so they render headless and still display inline in Jupyter.
:class:`TrajectoryPanel` renders the static plot once and then marks the frame of interest with
OpenCV, so a video costs one plot.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

# plane -> (horizontal world axis, vertical world axis, flip vertical, labels)
PLANES = {
    "coronal": (0, 2, False, "x, patient left (mm)", "z, superior (mm)"),
    "sagittal": (1, 2, False, "y, posterior (mm)", "z, superior (mm)"),
    "axial": (0, 1, True, "x, patient left (mm)", "y, posterior (mm)"),
}
TRAJECTORY_CMAP = "cool"


def generation_cmap(max_generation: int):
    """Discrete colour per generation 0..max_generation (viridis, trachea dark)."""
    return matplotlib.colormaps["viridis"].resampled(max(max_generation + 1, 2))


def project(points: np.ndarray, plane: str) -> np.ndarray:
    """(N, 3) world metres -> (N, 2) plot coordinates in mm for ``plane``."""
    if plane not in PLANES:
        raise ValueError(f"plane {plane!r}: choose from {sorted(PLANES)}")
    h, v = PLANES[plane][:2]
    return np.asarray(points, float)[:, [h, v]] * 1e3


def plot_tree(ax, tree, plane: str = "coronal", max_generation: int | None = None,
              width_per_mm: float = 0.35, label: bool = True) -> None:
    """Draw every branch polyline, colour = generation, line width (points) = 0.5 +
    ``width_per_mm`` x the branch's mean radius in mm."""
    gmax = max(b.generation for b in tree) if max_generation is None else max_generation
    cmap = generation_cmap(gmax)
    segs, colors, widths = [], [], []
    for b in tree:
        if b.generation > gmax or len(b.points) < 2:
            continue
        p = project(b.points, plane)
        segs.append(p)
        colors.append(cmap(b.generation))
        widths.append(0.5 + width_per_mm * 1e3 * float(np.mean(b.radii)))
    ax.add_collection(LineCollection(segs, colors=colors, linewidths=widths, capstyle="round",
                                     zorder=1))
    if label:
        for g in range(gmax + 1):
            ax.plot([], [], color=cmap(g), lw=2, label=f"gen {g}")
    ax.autoscale_view()


def plot_trajectory(ax, positions: np.ndarray, plane: str = "coronal", times=None,
                    marks: Sequence[int] = (), label: str = "camera") -> None:
    """Camera (or tip) positions (N, 3) world metres as a line coloured by time; ``marks``:
    indices annotated with their number."""
    p = project(positions, plane)
    if len(p) == 0:
        return
    t = np.arange(len(p)) if times is None else np.asarray(times, float)
    if len(p) > 1:
        segs = np.stack([p[:-1], p[1:]], 1)
        lc = LineCollection(segs, cmap=TRAJECTORY_CMAP, linewidths=2.0, zorder=3)
        lc.set_array(0.5 * (t[:-1] + t[1:]))
        ax.add_collection(lc)
    ax.scatter(p[:1, 0], p[:1, 1], s=28, c="k", marker="o", zorder=4, label=f"{label} start")
    for k in marks:
        ax.scatter(p[k, 0], p[k, 1], s=14, c="white", edgecolors="k", linewidths=0.6, zorder=5)
        ax.annotate(str(k), p[k], xytext=(3, 3), textcoords="offset points", fontsize=6,
                    zorder=6)


def plot_robot(ax, link_positions: np.ndarray, plane: str = "coronal") -> None:
    """Robot backbone through its link origins (N, 3) world metres."""
    p = project(link_positions, plane)
    ax.plot(p[:, 0], p[:, 1], "-", color="tab:orange", lw=3, alpha=0.9, zorder=4, label="robot")
    ax.plot(p[-1:, 0], p[-1:, 1], "o", color="tab:red", ms=4, zorder=5)


def style_axes(ax, plane: str, compact: bool = False) -> None:
    _, _, flip, xl, yl = PLANES[plane]
    ax.set_aspect("equal", adjustable="datalim")
    if not compact:
        ax.set_xlabel(xl, fontsize=7)
        ax.set_ylabel(yl, fontsize=7)
    ax.set_title(plane, fontsize=8)
    ax.tick_params(labelsize=6)
    ax.grid(alpha=0.25, lw=0.5)
    if flip:
        ax.invert_yaxis()


def trajectory_figure(tree=None, positions: np.ndarray | None = None,
                      planes: Sequence[str] = ("coronal", "sagittal"), times=None,
                      robot_links: np.ndarray | None = None, marks: Sequence[int] = (),
                      size_in: tuple[float, float] | None = None, dpi: int = 100,
                      title: str | None = None, legend: bool = True,
                      zoom_margin_m: float | None = None, compact: bool = False,
                      path_label: str = "camera") -> Figure:
    """One axes per plane: tree (if given), trajectory (if given), robot (if given).
    ``zoom_margin_m``: limit the view to the trajectory's bounding box plus this margin;
    ``compact``: no axis labels (small video panels); ``path_label``: legend name of the
    positions (camera, tip, ...)."""
    if tree is None and positions is None:
        raise ValueError("trajectory_figure needs a tree, positions or both")
    n = len(planes)
    fig = Figure(figsize=size_in or (3.2 * n, 3.6), dpi=dpi)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, plane in zip(axes, planes, strict=True):
        if tree is not None:
            plot_tree(ax, tree, plane)
        if positions is not None:
            plot_trajectory(ax, positions, plane, times, marks, label=path_label)
        if robot_links is not None:
            plot_robot(ax, robot_links, plane)
        style_axes(ax, plane, compact)
        if zoom_margin_m is not None and positions is not None:
            zoom_to(ax, project(positions, plane), zoom_margin_m * 1e3)
    if tree is not None and legend:
        axes[-1].legend(fontsize=6, loc="best", framealpha=0.7)
    if title:
        fig.suptitle(title, fontsize=8)
    if compact:
        fig.subplots_adjust(left=0.12, right=0.98, bottom=0.08, top=0.9, wspace=0.25)
    else:
        fig.tight_layout()
    return fig


def zoom_to(ax, p: np.ndarray, margin_mm: float) -> None:
    """Square view of the plotted points ``p`` (N, 2) mm plus ``margin_mm``."""
    lo, hi = p.min(0) - margin_mm, p.max(0) + margin_mm
    c, half = (lo + hi) / 2, (hi - lo).max() / 2
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlim(c[0] - half, c[0] + half)
    if ax.yaxis_inverted():
        ax.set_ylim(c[1] + half, c[1] - half)
    else:
        ax.set_ylim(c[1] - half, c[1] + half)


def figure_to_array(fig: Figure) -> np.ndarray:
    """Render a matplotlib figure to an (H, W, 3) uint8 RGB array (Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


class TrajectoryPanel:
    """Static tree + trajectory plot rendered once; :meth:`draw` marks frame i's camera
    position (and its viewing direction) with OpenCV for each video frame."""

    def __init__(self, tree, poses: np.ndarray, height: int,
                 planes: Sequence[str] = ("coronal", "sagittal"), times=None,
                 zoom_margin_m: float | None = 0.03):
        self.poses = np.asarray(poses, float)
        dpi = 100
        h_in = height / dpi
        fig = trajectory_figure(tree, self.poses[:, :3, 3], planes, times,
                                size_in=(h_in * 0.95 * len(planes), h_in), dpi=dpi,
                                legend=False, zoom_margin_m=zoom_margin_m, compact=True)
        self.image = figure_to_array(fig)
        self._axes = [(ax, plane) for ax, plane in zip(fig.axes, planes, strict=True)]
        self._h = self.image.shape[0]
        # the direction marker: 4 mm along the optical axis (z of T_world_cam)
        self._pix = [self._to_pixels(self.poses[:, :3, 3])]
        self._pix.append(self._to_pixels(self.poses[:, :3, 3] + 4e-3 * self.poses[:, :3, 2]))

    def _to_pixels(self, points: np.ndarray) -> list[np.ndarray]:
        out = []
        for ax, plane in self._axes:
            disp = ax.transData.transform(project(points, plane))
            out.append(np.column_stack([disp[:, 0], self._h - disp[:, 1]]))
        return out

    def draw(self, i: int) -> np.ndarray:
        import cv2

        img = self.image.copy()
        for k in range(len(self._axes)):
            p = tuple(int(round(c)) for c in self._pix[0][k][i])
            q = tuple(int(round(c)) for c in self._pix[1][k][i])
            cv2.line(img, p, q, (220, 30, 30), 2, cv2.LINE_AA)
            cv2.circle(img, p, 5, (220, 30, 30), -1, cv2.LINE_AA)
            cv2.circle(img, p, 5, (0, 0, 0), 1, cv2.LINE_AA)
        return img
