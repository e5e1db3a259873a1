"""view.mp4 of a sequence: per frame, the modalities side by side (shared colour scales) and the
trajectory on the centerline tree with the current camera marked; a header names the columns and
shows the flow colour wheel. Encoded like the data stage's preview (H.264, bit-exact settings)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from room.fileio import write_mp4
from room.viz import panels
from room.viz.treeplot import TrajectoryPanel

HEADER_PX = 28
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _label(img: np.ndarray, text: str, x: int, y: int, scale: float = 0.45) -> None:
    cv2.putText(img, text, (x, y), FONT, scale, (20, 20, 20), 1, cv2.LINE_AA)


class ViewComposer:
    """Builds the video frames of one sequence. ``size``: panel edge in pixels (rounded down to
    a multiple of 16 for the encoder); ``tree``: CenterlineTree or None."""

    def __init__(self, reader, size: int = 192, modalities: Sequence[str] | None = None,
                 tree=None, trajectory: bool = True):
        self.reader = reader
        self.size = max(16, int(size) // 16 * 16)
        self.mods = panels.available(reader, modalities or panels.VIEW_MODALITIES)
        if not self.mods:
            raise ValueError(f"{reader.path} has none of the modalities to view")
        n = len(reader)
        self.scales = panels.sequence_scales(reader, sorted({0, n // 2, max(n - 2, 0)}))
        self.traj = (TrajectoryPanel(tree, reader.poses, self.size, times=reader.times)
                     if trajectory and n > 0 else None)
        w = self.size * len(self.mods) + (self.traj.image.shape[1] if self.traj else 0)
        self.width = -(-w // 16) * 16
        self.height = -(-(self.size + HEADER_PX) // 16) * 16
        self.header = self._header()

    def _header(self) -> np.ndarray:
        h = self.height - self.size
        img = np.full((h, self.width, 3), 255, np.uint8)
        for k, m in enumerate(self.mods):
            x = k * self.size + 4
            title = panels.TITLES.get(m, m)
            if m == "depth":
                title += f" 0-{self.scales.depth_max_m * 1e3:.0f} mm"
            _label(img, title, x, h - 9)
            if m.startswith("flow"):
                wheel = panels.flow_wheel(h - 4, self.scales.flow_max_px)
                x0 = (k + 1) * self.size - wheel.shape[1] - 2
                img[2:2 + wheel.shape[0], x0:x0 + wheel.shape[1]] = wheel
                _label(img, f"{self.scales.flow_max_px:.0f}px", x0 - 38, h - 9, 0.4)
        if self.traj is not None:
            _label(img, "trajectory on centerline tree", len(self.mods) * self.size + 4, h - 9)
        return img

    def frame(self, i: int) -> np.ndarray:
        """(height, width, 3) uint8 video frame i."""
        data = self.reader.read(i, panels.needed_modalities(self.mods))
        row = [panels.resize(panels.modality_panel(data, m, self.scales), self.size,
                             nearest=m == "segmentation") for m in self.mods]
        if self.traj is not None:
            row.append(self.traj.draw(i))
        body = np.concatenate(row, axis=1)
        out = np.full((self.height, self.width, 3), 255, np.uint8)
        out[:self.header.shape[0]] = self.header
        out[self.header.shape[0]:self.header.shape[0] + body.shape[0], :body.shape[1]] = body
        _label(out, f"#{i} t={self.reader.times[i]:.2f}s", 4, self.height - 8)
        return out


def write_view_video(reader, out: str | Path, size: int = 192, fps: int = 10, tree=None,
                     modalities: Sequence[str] | None = None, crf: int = 23) -> Path:
    """Encode every committed frame of ``reader`` into ``out`` (MP4, H.264) atomically."""
    comp = ViewComposer(reader, size, modalities, tree)
    return write_mp4(out, (comp.frame(i) for i in range(len(reader))), fps=fps, crf=crf)
