"""Shared fixtures: tiny analytic scenes, the shared-data folder, CLI runner; the GL check
behind the ``gl`` marker."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from room.paths import REPO_ROOT, shared_data_dir

# Creates one context the way the renderer does (room.render.gl picks EGL or OSMesa). Exit code
# 3: room reports no usable headless platform (RenderError); anything else is a bug to surface.
_GL_PROBE = """
import sys
from room.errors import RenderError
from room.render import gl
try:
    ctx = gl.Context()
except RenderError as e:
    print(e, file=sys.stderr)
    sys.exit(3)
print(ctx.info)
ctx.close()
"""


@functools.cache
def _gl_probe() -> tuple[int, str]:
    """Exit code and output of _GL_PROBE, run once per session in a subprocess, so this process
    never binds PyOpenGL to a platform (room.render.gl chooses it on first use)."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get(
        "PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-c", _GL_PROBE], capture_output=True, text=True,
                       env=env, cwd=REPO_ROOT, timeout=300)
    return p.returncode, (p.stderr or p.stdout).strip()


def require_gl() -> None:
    """Skip when no headless GL platform (EGL or OSMesa) can create a context here; fail on any
    other error. With ROOM_TEST_REQUIRE_GL=1 (``make test``, which installs the GL libraries)
    a missing platform fails too, so CI never skips the GL tests silently."""
    code, out = _gl_probe()
    if code == 0:
        return
    if code == 3 and not os.environ.get("ROOM_TEST_REQUIRE_GL"):
        pytest.skip(f"no headless OpenGL platform: {out[-300:]}")
    pytest.fail(f"GL context check failed (exit {code}):\n{out[-3000:]}", pytrace=False)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Tests marked ``gl`` (and their fixtures, which set up after this) need a GL platform."""
    if item.get_closest_marker("gl") is not None:
        require_gl()


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
