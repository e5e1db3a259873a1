"""CT slices with the airway mask overlaid: a static grid of slices (matplotlib) and, when
ipywidgets is installed, a slider to scroll through them in Jupyter.

Volumes are room Volumes (``array[z, y, x]``, HU; spacing x y z in metres, LPS, identity or
axis-aligned direction). Slices are drawn in millimetres at their physical aspect, axial with
the patient's left on the image right (radiological), coronal and sagittal with superior up.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

LUNG_WINDOW = (-600.0, 1500.0)  # level, width (HU)
AXES = {"axial": 0, "coronal": 1, "sagittal": 2}


def _slice(volume, plane: str, k: int) -> tuple[np.ndarray, tuple[float, float, float, float],
                                                   bool]:
    """2D slice, its extent in mm (left, right, bottom, top) and whether rows grow upwards."""
    a = volume.array
    sx, sy, sz = np.asarray(volume.spacing) * 1e3
    ox, oy, oz = np.asarray(volume.origin) * 1e3
    nz, ny, nx = a.shape
    if plane == "axial":
        return a[k], (ox, ox + nx * sx, oy + ny * sy, oy), False
    if plane == "coronal":
        return a[:, k, :], (ox, ox + nx * sx, oz, oz + nz * sz), volume.direction[2, 2] >= 0
    if plane == "sagittal":
        return a[:, :, k], (oy, oy + ny * sy, oz, oz + nz * sz), volume.direction[2, 2] >= 0
    raise ValueError(f"plane {plane!r}: choose from {sorted(AXES)}")


def draw_slice(ax, ct, mask=None, plane: str = "axial", index: int | None = None,
               window: tuple[float, float] = LUNG_WINDOW) -> None:
    """One slice on ``ax``: CT in the HU window (level, width), mask as a red translucent fill
    with a yellow contour. ``index`` defaults to the middle slice."""
    n = ct.array.shape[AXES[plane]]
    k = n // 2 if index is None else int(np.clip(index, 0, n - 1))
    img, ext, up = _slice(ct, plane, k)
    level, width = window
    origin = "lower" if up else "upper"
    ax.imshow(img, cmap="gray", vmin=level - width / 2, vmax=level + width / 2, extent=ext,
              origin=origin, interpolation="nearest")
    if mask is not None:
        m, _, _ = _slice(mask, plane, k)
        m = m.astype(bool)
        if m.any():
            rgba = np.zeros((*m.shape, 4), np.float32)
            rgba[m] = (1.0, 0.1, 0.1, 0.35)
            ax.imshow(rgba, extent=ext, origin=origin, interpolation="nearest")
            ax.contour(m.astype(np.float32), levels=[0.5], colors="yellow", linewidths=0.6,
                       extent=ext, origin=origin)
    ax.set_title(f"{plane} {k}/{n - 1}", fontsize=8)
    ax.tick_params(labelsize=6)


def slice_grid(ct, mask=None, plane: str = "axial", n: int = 6,
               window: tuple[float, float] = LUNG_WINDOW, panel_in: float = 2.2,
               indices=None) -> Figure:
    """``n`` evenly spaced slices (or ``indices``) of ``plane`` with the mask overlaid. Where a
    mask is given, the slices span the mask's extent along that axis."""
    ax_i = AXES[plane]
    if indices is None:
        lo, hi = 0, ct.array.shape[ax_i] - 1
        if mask is not None and mask.array.any():
            other = tuple(i for i in range(3) if i != ax_i)
            nz = np.flatnonzero(mask.array.any(axis=other))
            lo, hi = int(nz[0]), int(nz[-1])
        indices = np.linspace(lo, hi, n).round().astype(int)
    cols = min(len(indices), 3)
    rows = -(-len(indices) // cols)
    fig = Figure(figsize=(cols * panel_in, rows * panel_in), dpi=100)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, k in zip(axes, indices, strict=False):
        draw_slice(ax, ct, mask, plane, int(k), window)
    for ax in axes[len(indices):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def slice_browser(ct, mask=None, plane: str = "axial", window=LUNG_WINDOW):
    """An ipywidgets slider over the slices of ``plane`` (Jupyter); without ipywidgets, the
    static :func:`slice_grid`."""
    try:
        import ipywidgets as widgets
    except ImportError:
        return slice_grid(ct, mask, plane, window=window)
    from IPython.display import display

    out = widgets.Output()
    n = ct.array.shape[AXES[plane]]

    def show(k: int) -> None:
        fig = Figure(figsize=(5, 5), dpi=100)
        draw_slice(fig.add_subplot(), ct, mask, plane, k, window)
        out.clear_output(wait=True)
        with out:
            display(fig)

    slider = widgets.IntSlider(value=n // 2, min=0, max=n - 1, description=plane)
    slider.observe(lambda ch: show(ch["new"]), names="value")
    show(n // 2)
    return widgets.VBox([slider, out])
