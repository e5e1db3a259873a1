"""Contact sheet of a dataset sequence: N frames (rows) x modalities (columns) with labels, a
flow colour wheel and a depth colour bar as legends, and the camera trajectory on the centerline
tree with the shown frames marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from room.fileio import atomic_path
from room.viz import panels, treeplot


def pick_frames(n_total: int, n: int) -> list[int]:
    """``n`` frame indices spread evenly over 0..n_total-1 (first and last included)."""
    if n_total <= 0:
        return []
    n = max(1, min(n, n_total))
    return sorted({int(round(x)) for x in np.linspace(0, n_total - 1, n)})


def contact_sheet(reader, n_frames: int = 6, modalities: Sequence[str] | None = None,
                  panel_in: float = 1.6, dpi: int = 100, tree=None,
                  title: str | None = None, zoom_margin_m: float | None = 0.04) -> Figure:
    """Figure of ``n_frames`` evenly spaced frames of ``reader`` (a SequenceReader).

    ``modalities``: columns (default: those of VIEW_MODALITIES the sequence has). ``tree``: a
    CenterlineTree to draw under the trajectory (None: trajectory alone); ``zoom_margin_m``:
    frame the trajectory plus this margin (None: the whole tree). Colour scales are shared by
    all rows (see panels.sequence_scales)."""
    idx = pick_frames(len(reader), n_frames)
    if not idx:
        raise ValueError(f"{reader.path} has no committed frame")
    mods = panels.available(reader, modalities or panels.VIEW_MODALITIES)
    if not mods:
        raise ValueError(f"{reader.path} has none of the modalities {modalities}")
    scales = panels.sequence_scales(reader, idx)
    rows, cols = len(idx), len(mods)
    side_w = 2.0 * panel_in
    h_in = rows * panel_in + 1.0
    fig = Figure(figsize=(cols * panel_in + side_w + 0.6, h_in), dpi=dpi)
    outer = fig.add_gridspec(1, 2, width_ratios=[cols * panel_in, side_w], wspace=0.1,
                             left=0.03, right=0.99, top=1 - 0.6 / h_in, bottom=0.4 / h_in)
    # one mosaic image (a single imshow is several times faster than rows x cols axes)
    px = max(16, int(round(panel_in * dpi)) - 4)
    gap = 4
    mosaic = np.full((rows * (px + gap) - gap, cols * (px + gap) - gap, 3), 255, np.uint8)
    ax = fig.add_subplot(outer[0])
    for r, i in enumerate(idx):
        data = reader.read(i, panels.needed_modalities(mods))
        y = r * (px + gap)
        for c, m in enumerate(mods):
            x = c * (px + gap)
            mosaic[y:y + px, x:x + px] = panels.resize(panels.modality_panel(data, m, scales),
                                                       px, nearest=m == "segmentation")
            if m.startswith("flow") and not data[f"{m}_valid"].any():
                ax.text(x + px / 2, y + px / 2, "no flow\n(end of sequence)" if m == "flow_fwd"
                        else "no flow\n(first frame)", color="w", fontsize=7, ha="center",
                        va="center")
        ax.text(-6, y + px / 2, f"#{i}  t={reader.times[i]:.2f} s", rotation=90, fontsize=8,
                ha="right", va="center", gid="row_label")
    for c, m in enumerate(mods):
        ax.text(c * (px + gap) + px / 2, -8, panels.TITLES.get(m, m), fontsize=9, ha="center",
                va="bottom")
    ax.imshow(mosaic, interpolation="nearest")
    ax.axis("off")
    _side(fig, outer[1], reader, idx, mods, scales, tree, zoom_margin_m)
    fig.suptitle(title or _title(reader), fontsize=10, x=0.01, y=1 - 0.1 / h_in, ha="left",
                 va="top")
    return fig


def _title(reader) -> str:
    k = reader.intrinsics
    scene = (reader.info.get("scene") or {}).get("id", "?")
    return (f"{scene} / {reader.path.name}: {len(reader)} frames, {k.width}x{k.height} px, "
            f"fx={k.fx:.0f} px")


def _side(fig, spec, reader, idx, mods, scales, tree, zoom_margin_m) -> None:
    legends = [m for m in ("depth", "flow_fwd", "scene_flow") if m in mods]
    side = spec.subgridspec(3, 2, height_ratios=[0.9, 2.0, 2.0], hspace=0.5, wspace=0.35)
    if "flow_fwd" in legends:
        ax = fig.add_subplot(side[0, 1])
        ax.imshow(panels.flow_wheel(96, scales.flow_max_px))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"flow, rim {scales.flow_max_px:.1f} px", fontsize=7)
    if "scene_flow" in legends:  # the scale in the suptitle's corner: R, G, B = x, y, z
        mm = scales.scene_flow_max_m * 1e3
        fig.text(0.99, 0.995, f"scene flow: grey = still, full R/G/B = +{mm:.3f} mm along "
                 "camera x/y/z", fontsize=7, ha="right", va="top")
    if "depth" in legends:
        ax = fig.add_subplot(side[0, 0])
        ramp = np.linspace(1e-6, scales.depth_max_m, 256, dtype=np.float32)[None].repeat(12, 0)
        from room.data.preview import colorize_depth

        ax.imshow(colorize_depth(ramp, scales.depth_max_m), aspect="auto",
                  extent=(0, scales.depth_max_m * 1e3, 0, 1))
        ax.set_yticks([])
        ax.tick_params(labelsize=6)
        ax.set_title("depth (mm)", fontsize=7)
    pos = reader.poses[:, :3, 3]
    for r, plane in enumerate(("coronal", "sagittal")):
        ax = fig.add_subplot(side[1 + r, :])
        if tree is not None:
            treeplot.plot_tree(ax, tree, plane, label=False)
        treeplot.plot_trajectory(ax, pos, plane, reader.times, marks=idx)
        treeplot.style_axes(ax, plane)
        if zoom_margin_m is not None:
            treeplot.zoom_to(ax, treeplot.project(pos, plane), zoom_margin_m * 1e3)
        if tree is None and r == 0:
            ax.set_title("coronal (no centerline tree: pass scene=DIR)", fontsize=7)


def save_contact_sheet(reader, out: str | Path, **kwargs) -> Path:
    """Write :func:`contact_sheet` to ``out`` (PNG) atomically; returns the path."""
    return save_figure(contact_sheet(reader, **kwargs), out)


def strip_figure(data: dict[str, np.ndarray], modalities: Sequence[str] | None = None,
                 scales: panels.Scales | None = None, panel_in: float = 2.0, dpi: int = 100,
                 title: str | None = None) -> Figure:
    """One row: each modality of one frame's data (``reader.read(i, ...)`` or
    :func:`room.viz.panels.frame_data`) with its title."""
    mods = [m for m in (modalities or ("rgb", "depth", "normals", "flow_fwd", "segmentation"))
            if m in data]
    scales = scales or panels.data_scales(data)
    top = 0.35 + (0.25 if title else 0.0)
    fig = Figure(figsize=(len(mods) * panel_in, panel_in + top), dpi=dpi)
    fig.subplots_adjust(left=0.005, right=0.995, bottom=0.01, top=1 - top / (panel_in + top),
                        wspace=0.03)
    axes = fig.subplots(1, len(mods), squeeze=False)[0]
    for ax, m in zip(axes, mods, strict=True):
        ax.imshow(panels.modality_panel(data, m, scales), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        t = panels.TITLES.get(m, m)
        if m == "depth":
            t += f" (0-{scales.depth_max_m * 1e3:.0f} mm)"
        elif m.startswith("flow"):
            t += f" (rim {scales.flow_max_px:.1f} px)"
        ax.set_title(t, fontsize=9)
    if "flow_fwd" in mods:  # the wheel as an inset in the flow panel's corner
        ax = axes[mods.index("flow_fwd")].inset_axes((0.72, 0.72, 0.27, 0.27))
        ax.imshow(panels.flow_wheel(64, scales.flow_max_px))
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.05 / (panel_in + top), va="top")
    return fig


def frame_figure(frame, flow: tuple[np.ndarray, np.ndarray] | None = None,
                 title: str | None = None) -> Figure:
    """Every modality of one rendered :class:`~room.types.Frame` side by side (sensor image,
    clean render, depth, normals, segmentation; forward flow when ``(flow, valid)`` is given)."""
    data = panels.frame_data(frame, flow)
    mods = [m for m in ("rgb", "rgb_clean", "depth", "normals", "flow_fwd", "segmentation")
            if data.get(m) is not None]
    return strip_figure(data, mods, title=title)


def save_figure(fig: Figure, out: str | Path) -> Path:
    """Write a figure to ``out`` (PNG, no timestamp metadata) atomically."""
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    return out


def image_grid(images: Sequence[np.ndarray], titles: Sequence[str] | None = None,
               cols: int = 4, panel_in: float = 2.0, dpi: int = 100) -> Figure:
    """Images (uint8 RGB or float grey) in a grid with optional titles."""
    n = len(images)
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    fig = Figure(figsize=(cols * panel_in, rows * (panel_in + 0.25)), dpi=dpi)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for k, ax in enumerate(axes):
        ax.axis("off")
        if k < n:
            ax.imshow(images[k], interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[k], fontsize=8)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.93, wspace=0.04, hspace=0.15)
    return fig
