"""Preview PNG of a CT with an airway mask: axial, coronal and sagittal slices side by side.

numpy + PIL only. Slices are shown in the radiological convention for an LPS-oriented volume
(identity direction, as :func:`room.anatomy.ct.load_ct` returns): axial with patient left on the
image right and anterior up, coronal and sagittal with superior up. Pixels are stretched to the
physical aspect ratio. The mask is drawn as a translucent red overlay with a yellow outline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from room.anatomy.volume import Volume


def _window(hu: np.ndarray, level: float, width: float) -> np.ndarray:
    g = (hu.astype(np.float32) - (level - width / 2)) / width
    return (np.clip(g, 0, 1) * 255).astype(np.uint8)


def _overlay(gray: np.ndarray, mask: np.ndarray | None, alpha: float = 0.35) -> np.ndarray:
    rgb = np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
    if mask is not None and mask.any():
        m = mask.astype(bool)
        rgb[m] = (1 - alpha) * rgb[m] + alpha * np.array([255, 0, 0])
        edge = m & ~ndimage.binary_erosion(m)
        rgb[edge] = [255, 220, 0]
    return rgb.astype(np.uint8)


def carina_point(mask: Volume) -> np.ndarray:
    """(z, y, x) voxel index near the carina: follow the trachea's 2D component down from the
    most superior mask slice (each slice's component overlapping the one above) until it splits
    into two sizeable parts; return that slice with the trachea centre above it. Falls back to
    the mask centroid when there is no split (a single tube)."""
    m = mask.array.astype(bool)
    zs = np.flatnonzero(m.any(axis=(1, 2)))
    if len(zs) == 0:
        return np.array(m.shape) // 2
    order = zs[::-1] if mask.direction[2, 2] >= 0 else zs  # superior first
    lab, n = ndimage.label(m[order[0]])
    sizes = np.bincount(lab.ravel())[1:]
    prev = lab == (np.argmax(sizes) + 1)
    area0 = int(prev.sum())
    centre = np.round(ndimage.center_of_mass(prev)).astype(int)
    for z in order[1:]:
        lab, n = ndimage.label(m[z])
        touch = np.unique(lab[ndimage.binary_dilation(prev) & (lab > 0)])
        sizes = np.bincount(lab.ravel(), minlength=n + 1)
        parts = [t for t in touch if sizes[t] >= 0.1 * area0]
        if len(parts) >= 2:
            return np.array([z, *centre])
        if not parts:
            break
        prev = lab == parts[0]
        if prev.sum() <= 1.5 * area0:  # still trachea-like: follow its centre
            centre = np.round(ndimage.center_of_mass(prev)).astype(int)
    return np.round(ndimage.center_of_mass(m)).astype(int)


def save_preview(ct: Volume, mask: Volume | None, path: str | Path,
                 centre_zyx: tuple[int, int, int] | None = None, level: float = -600.0,
                 width: float = 1500.0, panel_px: int = 360, title: str = "") -> Path:
    """Write a PNG with axial, coronal and sagittal slices through ``centre_zyx`` (voxel index,
    default: near the carina of the mask), lung window ``level``/``width`` in HU, mask overlaid.
    Returns the path written."""
    a = ct.array
    m = None if mask is None else mask.array.astype(bool)
    if centre_zyx is None:
        centre_zyx = tuple(carina_point(mask) if mask is not None else np.array(a.shape) // 2)
    cz, cy, cx = (int(np.clip(c, 0, n - 1)) for c, n in zip(centre_zyx, a.shape, strict=True))
    sx, sy, sz = ct.spacing
    flip = ct.direction[2, 2] >= 0  # put superior at the top of coronal/sagittal views
    views = [
        ("axial", a[cz], None if m is None else m[cz], sy / sx),
        ("coronal", a[:, cy, :], None if m is None else m[:, cy, :], sz / sx),
        ("sagittal", a[:, :, cx], None if m is None else m[:, :, cx], sz / sy),
    ]
    panels = []
    for name, img, msk, aspect in views:
        if name != "axial" and flip:
            img = img[::-1]
            msk = None if msk is None else msk[::-1]
        rgb = Image.fromarray(_overlay(_window(img, level, width), msk))
        h, w = img.shape
        scale = panel_px / max(h * aspect, w)
        rgb = rgb.resize((max(1, round(w * scale)), max(1, round(h * aspect * scale))),
                         Image.Resampling.NEAREST)
        canvas = Image.new("RGB", (panel_px, panel_px + 16), (0, 0, 0))
        canvas.paste(rgb, ((panel_px - rgb.width) // 2, 16 + (panel_px - rgb.height) // 2))
        ImageDraw.Draw(canvas).text((4, 2), f"{name} {title}".strip(), fill=(255, 255, 255))
        panels.append(canvas)
    out = Image.new("RGB", (panel_px * 3, panel_px + 16))
    for i, p in enumerate(panels):
        out.paste(p, (i * panel_px, 0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.save(path)
    return path
