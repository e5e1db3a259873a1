"""One writer per sequence folder: the lock, its takeover after a kill, real concurrent
room-generate processes, and sweeps that repeat a value."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from room.data.lock import LOCK_NAME, WriterLock
from room.errors import DatasetError
from room.paths import REPO_ROOT


def test_second_lock_names_the_holder(tmp_path):
    a, b = WriterLock(tmp_path / "seq"), WriterLock(tmp_path / "seq")
    a.acquire()
    holder = json.loads((tmp_path / "seq" / LOCK_NAME).read_text())
    assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
    with pytest.raises(DatasetError, match=rf"pid {os.getpid()} on host .* writing since"):
        b.acquire()
    a.release()
    assert not (tmp_path / "seq" / LOCK_NAME).exists()
    b.acquire()  # free again
    b.release()


def test_lock_of_a_killed_process_is_taken_over(tmp_path, caplog):
    folder = tmp_path / "seq"
    code = ("import sys, time; from room.data.lock import WriterLock; "
            f"lk = WriterLock({str(folder)!r}); lk.acquire(); print('held', flush=True); "
            "time.sleep(60)")
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert p.stdout.readline().strip() == "held"
        with pytest.raises(DatasetError, match=f"pid {p.pid}"):
            WriterLock(folder).acquire()
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert (folder / LOCK_NAME).exists()  # the killed holder left its file
    lock = WriterLock(folder)
    with caplog.at_level(logging.WARNING, logger="room.data.lock"):
        lock.acquire()
    assert f"pid {p.pid}" in caplog.text and "no longer running" in caplog.text
    assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()


@pytest.mark.parametrize(("args", "bad"), [
    (["-m", "seed=0,0"], "seed=0,0"),
    (["--multirun", "seed=1,2,1", "camera.width=64"], "seed=1,2,1"),
    (["-m", "scene=phantom,phantom_gt,phantom"], "scene=phantom,phantom_gt,phantom"),
    (["-m", "seed=0,1", "trajectory.max_frames=3,3"], "trajectory.max_frames=3,3"),
])
def test_repeated_sweep_values_are_found(args, bad):
    from room.cli.generate import repeated_sweep_values

    (found,) = repeated_sweep_values(args)
    assert found.startswith(bad)


@pytest.mark.parametrize("args", [["-m", "seed=0,1"], ["seed=0"], ["-m", "seed=range(0,3)"],
                                  ["seed=0,0"]])  # no -m: Hydra rejects a sweep itself
def test_sweeps_without_repeats_pass(args):
    from room.cli.generate import repeated_sweep_values

    assert repeated_sweep_values(args) == []


def test_cli_refuses_a_sweep_that_repeats_a_value(run_cli, tmp_path):
    res = run_cli("room.cli.generate", "-m", "seed=0,0", "hydra/launcher=joblib",
                  f"out={tmp_path / 'o'}", timeout=120)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "the sweep repeats a value: seed=0,0 (repeats 0)" in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "o").exists()
    assert not (tmp_path / "multirun").exists()


# --- real processes -------------------------------------------------------------------------

TINY = ["scene=phantom_gt"] + [f"++{o}" for o in (
    "scene.name=tiny", "scene.phantom.generations=2", "scene.phantom.spacing_m=0.0012",
    "scene.preview=false", "camera.width=64", "camera.height=64",
    "trajectory.max_generation=1", "trajectory.spacing_m=0.004", "trajectory.max_frames=8",
    "output.progress=false", "output.preview_size=32",
)]


def _env(cache: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get(
        "PYTHONPATH", ""), ROOM_CACHE=str(cache))


def _cmd(out: Path, hydra_dir: Path) -> list[str]:
    return [sys.executable, "-m", "room.cli.generate", *TINY, f"out={out}",
            f"hydra.run.dir={hydra_dir}"]


def _wait_for(pred, proc, what: str, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} never happened (generator exit {proc.poll()}: "
                         f"{proc.stderr.read() if proc.poll() is not None else ''})")


def _validate(out: Path, cache: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "room.cli.validate", str(out)],
                          env=_env(cache), capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.gl
def test_two_concurrent_generators_one_fails_with_the_holder(tmp_path):
    """A holds the sequence's lock (stopped mid-run with SIGSTOP so that the race is
    deterministic); B, the same command on the same out=, exits 2 naming A and touches
    nothing; A resumes and finishes; the dataset validates."""
    cache, out = tmp_path / "cache", tmp_path / "out"
    a = subprocess.Popen(_cmd(out, tmp_path / "ha"), env=_env(cache), cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: any(out.rglob("frames.jsonl")), a, "A's first frame")
        a.send_signal(signal.SIGSTOP)
        (frames,) = out.rglob("frames.jsonl")
        before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
        b = subprocess.run(_cmd(out, tmp_path / "hb"), env=_env(cache), cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
        assert b.returncode == 2, b.stdout + b.stderr
        assert "is being written by another room-generate" in b.stderr
        assert f"pid {a.pid} on host {socket.gethostname()}" in b.stderr
        assert "Traceback" not in b.stderr
        after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
        assert after == before  # B touched nothing
    finally:
        a.send_signal(signal.SIGCONT)
    stdout, stderr = a.communicate(timeout=300)
    assert a.returncode == 0, stderr
    assert not (frames.parent / LOCK_NAME).exists()
    v = _validate(out, cache)
    assert v.returncode == 0 and "VALID" in v.stdout, v.stdout + v.stderr
    n = len(frames.read_bytes().splitlines())
    assert n == json.loads((frames.parent / "info.json").read_text())["n_frames"]


@pytest.mark.slow
@pytest.mark.gl
def test_killed_writer_lock_is_taken_over_and_run_completes(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    a = subprocess.Popen(_cmd(out, tmp_path / "ha"), env=_env(cache), cwd=tmp_path,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def two_frames():
        f = list(out.rglob("frames.jsonl"))
        return bool(f) and len(f[0].read_bytes().splitlines()) >= 2

    _wait_for(two_frames, a, "A's second frame")
    a.send_signal(signal.SIGKILL)
    a.wait()
    (frames,) = out.rglob("frames.jsonl")
    lock = frames.parent / LOCK_NAME
    assert json.loads(lock.read_text())["pid"] == a.pid  # stale lock left behind
    b = subprocess.run(_cmd(out, tmp_path / "hb"), env=_env(cache), cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert b.returncode == 0, b.stdout + b.stderr
    assert f"taking over the lock left by pid {a.pid}" in b.stdout + b.stderr + "".join(
        p.read_text() for p in (tmp_path / "hb").rglob("*.log"))
    assert not lock.exists()
    v = _validate(out, cache)
    assert v.returncode == 0 and "VALID" in v.stdout, v.stdout + v.stderr


def test_resume_removes_temporaries_of_a_killed_writer(tmp_path):
    """A writer killed inside an atomic write leaves `.NAME.XXXX.ext` files; the next writer
    (holding the lock, so no live writer owns them) deletes them and the folder validates."""
    from room.data.writer import _remove_temporaries

    d = tmp_path / "face_id"
    d.mkdir()
    (d / ".000002.png.i26nn5i2.png").write_bytes(b"partial")
    (d / "000001.png").write_bytes(b"committed")
    (tmp_path / ".lock").write_text("{}")
    (tmp_path / ".frames.jsonl.abc123.jsonl").write_text("torn")
    _remove_temporaries(d)
    _remove_temporaries(tmp_path, keep=(".lock",))
    assert sorted(p.name for p in d.iterdir()) == ["000001.png"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [".lock"]
