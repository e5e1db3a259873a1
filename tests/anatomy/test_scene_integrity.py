"""Scene folders: checksums verified on load, bad cache entries rebuilt, user folders refused
with a clear error, overwrite only of room's own folders, and SIGKILL never leaves half a scene."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from room.anatomy.prepare import get_scene, prepare_scene, scene_cache_path
from room.anatomy.scene import SCENE_FORMAT_VERSION, AirwayScene, DamagedSceneError
from room.errors import SceneError
from room.paths import REPO_ROOT
from tests.anatomy.test_prepare import TINY_ARGS, tiny_cfg


@pytest.fixture
def saved(saved_yscene, tmp_path):
    """A fresh copy of the saved Y scene (each test damages its own)."""
    return saved_yscene.save(tmp_path / "y")


def _cut(path: Path, fraction: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def test_scene_json_records_every_file(saved):
    info = json.loads((saved / "scene.json").read_text())
    assert info["kind"] == "room.scene" and info["format_version"] == SCENE_FORMAT_VERSION
    names = {p.name for p in saved.iterdir()} - {"scene.json"}
    assert set(info["files"]) == names
    for name, rec in info["files"].items():
        assert rec["bytes"] == (saved / name).stat().st_size and len(rec["sha256"]) == 64


@pytest.mark.parametrize("name,damage", [
    ("collision.obj", "cut"), ("mesh.ply", "cut"), ("tree.json", "garbage"),
    ("face_branch.npy", "flip"), ("collision.obj", "missing")])
def test_damaged_user_folder_is_a_clear_error(saved, name, damage):
    f = saved / name
    if damage == "cut":
        _cut(f)
    elif damage == "garbage":
        f.write_text("{ not json" + " " * (f.stat().st_size - 10))  # same size: hash catches it
    elif damage == "flip":
        b = bytearray(f.read_bytes())
        b[-1] ^= 0xFF
        f.write_bytes(bytes(b))
    else:
        f.unlink()
    with pytest.raises(DamagedSceneError, match=name) as e:
        AirwayScene.load(saved)
    assert "room-prepare" in str(e.value)


def test_collision_mesh_cut_in_half_is_caught_without_checksums(saved):
    """Even a format-1.0 scene (no checksums) or a file rewritten with consistent content is
    caught by the face counts scene.json records."""
    import trimesh

    info = json.loads((saved / "scene.json").read_text())
    m = trimesh.load(saved / "collision.obj", process=False, force="mesh")
    half = trimesh.Trimesh(m.vertices, m.faces[: len(m.faces) // 2], process=False)
    half.export(saved / "collision.obj")
    info.pop("files")
    info["format_version"] = "1.0"
    (saved / "scene.json").write_text(json.dumps(info))
    with pytest.raises(DamagedSceneError, match="collision.obj has .* faces"):
        AirwayScene.load(saved)


def test_old_format_loads_with_a_warning(saved, caplog):
    info = json.loads((saved / "scene.json").read_text())
    info.pop("files"), info.pop("kind")
    info["format_version"] = "1.0"
    (saved / "scene.json").write_text(json.dumps(info))
    with caplog.at_level(logging.WARNING):
        s = AirwayScene.load(saved)
    assert len(s.tree) == 3 and "older format 1.0" in caplog.text


def test_damaged_scene_folder_through_the_cli(run_cli, saved, tmp_path):
    """A user folder (room-generate scene_dir=... / load_scene(DIR)) is never rebuilt."""
    from room.anatomy import load_scene

    _cut(saved / "mesh.ply", 0.9)
    with pytest.raises(DamagedSceneError, match="mesh.ply is damaged"):
        load_scene(saved)
    assert (saved / "mesh.ply").is_file()  # left for the user to see


@pytest.mark.parametrize("name", ["mesh.ply", "tree.json", "scene.json"])
def test_bad_cache_entry_is_rebuilt(tmp_path, monkeypatch, caplog, name):
    monkeypatch.setenv("ROOM_CACHE", str(tmp_path))
    cfg = tiny_cfg()
    first = get_scene(cfg)
    f = scene_cache_path(cfg) / name
    f.write_text("garbage")
    with caplog.at_level(logging.WARNING):
        again = get_scene(cfg)
    assert "preparing it again" in caplog.text and name in caplog.text
    assert len(again.mesh.faces) == len(first.mesh.faces)
    AirwayScene.load(again.path)  # verified
    assert [p.name for p in tmp_path.joinpath("scenes").iterdir()] == [again.path.name]


def test_hashing_is_cheap(tmp_path):
    """Verifying a 200k-face scene's checksums costs well under 50 ms (so it is always on)."""
    import numpy as np
    import trimesh

    from room.anatomy.scene import file_digest

    m = trimesh.creation.icosphere(subdivisions=7)  # 327k faces, 164k vertices
    m.export(tmp_path / "m.ply")
    np.save(tmp_path / "fb.npy", np.zeros(len(m.faces), np.int32))
    t0 = time.perf_counter()
    for f in ("m.ply", "fb.npy"):
        file_digest(tmp_path / f)
    assert time.perf_counter() - t0 < 0.05


# --------------------------------------------------------------------------- overwrite


def test_overwrite_replaces_only_room_scenes(tmp_path, saved_yscene):
    notes = tmp_path / "dataset"
    notes.mkdir()
    (notes / "my_notes.txt").write_text("do not lose me")
    with pytest.raises(SceneError, match="not a scene folder written by room-prepare"):
        saved_yscene.save(notes, overwrite=True)
    assert (notes / "my_notes.txt").read_text() == "do not lose me"
    # a scene folder with the user's file added to it: refused too
    scene = saved_yscene.save(tmp_path / "scene")
    (scene / "README.txt").write_text("mine")
    with pytest.raises(SceneError, match="README.txt"):
        saved_yscene.save(scene, overwrite=True)
    (scene / "README.txt").unlink()
    saved_yscene.save(scene, overwrite=True)  # a room scene: replaced
    AirwayScene.load(scene)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_out_checks_before_any_work(run_cli, tmp_path):
    notes = tmp_path / "dataset"
    notes.mkdir()
    (notes / "my_notes.txt").write_text("mine")
    r = run_cli("room.cli.prepare", *TINY_ARGS, f"out={notes}", "overwrite=true",
                "progress=false")
    assert r.returncode == 2 and "refusing to overwrite" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and (notes / "my_notes.txt").read_text() == "mine"
    afile = tmp_path / "a_file"
    afile.write_text("x")
    t0 = time.perf_counter()
    r = run_cli("room.cli.prepare", *TINY_ARGS, f"out={afile}/scene", "progress=false")
    assert r.returncode == 2 and "is a file, not a folder" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and afile.read_text() == "x"
    with pytest.raises(SceneError, match="is a file"):
        prepare_scene(tiny_cfg(), afile / "scene", progress=False)
    assert time.perf_counter() - t0 < 60


# --------------------------------------------------------------------------- SIGKILL


def test_sigkill_during_prepare_leaves_complete_or_nothing(tmp_path):
    """room-prepare killed with SIGKILL at several moments, the last one while it writes the
    scene (its temporary folder exists): ``out`` is absent or a complete, verified scene; the
    next run cleans up the leftover temporary folder and succeeds."""
    out = tmp_path / "scene"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "ROOM_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "room.cli.prepare", *TINY_ARGS, f"out={out}",
           "progress=false", "overwrite=true"]
    outcomes = []
    for delay in (1.0, 3.0, None):  # None: kill as soon as the temporary folder appears
        p = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        while p.poll() is None and time.monotonic() - t0 < 120:
            if delay is not None and time.monotonic() - t0 >= delay:
                break
            if delay is None and list(tmp_path.glob(".scene.tmp-*")):
                break
            time.sleep(0.002)
        p.send_signal(signal.SIGKILL)
        p.wait()
        if out.exists():
            AirwayScene.load(out)  # complete and verified, or absent: never half-written
            outcomes.append("complete")
        else:
            outcomes.append("absent")
        # a scene being replaced is either the old one or the new one
    assert outcomes[-1] in ("absent", "complete")
    r = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    AirwayScene.load(out)
    assert not [q for q in tmp_path.iterdir() if q.name.startswith(".scene")]
