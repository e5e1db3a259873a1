"""Breathing previews: the same camera pose rendered over one breath (a video and a strip),
showing the airway wall move, widen and narrow around a fixed scope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from room.data.preview import colorize_depth


def breath_frames(renderer: Any, T_world_cam: np.ndarray, n: int = 24,
                  carry: bool = False) -> tuple[list[Any], np.ndarray]:
    """``n`` frames of one breathing period (renderer made with a motion) at the pose
    ``T_world_cam`` (planned in the reference anatomy), and their times (s). ``carry``: move
    the camera with the tissue (as datasets do); else the scope is held still in the world."""
    from room.anatomy.motion import move_pose

    m = renderer.motion
    if m is None:
        raise ValueError("breath_frames needs a renderer made with motion=...; see "
                         "room.anatomy.motion.make_motion")
    times = np.arange(n) * (m.period / n)
    frames = [renderer.render(move_pose(m, T_world_cam, t) if carry else T_world_cam,
                              index=k, time_s=float(t)) for k, t in enumerate(times)]
    return frames, times


def breath_panels(frames: list[Any], far: float | None = None) -> list[np.ndarray]:
    """Per frame, RGB beside colour-coded depth (one shared depth scale)."""
    if far is None:
        dep = np.concatenate([f.depth[f.depth > 0] for f in frames])
        far = max(float(np.percentile(dep, 98)) if dep.size else 0.1, 1e-3)
    return [np.concatenate([f.rgb, colorize_depth(f.depth, far)], axis=1) for f in frames]


def write_breath_video(renderer: Any, T_world_cam: np.ndarray, out: str | Path, n: int = 24,
                       fps: int = 8, carry: bool = False) -> Path:
    """MP4 of :func:`breath_frames` (RGB | depth), cropped to multiples of 16 px."""

    return _write_panels(breath_frames(renderer, T_world_cam, n, carry)[0], out, fps)


def sequence_breath_frames(reader: Any, n: int = 24, frame: int = -1) -> list[Any]:
    """Frame ``frame``'s camera pose (default: the last, deepest, where the airway moves
    most) of a breathing sequence held still in the world over one breath of its recorded
    motion: ``n`` Frames drawn from the scene info.json records with the sequence's camera
    and render settings (config.yaml). DatasetError for a rigid sequence."""
    from omegaconf import OmegaConf

    from room.config import to_dataclass
    from room.errors import DatasetError
    from room.render import CameraConfig, RenderConfig, make_renderer

    if reader.motion is None:
        raise DatasetError(f"{reader.path} is a rigid sequence (no motion in info.json): "
                           "nothing breathes")
    cfg = OmegaConf.to_container(OmegaConf.load(Path(reader.path) / "config.yaml"))
    camera = to_dataclass(CameraConfig, cfg["camera"])
    render = to_dataclass(RenderConfig, {**cfg["render"], "backend": "raster"})
    with make_renderer(reader.reference_scene(), camera, render, motion=reader.motion) as rnd:
        return breath_frames(rnd, reader.poses[frame], n)[0]


def write_sequence_breath_video(reader: Any, out: str | Path, n: int = 24, fps: int = 8,
                                frame: int = -1) -> Path:
    """``room-view``'s breath.mp4 of a breathing sequence: :func:`sequence_breath_frames` as
    RGB | depth, cropped to multiples of 16 px."""
    return _write_panels(sequence_breath_frames(reader, n, frame), out, fps)


def _write_panels(frames: list[Any], out: str | Path, fps: int) -> Path:
    from room.fileio import write_mp4

    panels = breath_panels(frames)
    h, w = (d // 16 * 16 for d in panels[0].shape[:2])
    return write_mp4(out, (p[:h, :w] for p in panels), fps=fps)
