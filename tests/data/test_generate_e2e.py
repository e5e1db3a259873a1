"""End to end on a tiny phantom at low resolution, with the real renderer and sensor model:
generate -> validate passes -> read back equals what was rendered; SIGKILL + rerun gives a
byte-identical dataset; sweeps through the joblib and submitit launchers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from room.paths import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.gl]

TINY = ["scene=phantom_gt"] + [f"++{o}" for o in (  # ++: set whether or not a preset has it
    "scene.name=tiny", "scene.phantom.generations=2", "scene.phantom.spacing_m=0.0012",
    "scene.preview=false", "camera.width=64", "camera.height=64",
    "trajectory.max_generation=1", "trajectory.spacing_m=0.004", "trajectory.max_frames=10",
    "output.progress=false", "output.preview_size=32",
)]


def compose_job(out: Path, *extra: str):
    from room.compose import compose_generate

    return compose_generate([*TINY, f"out={out}", *extra])


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def assert_same_tree(a: Path, b: Path) -> None:
    """Byte-for-byte equality of two folders; on failure name the files and first lines."""
    ta, tb = tree_bytes(a), tree_bytes(b)
    if ta == tb:
        return
    diff = sorted(k for k in set(ta) | set(tb) if ta.get(k) != tb.get(k))
    detail = []
    for k in diff[:3]:
        if k.endswith((".json", ".jsonl", ".txt", ".yaml")) and k in ta and k in tb:
            la, lb = ta[k].decode().splitlines(), tb[k].decode().splitlines()
            j = next((j for j, (x, y) in enumerate(zip(la, lb, strict=False)) if x != y), None)
            if j is not None:
                detail.append(f"{k} line {j}:\n  {la[j][:400]}\n  {lb[j][:400]}")
    raise AssertionError(f"{len(diff)} files differ: {diff[:12]}\n" + "\n".join(detail))


def cli_env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["ROOM_CACHE"] = str(cache)
    return env


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache):
    """An uninterrupted run, in process; returns (out folder, job, scene)."""
    from room.anatomy import load_scene
    from room.data.generate import generate_dataset

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROOM_CACHE", str(cache))
        out = tmp_path_factory.mktemp("ref")
        job = compose_job(out)
        scene = load_scene(job.scene)
        summary = generate_dataset(job, scene=scene)
        assert summary["frames_written"] == summary["frames_total"] > 3
        yield out, job, scene


def test_generate_validate_read_back(reference):
    from room.data.generate import FrameSource
    from room.data.reader import SequenceReader, find_sequences
    from room.data.validate import ValidateConfig, validate_dataset
    from room.render import make_renderer
    from room.sensor import SensorModel
    from room.trajectory import plan_sequences

    out, job, scene = reference
    report = validate_dataset(out, ValidateConfig(check_every=1), scene=scene)
    assert report.ok, report.text()
    (seq,) = find_sequences(out)
    r = SequenceReader(seq)
    (planned,) = plan_sequences(scene, job.trajectory, job.seed)
    assert len(r) == len(planned) and np.array_equal(r.poses, planned.poses)
    # render every frame again, independently: the reader returns exactly those frames
    with make_renderer(scene, job.camera, job.render) as renderer:
        source = FrameSource(renderer, SensorModel(job.sensor), planned, job.seed, planned.target)
        prev = None
        for i in range(len(planned)):
            f = source(i, prev)
            g = r[i]
            assert g.equals(f), f"frame {i} read back differs from the rendering"
            assert g.meta == f.meta
            prev = f
    assert not np.array_equal(r[1].rgb, r[1].rgb_clean)  # the sensor model ran
    # real clients read the generated files
    import cv2
    import trimesh

    from room.data import schema

    d = r.read(2, ("flow_fwd", "flow_fwd_valid", "pointcloud"))
    # KITTI flow PNG as its devkit's readers decode it: cv2 returns B, G, R = valid, v, u
    kitti = cv2.imread(str(seq / schema.rel_path("flow_fwd", 2)), cv2.IMREAD_UNCHANGED)
    assert kitti.dtype == np.uint16 and kitti.shape[2] == 3
    uv = (kitti[..., 2:0:-1].astype(np.float32) - 2**15) / 64.0
    ok = kitti[..., 0] > 0
    assert np.array_equal(ok, d["flow_fwd_valid"]) and np.array_equal(uv[ok], d["flow_fwd"][ok])
    cloud = trimesh.load(seq / schema.rel_path("pointcloud", 2))
    assert np.allclose(cloud.vertices, d["pointcloud"])
    raw = cv2.imread(str(seq / schema.rel_path("depth", 2)), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and np.array_equal(schema.decode_depth(raw), r[2].depth)
    file_interface = pytest.importorskip("evo.tools.file_interface")
    traj = file_interface.read_tum_trajectory_file(str(seq / "poses_tum.txt"))
    assert np.allclose(np.stack(traj.poses_se3), r.poses, atol=1e-8)


def test_validate_catches_corruption(reference, tmp_path):
    import shutil

    from room.data import formats, schema
    from room.data.reader import find_sequences
    from room.data.validate import ValidateConfig, validate_dataset

    out, job, scene = reference
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    (seq,) = find_sequences(bad)
    d = formats.decode_png(seq / schema.rel_path("depth", 2))
    d[d > 0] += 200  # 2 mm deeper: off the mesh, flow no longer consistent
    (seq / schema.rel_path("depth", 2)).write_bytes(formats.encode_png(d))
    (seq / schema.rel_path("rgb", 3)).unlink()
    report = validate_dataset(bad, ValidateConfig(check_every=1), scene=scene)
    checks = {i.check for i in report.issues}
    assert not report.ok and {"flow", "pointcloud", "files"} <= checks, report.text()


def test_sigkill_then_rerun_is_byte_identical(reference, cache, tmp_path):
    ref_out, job, _ = reference
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "room.cli.generate", *TINY, f"out={out}",
           f"hydra.run.dir={tmp_path / 'hydra'}"]
    proc = subprocess.Popen(cmd, env=cli_env(cache), cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 120
    frames = []
    while time.time() < deadline and proc.poll() is None:
        frames = list(out.rglob("frames.jsonl"))
        if frames and len(frames[0].read_bytes().splitlines()) >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"generator ended before the kill: {proc.stderr.read()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_lines = len(frames[0].read_bytes().splitlines())
    assert n_lines < 10, "the kill came too late to test resumption"
    assert not (frames[0].parent / "preview.mp4").exists()
    done = subprocess.run(cmd, env=cli_env(cache), cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "frames" in done.stdout and "room-validate" in done.stdout
    assert_same_tree(out, ref_out)
    # a third run finds everything finished and writes nothing
    again = subprocess.run(cmd, env=cli_env(cache), cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0 and "0 rendered now" in again.stdout, again.stdout
    valid = subprocess.run([sys.executable, "-m", "room.cli.validate", str(out)],
                           env=cli_env(cache), cwd=tmp_path, capture_output=True, text=True)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "VALID" in valid.stdout


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_multirun_launchers(launcher, cache, tmp_path):
    plugin = "joblib" if launcher == "joblib" else "submitit"
    pytest.importorskip(f"hydra_plugins.hydra_{plugin}_launcher",
                        reason="launcher plugins come with the 'cluster' extra")
    out = tmp_path / "sweep"
    seeds = "1,2" if launcher == "joblib" else "3"
    extra = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else \
        ["hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1"]
    cmd = [sys.executable, "-m", "room.cli.generate", "-m", f"hydra/launcher={launcher}",
           *extra, *TINY, "++trajectory.max_frames=3", f"seed={seeds}", f"out={out}",
           f"hydra.sweep.dir={tmp_path / 'multirun'}"]
    done = subprocess.run(cmd, env=cli_env(cache), cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    from room.data.reader import find_sequences

    seqs = find_sequences(out)
    assert len(seqs) == len(seeds.split(","))
    assert {s.name.split("_seed")[1].split("_")[0] for s in seqs} == set(seeds.split(","))


def test_appearance_randomization_per_sequence(tmp_path, cache, monkeypatch):
    """sensor=randomized: each sequence draws its own look (render overrides + sensor + mucosa
    pattern and LEDs), records it in info.json, and the clean render really changes; the same
    seed repeats it."""
    from room.anatomy import load_scene
    from room.data.generate import generate_dataset
    from room.data.reader import SequenceReader, find_sequences

    monkeypatch.setenv("ROOM_CACHE", str(cache))
    looks, firsts = [], []
    for run in ("a", "b"):
        job = compose_job(tmp_path / run, "sensor=randomized", "++trajectory.max_frames=2",
                          "++trajectory.n_sequences=0")
        generate_dataset(job, scene=load_scene(job.scene))
        seqs = find_sequences(tmp_path / run)
        assert len(seqs) >= 2  # one per main bronchus at max_generation=1
        readers = [SequenceReader(s) for s in seqs]
        looks.append([r.info["appearance"] for r in readers])
        firsts.append([r[0].rgb_clean for r in readers])
    assert all(lk["randomized"] and lk["render_overrides"] for lk in looks[0])
    assert looks[0][0]["render"]["seed"] != looks[0][1]["render"]["seed"]  # own pattern
    assert looks[0][0] != looks[0][1]  # sequences differ ...
    assert looks[0] == looks[1]  # ... and the same config + seed repeats them
    assert all(np.array_equal(x, y) for x, y in zip(firsts[0], firsts[1], strict=True))


def test_textured_look_through_the_cli(run_cli, cache, tmp_path):
    """room-generate render=textured sensor=textured writes a valid dataset whose recorded
    config carries the textured look (its render settings and sensor profile), and
    room-validate accepts it."""
    import yaml

    from room.data.reader import find_sequences

    out = tmp_path / "ds"
    r = run_cli("room.cli.generate", *TINY, f"out={out}", "render=textured",
                "sensor=textured", "++trajectory.max_frames=2", env=cli_env(cache))
    assert r.returncode == 0, r.stderr[-3000:]
    assert run_cli("room.cli.validate", str(out), env=cli_env(cache)).returncode == 0
    seq = find_sequences(out)[0]
    cfg = yaml.safe_load((seq / "config.yaml").read_text())
    assert cfg["sensor"]["profile"] == "textured" and not cfg["sensor"]["glare"]["enabled"]
    assert cfg["render"]["material"]["vessel_contrast"] == 0.55
    assert cfg["render"]["light"]["ambient"] == 0.004
