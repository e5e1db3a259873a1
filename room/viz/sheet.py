"""Contact sheet of a dataset sequence: N frames (rows) x modalities (columns) with labels, a
flow colour wheel and a depth colour bar as legends, and the camera trajectory on the centerline
tree with the shown frames marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from room.viz import panels, treeplot


def pick_frames(n_total: int, n: int) -> list[int]:
    """``n`` frame indices spread evenly over 0..n_total-1 (first and last included)."""
    if n_total <= 0:
        return []
    n = max(1, min(n, n_total))
    return sorted({int(round(x)) for x in np.linspace(0, n_total - 1, n)})


def contact_sheet(reader, n_frames: int = 6, modalities: Sequence[str] | None = None,
                  panel_in: float = 1.6, dpi: int = 100, tree=None,
                  title: str | None = None) -> Figure:
    """Figure of ``n_frames`` evenly spaced frames of ``reader`` (a SequenceReader).

    ``modalities``: columns (default: those of VIEW_MODALITIES the sequence has). ``tree``: a
    CenterlineTree to draw under the trajectory (None: trajectory alone). Colour scales are
    shared by all rows (see panels.sequence_scales)."""
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
    grid = outer[0].subgridspec(rows, cols, wspace=0.02, hspace=0.04)
    for r, i in enumerate(idx):
        data = reader.read(i, panels.needed_modalities(mods))
        for c, m in enumerate(mods):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(panels.modality_panel(data, m, scales), interpolation="nearest")
            if m.startswith("flow") and not data[f"{m}_valid"].any():
                ax.text(0.5, 0.5, "no flow\n(end of sequence)" if m == "flow_fwd" else
                        "no flow\n(first frame)", color="w", fontsize=7, ha="center",
                        va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(panels.TITLES.get(m, m), fontsize=9)
            if c == 0:
                ax.set_ylabel(f"#{i}  t={reader.times[i]:.2f} s", fontsize=8)
    _side(fig, outer[1], reader, idx, mods, scales, tree)
    fig.suptitle(title or _title(reader), fontsize=10, x=0.01, y=1 - 0.1 / h_in, ha="left",
                 va="top")
    return fig


def _title(reader) -> str:
    k = reader.intrinsics
    scene = (reader.info.get("scene") or {}).get("id", "?")
    return (f"{scene} / {reader.path.name}: {len(reader)} frames, {k.width}x{k.height} px, "
            f"fx={k.fx:.0f} px")


def _side(fig, spec, reader, idx, mods, scales, tree) -> None:
    legends = [m for m in ("depth", "flow_fwd") if m in mods]
    side = spec.subgridspec(3, 2, height_ratios=[0.9, 2.0, 2.0], hspace=0.45, wspace=0.3)
    if "flow_fwd" in legends:
        ax = fig.add_subplot(side[0, 1])
        ax.imshow(panels.flow_wheel(96, scales.flow_max_px))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"flow, rim {scales.flow_max_px:.1f} px", fontsize=7)
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
        treeplot._style(ax, plane)
        if tree is None and r == 0:
            ax.set_title("coronal (no centerline tree: pass scene=DIR)", fontsize=7)


def save_contact_sheet(reader, out: str | Path, **kwargs) -> Path:
    """Write :func:`contact_sheet` to ``out`` (PNG) atomically; returns the path."""
    import os

    out = Path(out)
    fig = contact_sheet(reader, **kwargs)
    tmp = out.with_name(f".{out.stem}.tmp.png")
    fig.savefig(tmp, format="png", metadata={"Software": None})
    os.replace(tmp, out)
    return out
