"""Shared fixtures: tiny analytic scenes, the shared-data folder, CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from room.paths import REPO_ROOT, shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared reference-data folder; tests that need it skip when it is absent."""
    d = shared_data_dir()
    if d is None:
        pytest.skip("../shared/data is absent (real CT and appearance data are not shipped)")
    return d


@pytest.fixture(scope="session")
def tube():
    """Straight cylindrical airway, radius 9 mm, length 120 mm, along +z (inward normals)."""
    from room.anatomy.synthetic import tube_scene

    return tube_scene()


@pytest.fixture(scope="session")
def yscene():
    """Y-bifurcation: trachea along +z splitting into left (+x) and right (-x) bronchi."""
    from room.anatomy.synthetic import y_scene

    return y_scene()


@pytest.fixture(scope="session")
def saved_yscene(yscene, tmp_path_factory):
    """The Y-bifurcation written to a scene folder (some consumers need files)."""
    yscene.save(tmp_path_factory.mktemp("scenes") / "y")
    return yscene


@pytest.fixture
def run_cli(tmp_path):
    """Run ``python -m MODULE ARGS`` with this checkout importable; returns CompletedProcess."""

    def run(module: str, *args: str, check: bool = False, timeout: float = 600, **kw):
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env.setdefault("ROOM_CACHE", str(tmp_path / "cache"))
        env.update(kw.pop("env", {}))
        return subprocess.run(
            [sys.executable, "-m", module, *args], capture_output=True, text=True,
            env=env, cwd=kw.pop("cwd", tmp_path), timeout=timeout, check=check, **kw,
        )

    return run
