"""``room-view`` library side: a contact sheet PNG and a view MP4 for each sequence of a dataset
folder (or for one sequence folder)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from room.errors import ConfigError
from room.viz import panels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ViewConfig:
    """Settings of ``room-view`` (conf/view.yaml).

    ``path``: a dataset folder (room-generate's out=DIR) or one sequence folder. ``out``: where
    to write (default: into each sequence folder; else ``out/<sequence path relative to
    path>/``). ``frames``: rows of the contact sheet; ``size``: edge of one video panel in
    pixels; ``scene_dir``: scene folder for the centerline tree (default: the scene cache entry
    of the recipe in info.json, if present). ``breath``: for a breathing sequence (motion in
    info.json) also ``breath.mp4``, the last frame's pose held still over one breath."""

    path: str = ""
    out: str | None = None
    frames: int = 6
    size: int = 192
    fps: int = 10
    sheet: bool = True
    video: bool = True
    scene_dir: str | None = None
    modalities: tuple[str, ...] = panels.VIEW_MODALITIES
    max_sequences: int = 0  # 0 = every sequence under path
    breath: bool = True

    def __post_init__(self) -> None:
        if not self.path:
            raise ConfigError("usage: room-view DIR [out=DIR frames=6 size=192 ...]: DIR is a "
                              "dataset folder (room-generate out=DIR) or a sequence folder")
        if self.frames < 1 or self.size < 16 or self.fps < 1 or self.max_sequences < 0:
            raise ConfigError("need frames >= 1, size >= 16, fps >= 1, "
                              "max_sequences >= 0")
        if not (self.sheet or self.video):
            raise ConfigError("sheet=false and video=false leave nothing to write")
        bad = set(self.modalities) - set(panels.TITLES)
        if bad:
            raise ConfigError(f"unknown modalities {sorted(bad)}; choose from "
                              f"{sorted(panels.TITLES)}")


def view_dataset(cfg: ViewConfig) -> list[Path]:
    """Write the contact sheet and/or video of every sequence; returns the written files."""
    from room.data.reader import SequenceReader
    from room.viz.dataset import sequence_tree, sequences
    from room.viz.sheet import save_contact_sheet
    from room.viz.video import write_view_video

    root = Path(cfg.path)
    seqs = sequences(root)
    if cfg.max_sequences:
        seqs = seqs[:cfg.max_sequences]
    written = []
    for seq in seqs:
        reader = SequenceReader(seq)
        tree = sequence_tree(reader, cfg.scene_dir)
        dest = seq if cfg.out is None else Path(cfg.out) / seq.resolve().relative_to(
            root.resolve())
        dest.mkdir(parents=True, exist_ok=True)
        if cfg.sheet:
            written.append(save_contact_sheet(reader, dest / "contact_sheet.png",
                                              n_frames=cfg.frames, modalities=cfg.modalities,
                                              tree=tree))
        if cfg.video:
            written.append(write_view_video(reader, dest / "view.mp4", cfg.size, cfg.fps, tree,
                                            cfg.modalities))
        if cfg.breath and reader.motion is not None:
            from room.viz.breathing import write_sequence_breath_video

            written.append(write_sequence_breath_video(reader, dest / "breath.mp4"))
        log.info("viewed %s", seq)
    return written
