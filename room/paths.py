"""Where room finds shared reference data and keeps its cache.

- Shared data (real CT crops, appearance statistics) is read in place, never copied: the folder
  given by ``ROOM_SHARED_DATA``, else ``../shared/data`` beside the repository.
- Prepared scenes are cached under ``ROOM_CACHE`` (default ``~/.cache/room``) keyed by a hash of
  the recipe, so the next run reuses them.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def conf_dir() -> Path:
    """The Hydra config tree (``conf/``: one folder per config group, one YAML per preset)."""
    return REPO_ROOT / "conf"


def shared_data_dir() -> Path | None:
    """The shared reference-data folder, or None when it is absent."""
    env = os.environ.get("ROOM_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates += [REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    return None


def cache_dir() -> Path:
    """Cache folder for prepared scenes (created on demand)."""
    d = Path(os.environ.get("ROOM_CACHE", Path.home() / ".cache" / "room"))
    d.mkdir(parents=True, exist_ok=True)
    return d
