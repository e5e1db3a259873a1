"""preview.mp4: the modalities of a sequence side by side (RGB | depth | normals |
segmentation | forward flow), H.264 through :func:`room.fileio.write_mp4` (bit-exact,
single-threaded settings: the same frames give the same bytes)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from room.fileio import write_mp4

PREVIEW_PANELS = ("rgb", "depth", "normals", "segmentation", "flow_fwd")


def colorize_depth(depth: np.ndarray, far: float) -> np.ndarray:
    """Turbo colour map of depth over the fixed range 0..far (black = no hit)."""
    v = np.clip(depth / far, 0, 1)
    img = cv2.applyColorMap((255 * (1 - v) ** 2).astype(np.uint8), cv2.COLORMAP_TURBO)[..., ::-1]
    img = img.copy()
    img[depth == 0] = 0
    return img


def colorize_normals(n: np.ndarray) -> np.ndarray:
    img = ((n + 1.0) * 127.5).astype(np.uint8)
    img[~np.any(n != 0, axis=-1)] = 0
    return img


def colorize_labels(seg: np.ndarray) -> np.ndarray:
    """Stable pseudo-random colour per id (golden-ratio hue walk); background black."""
    ids = seg.astype(np.int64)
    hue = ((ids * 0.61803398875) % 1.0 * 179).astype(np.uint8)
    hsv = np.stack([hue, np.full_like(hue, 200), np.full_like(hue, 230)], axis=-1)
    img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    img[seg < 0] = 0
    return img


def colorize_flow(flow: np.ndarray, valid: np.ndarray, max_px: float | None = None) -> np.ndarray:
    """Middlebury-style HSV: hue = direction, value = magnitude (max_px saturates)."""
    mag, ang = cv2.cartToPolar(flow[..., 0].astype(np.float32), flow[..., 1].astype(np.float32))
    scale = max_px or max(float(mag[valid].max(initial=0.0)), 1e-6)
    hsv = np.stack([(ang * 90 / np.pi).astype(np.uint8), np.full(mag.shape, 255, np.uint8),
                    (np.clip(mag / scale, 0, 1) * 255).astype(np.uint8)], axis=-1)
    img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    img[~valid] = 0
    return img


def preview_row(d: dict[str, np.ndarray], mods: list[str], far: float, width: int,
                size: int) -> np.ndarray:
    """One preview row from decoded modalities ``d`` (as SequenceReader.read returns them):
    each of ``mods`` coloured and resized to size x size, side by side."""
    panels = []
    for m in mods:
        if m == "rgb":
            img = d[m]
        elif m == "depth":
            img = colorize_depth(d[m], far)
        elif m == "normals":
            img = colorize_normals(d[m])
        elif m == "segmentation":
            img = colorize_labels(d[m])
        else:
            img = colorize_flow(d[m], d["flow_fwd_valid"], max_px=0.05 * width)
        panels.append(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA))
    return np.concatenate(panels, axis=1)


def panel_modalities(modalities) -> list[str]:
    return [m for m in PREVIEW_PANELS if m in modalities]


def preview_panels(reader, i: int, size: int) -> np.ndarray:
    """The preview row of frame i of a written sequence, decoded from its files."""
    mods = panel_modalities(reader.modalities)
    d = reader.read(i, mods + (["flow_fwd_valid"] if "flow_fwd" in mods else []))
    return preview_row(d, mods, reader.intrinsics.far, reader.intrinsics.width, size)


def preview_edge(size: int) -> int:
    """Panel edge in pixels: a multiple of 16 (H.264 macroblocks, no encoder rescaling)."""
    return max(16, int(size) // 16 * 16)


def write_preview(seq_path: Path, out_file: Path, size: int = 192, fps: int = 10,
                  rows: dict[int, np.ndarray] | None = None) -> None:
    """Render the preview of a written sequence to ``out_file`` atomically. ``rows`` holds
    preview rows already made from the in-memory frames (identical to decoding the files);
    the other frames are decoded from disk."""
    from room.data.reader import SequenceReader

    reader = SequenceReader(seq_path)
    size = preview_edge(size)
    rows = rows or {}
    frames = (rows[i] if i in rows else preview_panels(reader, i, size)
              for i in range(len(reader)))
    write_mp4(out_file, frames, fps=fps, crf=23)
