"""room as its users get it: a regular (wheel) install in a fresh virtual environment and the
editable install, each driven through its console scripts from an empty folder.

The wheel is built from a copy of the package's sources (nothing written into the checkout) with
the build tools already installed, and installed with ``--no-index --no-deps``; the fresh venv
reaches the dependencies through a ``.pth`` line naming this environment's site-packages. No
network is used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from room.paths import REPO_ROOT

pytestmark = pytest.mark.slow

SOURCES = ["room", "conf", "assets", "scenes", "pyproject.toml", "setup.py", "README.md",
           "LICENSE", "room-gymnasium.pth", "_room_gymnasium.py"]
COMMANDS = ["room-prepare", "room-generate", "room-validate", "room-view", "room-fit-sensor",
            "room-finetune-depth", "room-eval-depth", "room-eval-pose", "room-navigate"]
TINY_SCENE = ["scene=phantom_gt", "scene.phantom.generations=3", "scene.phantom.spacing_m=0.001",
              "scene.mesh.target_faces=40000", "scene.preview=false"]


def _run(args: list[str], cwd: Path, bindir: Path, timeout: float = 600):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    env["ROOM_CACHE"] = str(cwd / "cache")
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    """bin/ of a fresh venv with the freshly built wheel installed."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        p = REPO_ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(p, src / name)
    wheels = tmp / "wheels"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                        "--no-build-isolation", "--no-index", "-w", str(wheels), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    (wheel,) = wheels.glob("room-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], capture_output=True, text=True,
                               check=True).stdout.strip())
    # dependencies (and pip) from this environment, after the venv's own site-packages
    (site / "_room_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                        str(wheel)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return venv / "bin"


def _installed_from(bindir: Path, cwd: Path) -> str:
    r = _run([str(bindir / "python"), "-c", "import room, room.paths; "
              "print(room.__file__); print(room.paths.conf_dir())"], cwd, bindir)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _check_commands(bindir: Path, work: Path) -> None:
    """Every console script composes its config from an empty folder; then the tiny chain:
    prepare a small phantom, generate from that folder, validate, view."""
    work.mkdir()
    for cmd in COMMANDS:
        r = _run([str(bindir / cmd), "--cfg", "job"], work, bindir)
        assert r.returncode == 0, f"{cmd} --cfg job:\n{r.stderr[-2000:]}"
        assert "Primary config" not in r.stderr
    scene = work / "scene"
    r = _run([str(bindir / "room-prepare"), *TINY_SCENE, f"out={scene}"], work, bindir)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (scene / "scene.json").is_file()
    r = _run([str(bindir / "room-generate"), f"scene_dir={scene}", "camera.width=64",
              "camera.height=64", "trajectory.max_frames=4", "output.progress=false",
              f"out={work / 'ds'}"], work, bindir)
    assert r.returncode == 0, r.stderr[-3000:]
    assert not list((work / "cache").glob("scenes/*/scene.json"))  # nothing (re-)prepared
    r = _run([str(bindir / "room-validate"), str(work / "ds")], work, bindir)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    r = _run([str(bindir / "room-view"), str(work / "ds"), f"scene_dir={scene}"], work, bindir)
    assert r.returncode == 0, r.stderr[-3000:]
    assert list((work / "ds").glob("*/*/contact_sheet.png"))


@pytest.mark.gl
def test_wheel_install_runs_every_command_from_an_empty_folder(wheel_venv, tmp_path):
    where = _installed_from(wheel_venv, tmp_path)
    assert str(wheel_venv.parent) in where and str(REPO_ROOT) not in where, where
    _check_commands(wheel_venv, tmp_path / "work")


def test_wheel_install_registers_the_gym_env(wheel_venv, tmp_path):
    """`gymnasium.make` finds the env after a plain `import gymnasium` (room-gymnasium.pth)."""
    code = ("import gymnasium as gym; spec = gym.spec('room/BronchoscopyNav-v0'); "
            "print(spec.entry_point)")
    r = _run([str(wheel_venv / "python"), "-c", code], tmp_path, wheel_venv)
    assert r.returncode == 0 and "room.env.nav" in r.stdout, r.stderr[-2000:]


@pytest.mark.gl
def test_editable_install_runs_every_command_from_an_empty_folder(tmp_path):
    bindir = Path(sys.executable).parent
    if not (bindir / "room-generate").exists():
        pytest.skip("room's console scripts are not installed beside this interpreter")
    _check_commands(bindir, tmp_path / "work")
