"""Writer + reader on analytic frames: exact read-back, resume, torn lines, clear errors."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest

from room import fileio
from room.data import formats, schema
from room.data.reader import SequenceReader, find_sequences
from room.data.writer import SequenceWriter
from room.errors import DatasetError
from tests.data.analytic import plane_frame

N = 4


def _extras(i, size=32):
    rng = np.random.default_rng(100 + i)
    flow = (rng.normal(size=(size, size, 2)).astype(np.float32),
            rng.random((size, size)) > 0.3)
    cloud = (rng.normal(size=(20, 3)).astype(np.float32),
             rng.integers(0, 256, (20, 3), dtype=np.uint8),
             rng.normal(size=(20, 3)).astype(np.float32))
    return flow, cloud


def _writer(path, preview=64, background=False, flow_format="kitti"):
    info = {"format_version": schema.FORMAT_VERSION,
            "intrinsics": plane_frame(0).intrinsics.to_dict()}
    return SequenceWriter(path, info, "seed: 0\n", N, preview_size=preview, preview_fps=5,
                          background=background, flow_format=flow_format)


def write_all(path, stop=N, preview=64, background=False, flow_format="kitti"):
    w = _writer(path, preview, background, flow_format)
    start = w.open()
    frames = []
    for i in range(start, stop):
        f = schema.canonical_frame(plane_frame(i))
        flow, cloud = _extras(i)
        w.write_frame(f, flow_fwd=flow if i < N - 1 else None,
                      flow_bwd=flow if i > 0 else None, pointcloud=cloud,
                      extra={"joints": [0.1 * i, 0.0, 0.0]})
        frames.append(f)
    if stop == N:
        w.finish()
    return w, frames


@pytest.mark.parametrize("flow_format", ["kitti", "flo"])
def test_read_back_equals_written(tmp_path, flow_format):
    seq = tmp_path / "scene" / "seq"
    w, frames = write_all(seq, flow_format=flow_format)
    assert w.finished
    assert find_sequences(tmp_path) == [seq]
    r = SequenceReader(seq)
    assert len(r) == N and r.complete
    for i, f in enumerate(frames):
        g = r[i]
        assert g.equals(f), f"frame {i} differs"
        assert g.depth.dtype == np.float32 and np.array_equal(g.depth, f.depth)
        assert g.meta == f.meta and g.time_s == f.time_s and g.index == i
    assert np.array_equal(r.poses, np.stack([f.T_world_cam for f in frames]))
    d = r.read(1, ("flow_fwd", "flow_fwd_valid", "flow_bwd", "pointcloud"))
    flow, cloud = _extras(1)
    assert np.array_equal(d["flow_fwd_valid"], flow[1])
    if flow_format == "flo":  # float32: exact everywhere
        assert np.array_equal(d["flow_fwd"], flow[0])
        assert (seq / "flow_fwd" / "000001.flo").exists()
        assert (seq / "flow_fwd_valid" / "000001.png").exists()
    else:  # KITTI PNG: 1/64 px steps rounded to nearest, zero where invalid (devkit)
        ok = flow[1]
        assert np.abs(d["flow_fwd"][ok] - flow[0][ok]).max() <= 1 / 128 + 1e-6
        assert not d["flow_fwd"][~ok].any()
        assert sorted(p.name for p in seq.iterdir() if p.name.startswith("flow")) == \
            ["flow_bwd", "flow_fwd"]  # validity travels inside the KITTI file
        info = json.loads((seq / "info.json").read_text())
        assert info["flow_format"] == "kitti"
        assert info["encodings"]["flow_fwd"]["precision_px"] == 1 / 64
        assert info["path_templates"]["flow_fwd_valid"] == "flow_fwd/{index:06d}.png"
    assert np.array_equal(d["pointcloud"], cloud[0])
    last = r.read(N - 1, ("flow_fwd", "flow_fwd_valid"))  # none by convention: zeros, invalid
    assert not last["flow_fwd_valid"].any() and not last["flow_fwd"].any()
    assert (seq / schema.PREVIEW_FILE).stat().st_size > 0
    assert r.records[2]["joints"] == [0.2, 0.0, 0.0]


def _tree_bytes(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_resume_after_torn_line_is_identical(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_all(a)
    write_all(b, stop=2)
    # simulate a kill: frame 2's files written, its line half appended, temporaries left over
    f2 = schema.canonical_frame(plane_frame(2))
    (b / schema.rel_path("rgb", 2)).write_bytes(formats.encode_png(f2.rgb))
    (b / "depth" / ".000002.png.tmp").write_bytes(b"junk")
    with open(b / schema.FRAMES_FILE, "ab") as fh:
        fh.write(b'{"index": 2, "ti')
    assert len(SequenceReader(b)) == 2  # the torn line is invisible to readers
    assert find_sequences(tmp_path) == [a]
    w, _ = write_all(b)
    assert _tree_bytes(a) == _tree_bytes(b)


def test_same_input_same_bytes(tmp_path):
    write_all(tmp_path / "a")
    write_all(tmp_path / "b")
    assert _tree_bytes(tmp_path / "a") == _tree_bytes(tmp_path / "b")


def test_background_commit_writes_the_same_bytes(tmp_path):
    """Committing on a worker thread changes when files appear, not what they hold."""
    write_all(tmp_path / "a")
    write_all(tmp_path / "b", background=True)
    assert _tree_bytes(tmp_path / "a") == _tree_bytes(tmp_path / "b")


def test_background_commit_error_surfaces_at_the_next_write(tmp_path, monkeypatch):
    """A disk-full error while frame 1 is committed in the background is raised by the next
    write_frame (or by wait/finish); frame 0 stays committed, frame 1 is not."""
    real = fileio.write_atomic

    def full(path, data):
        if "000001" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(fileio, "write_atomic", full)
    w = _writer(tmp_path / "s", background=True)
    w.open()
    for i in range(2):
        flow, cloud = _extras(i)
        w.write_frame(schema.canonical_frame(plane_frame(i)), flow, flow if i else None, cloud)
    with pytest.raises(DatasetError, match="disk full"):
        flow, cloud = _extras(2)
        w.write_frame(schema.canonical_frame(plane_frame(2)), flow, flow, cloud)
    assert len(SequenceReader(tmp_path / "s")) == 1
    w.wait()  # nothing pending any more


def test_changed_settings_refuse_to_mix(tmp_path):
    write_all(tmp_path / "s", stop=1)
    info = {"format_version": schema.FORMAT_VERSION,
            "intrinsics": plane_frame(0).intrinsics.to_dict()}
    w = SequenceWriter(tmp_path / "s", info, "seed: 1\n", N)
    with pytest.raises(DatasetError, match="different settings"):
        w.open()


def test_disk_full_gives_clear_error_and_keeps_committed_frames(tmp_path, monkeypatch):
    seq = tmp_path / "s"
    write_all(seq, stop=2)
    w = _writer(seq)
    assert w.open() == 2
    real = fileio.write_atomic

    def full(path, data):
        if "depth" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(fileio, "write_atomic", full)
    flow, cloud = _extras(2)
    with pytest.raises(DatasetError, match="disk full"):
        w.write_frame(schema.canonical_frame(plane_frame(2)), flow, flow, cloud)
    r = SequenceReader(seq)
    assert len(r) == 2 and r[1].equals(schema.canonical_frame(plane_frame(1)))


def test_read_only_folder_gives_clear_error(tmp_path, monkeypatch):
    out = tmp_path / "ro"
    out.mkdir()
    if os.geteuid() != 0:
        out.chmod(0o555)
    else:  # root ignores permission bits: simulate the read-only file system instead
        def ro(*a, **k):
            raise OSError(errno.EROFS, "Read-only file system")
        monkeypatch.setattr(fileio, "write_atomic", ro)
    try:
        with pytest.raises(DatasetError, match="read-only or not writable"):
            _writer(out / "seq").open()
    finally:
        out.chmod(0o755)


def test_reader_rejects_non_dataset(tmp_path):
    with pytest.raises(DatasetError, match="not a room sequence"):
        SequenceReader(tmp_path)
    (tmp_path / schema.INFO_FILE).write_text(json.dumps({"format_version": "9.0"}))
    with pytest.raises(DatasetError, match="format version"):
        SequenceReader(tmp_path)
