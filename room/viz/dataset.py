"""Open what a view needs from a dataset folder: the sequences, and the centerline tree of the
scene a sequence was rendered from (never prepared here: read from a scene folder or from the
scene cache that room-generate filled)."""

from __future__ import annotations

import logging
from pathlib import Path

from room.errors import DatasetError

log = logging.getLogger(__name__)


def sequences(path: str | Path) -> list[Path]:
    """Sequence folders at or under ``path`` (every frame committed); raises DatasetError with
    what to do when there is none."""
    from room.data.reader import find_sequences

    p = Path(path)
    if not p.exists():
        raise DatasetError(f"{p} does not exist; pass a dataset folder written by room-generate "
                           "(out=DIR) or one of its sequence folders")
    if not p.is_dir():
        raise DatasetError(f"{p} is a file; pass a dataset folder or a sequence folder")
    found = find_sequences(p)
    if not found:
        partial = find_sequences(p, include_incomplete=True)
        hint = (f" ({len(partial)} incomplete sequence(s) found: finish them with room-generate "
                "or read them with include_incomplete)") if partial else ""
        raise DatasetError(f"{p} holds no complete room sequence (no <sequence>/info.json with "
                           f"all frames committed){hint}; pass the out=DIR of room-generate")
    return found


def sequence_tree(reader, scene_dir: str | Path | None = None):
    """The :class:`~room.anatomy.tree.CenterlineTree` of the sequence's scene, or None.

    ``scene_dir``: a scene folder (``tree.json`` inside). Otherwise the folder the dataset was
    generated from (info.json ``scene.dir``), else the recipe stored in info.json looked up in
    the scene cache (room.anatomy.prepare); nothing is prepared, so a view never starts a long
    scene preparation."""
    from room.anatomy.tree import CenterlineTree

    recorded = (reader.info.get("scene") or {}).get("dir")
    if scene_dir is None and recorded and (Path(recorded) / "tree.json").is_file():
        scene_dir = recorded
    if scene_dir is not None:
        f = Path(scene_dir) / "tree.json"
        if not f.exists():
            raise DatasetError(f"{scene_dir} is not a scene folder (no tree.json); pass the "
                               "folder written by room-prepare or AirwayScene.save")
        return CenterlineTree.load(f)
    recipe = (reader.info.get("scene") or {}).get("recipe")
    if not recipe:
        return None
    try:
        from room.anatomy.prepare import SceneConfig, scene_cache_path
        from room.config import to_dataclass

        path = scene_cache_path(to_dataclass(SceneConfig, recipe))
    except Exception as e:  # an older/newer recipe schema: the view still works without it
        log.info("scene recipe of %s not usable (%s); no centerline tree", reader.path, e)
        return None
    f = path / "tree.json"
    return CenterlineTree.load(f) if f.exists() else None
