"""GL platform selection, each case in a fresh process (PyOpenGL binds its platform once)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from room.paths import REPO_ROOT

pytestmark = pytest.mark.gl

RENDER = """
import numpy as np
from room.anatomy.synthetic import y_scene
from room.render import CameraConfig, make_renderer
from room.transforms import look_at
cam = CameraConfig(width=48, height=40, fx=30.0, fy=30.0, cx=23.5, cy=19.5,
                   distortion_model="none")
with make_renderer(y_scene(), cam) as r:
    f = r.render(look_at([0.001, 0, 0.03], [0, 0, 0.1], up=[1, 0, 0]))
print(r.gl_info["platform"], r.gl_info["renderer"])
np.save({out!r}, f.face_id)
"""


def _run(code: str, env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYOPENGL_PLATFORM"}
    env.update(env_extra)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120, cwd=REPO_ROOT)


@pytest.mark.slow
def test_osmesa_fallback_matches_egl(tmp_path):
    """With the pinned PyOpenGL 3.1.0, OSMesa works through room's ctypes context, and gives
    exactly the same triangle ids as EGL (same Mesa rasterizer rules)."""
    import numpy as np

    ids = {}
    for plat in ("egl", "osmesa"):
        out = tmp_path / f"{plat}.npy"
        p = _run(RENDER.format(out=str(out)), {"PYOPENGL_PLATFORM": plat})
        if p.returncode != 0 and plat == "osmesa" and "libOSMesa not found" in p.stderr:
            pytest.skip("libosmesa6 is not installed")
        assert p.returncode == 0, p.stderr[-2000:]
        assert p.stdout.startswith(plat)
        ids[plat] = np.load(out)
    assert np.array_equal(ids["egl"], ids["osmesa"])


def test_non_headless_platform_and_missing_libraries_raise_render_error():
    p = _run("from room.render import gl; gl.platform()", {"PYOPENGL_PLATFORM": "glx"})
    assert p.returncode != 0 and "RenderError" in p.stderr and "egl" in p.stderr
    code = ("from room.render import gl\n"
            "gl._have_lib = lambda *a: False\n"
            "gl.platform()")
    p = _run(code, {})
    assert p.returncode != 0 and "RenderError" in p.stderr
    assert "libegl1" in p.stderr and "libosmesa6" in p.stderr
