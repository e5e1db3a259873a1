"""Where room finds its configs and assets, the shared reference data, and its cache.

- Configs (``conf/``), sensor profiles (``assets/``) and scene recipes (``scenes/``) live at the
  top of the repository and ship inside the package as ``room.conf``, ``room.assets`` and
  ``room.scenes`` (setup.py); they are found through the import system, the same way in a
  regular and an editable install, never through the checkout's path.

- Shared data (real CT crops, appearance statistics) is read in place, never copied: the folder
  given by ``ROOM_SHARED_DATA``, else ``../shared/data`` beside the repository.
- Prepared scenes are cached under ``ROOM_CACHE`` (default ``~/.cache/room``) keyed by a hash of
  the recipe, so the next run reuses them.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _package_data(name: str) -> Path:
    """The folder of the package-data package ``room.<name>``."""
    from room.errors import InstallError

    spec = importlib.util.find_spec(f"room.{name}")
    if spec is None or not spec.submodule_search_locations:
        raise InstallError(f"room.{name} is missing from this installation of room: reinstall "
                           "it (pip install -e . in a checkout, or pip install room-*.whl)")
    return Path(next(iter(spec.submodule_search_locations)))


def conf_dir() -> Path:
    """The Hydra config tree (``conf/``: one folder per config group, one YAML per preset)."""
    return _package_data("conf")


def assets_dir() -> Path:
    """Packaged assets (``assets/``: sensor profiles under ``sensor/``)."""
    return _package_data("assets")


def recipes_dir() -> Path:
    """Packaged scene recipes (``scenes/*.yaml``)."""
    return _package_data("scenes")


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
