"""The README's Python blocks run exactly as printed, in a fresh interpreter from an empty folder
(what a new user does after `pip install`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from room.paths import REPO_ROOT


def _python_blocks() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def _run(code: str, cwd, tmp_path) -> subprocess.CompletedProcess:
    env = dict(os.environ, ROOM_CACHE=os.environ.get("ROOM_TEST_CACHE", str(tmp_path / "cache")),
               MPLBACKEND="Agg")
    env.pop("PYTHONPATH", None)  # the installed package, not the checkout
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


def test_readme_has_the_quickstart():
    blocks = _python_blocks()
    assert any("room.load_scene" in b and "room.Simulator" in b for b in blocks)
    assert any("gym.make(\"room/BronchoscopyNav-v0\")" in b for b in blocks)


@pytest.mark.slow
@pytest.mark.gl
def test_python_quickstart_runs_as_printed(tmp_path):
    (code,) = [b for b in _python_blocks() if "room.load_scene" in b]
    work = tmp_path / "work"
    work.mkdir()
    r = _run(code, work, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("frame.png", "scene.png"):
        assert (work / name).stat().st_size > 10_000, name


@pytest.mark.gl
def test_gymnasium_block_runs_as_printed(tmp_path):
    """No `import room` in it: the env id is registered when gymnasium is imported."""
    (code,) = [b for b in _python_blocks() if "gym.make" in b]
    assert "import room" not in code
    r = _run(code, tmp_path, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]


def test_import_room_is_light():
    """`import room` loads no GL, PyBullet, torch or trimesh (its names load on first use)."""
    code = ("import sys, time; t = time.perf_counter(); import room; dt = time.perf_counter() - t;"
            "heavy = [m for m in ('OpenGL', 'pyrender', 'pybullet', 'torch', 'trimesh', 'cv2')"
            " if m in sys.modules]; print(dt, heavy); assert dt < 1.0 and not heavy, (dt, heavy)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
