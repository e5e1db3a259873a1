"""room-validate checks every file of every frame (not only the sampled ones): missing,
truncated, mis-encoded or swapped files and damaged frames.jsonl lines are each reported with
the file and its frames.jsonl line; nothing raises. Analytic frames, no renderer."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from room.data import formats, schema
from room.data.validate import ValidateConfig, validate_dataset
from room.data.writer import SequenceWriter
from room.render.geometry import optical_flow, strided_cloud
from tests.data.analytic import plane_frame

N = 6
# dense checks on frame 0 only: every damage below sits on a frame the sampled checks skip
CFG = ValidateConfig(require_preview=False, check_every=1000)


def _write(root, flow_format):
    frames = [schema.canonical_frame(plane_frame(i)) for i in range(N)]
    info = {"format_version": schema.FORMAT_VERSION, "intrinsics": frames[0].intrinsics.to_dict()}
    w = SequenceWriter(root / "scene" / "seq", info, "seed: 0\n", N, pointcloud_stride=2,
                       preview_size=0, flow_format=flow_format)
    w.open()
    for i, f in enumerate(frames):
        fwd = optical_flow(f, frames[i + 1]) if i < N - 1 else None
        bwd = optical_flow(f, frames[i - 1]) if i > 0 else None
        w.write_frame(f, fwd, bwd, strided_cloud(f, 2))
    w.finish()
    assert not (root / "scene" / "seq" / ".lock").exists()  # released and removed
    return root


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """The default encodings: flow as KITTI 16-bit PNG."""
    return _write(tmp_path_factory.mktemp("ds"), "kitti")


@pytest.fixture(scope="module")
def good_flo(tmp_path_factory):
    """output.flow_format=flo: Middlebury .flo plus 8-bit validity PNGs."""
    return _write(tmp_path_factory.mktemp("ds_flo"), "flo")


def _copy(src, tmp_path):
    out = tmp_path / f"bad_{src.name}"
    shutil.copytree(src, out)
    return out, out / "scene" / "seq"


@pytest.fixture
def bad(good, tmp_path):
    return _copy(good, tmp_path)


@pytest.fixture
def bad_flo(good_flo, tmp_path):
    return _copy(good_flo, tmp_path)


def _issues(root):
    rep = validate_dataset(root, CFG)
    assert not rep.ok
    return rep, rep.text()


def test_good_dataset_is_valid(good, good_flo):
    for root in (good, good_flo):
        rep = validate_dataset(root, CFG)
        assert rep.ok, rep.text()
    rep = validate_dataset(good, ValidateConfig(require_preview=False, check_every=1))
    assert rep.ok, rep.text()  # dense flow checks on every frame: within 1/128 px (KITTI)


def test_truncated_kitti_flow_in_an_unsampled_frame(bad):
    root, seq = bad
    f = seq / "flow_fwd/000003.png"
    f.write_bytes(f.read_bytes()[: int(0.93 * f.stat().st_size)])
    rep, text = _issues(root)
    assert "frame 3 (frames.jsonl line 4) flow_fwd/000003.png: PNG truncated" in text, text


def test_kitti_flow_as_8_bit_png_is_caught(bad):
    root, seq = bad
    f = seq / "flow_bwd/000002.png"
    f.write_bytes(formats.encode_png((formats.decode_png(f) >> 8).astype(np.uint8)))
    rep, text = _issues(root)
    assert "flow_bwd/000002.png: PNG has 8-bit x 3 channel(s), info.json's encoding says " \
        "16-bit x 3" in text, text


def test_truncated_flow_in_an_unsampled_frame(bad_flo):
    root, seq = bad_flo
    f = seq / "flow_fwd/000003.flo"
    f.write_bytes(f.read_bytes()[: int(0.93 * f.stat().st_size)])
    rep, text = _issues(root)
    assert "frame 3 (frames.jsonl line 4) flow_fwd/000003.flo" in text, text
    assert "truncated" in text


def test_flo_good_header_wrong_size_is_a_message(bad_flo):
    root, seq = bad_flo
    f = seq / "flow_bwd/000002.flo"
    f.write_bytes(f.read_bytes()[:12] + b"\0" * 40)
    rep, text = _issues(root)
    assert "flow_bwd/000002.flo" in text and "needs" in text, text
    with pytest.raises(Exception, match="truncated"):
        formats.decode_flo(f)


@pytest.mark.parametrize("m", ["depth", "rgb", "normals", "flow_fwd_valid", "face_id"])
def test_truncated_png_in_any_frame(bad_flo, m):
    root, seq = bad_flo
    f = seq / schema.rel_path(m, 4, schema.encodings("flo"))
    f.write_bytes(f.read_bytes()[: int(0.95 * f.stat().st_size)])
    rep, text = _issues(root)
    rel = schema.rel_path(m, 4, schema.encodings("flo"))
    assert f"frame 4 (frames.jsonl line 5) {rel}: PNG truncated" in text, text


def test_missing_file(bad):
    root, seq = bad
    (seq / "segmentation/000005.png").unlink()
    rep, text = _issues(root)
    assert "segmentation/000005.png: missing" in text, text


def test_png_with_wrong_bit_depth(bad):
    root, seq = bad
    d = formats.decode_png(seq / "depth/000001.png")
    (seq / "depth/000001.png").write_bytes(formats.encode_png((d // 256).astype(np.uint8)))
    rep, text = _issues(root)
    assert "depth/000001.png: PNG has 8-bit x 1 channel(s), info.json's encoding says 16-bit" \
        in text, text


def test_swapped_depth_is_caught(bad):
    """Another frame's depth: a whole, well-formed file; its point cloud and flow disagree."""
    root, seq = bad
    shutil.copy(seq / "depth/000004.png", seq / "depth/000003.png")
    rep, text = _issues(root)
    frame3 = [i for i in rep.issues if i.frame == 3]
    assert {i.check for i in frame3} >= {"pointcloud", "flow"}, text
    assert "another frame's" in text


@pytest.mark.parametrize("ext", ["png", "flo"])
def test_swapped_flow_is_caught(bad, bad_flo, ext):
    root, seq = bad if ext == "png" else bad_flo
    shutil.copy(seq / f"flow_fwd/000002.{ext}", seq / f"flow_fwd/000003.{ext}")
    rep, text = _issues(root)
    assert any(i.frame == 3 and i.check == "flow" for i in rep.issues), text


def test_truncated_pointcloud(bad):
    root, seq = bad
    f = seq / "pointcloud/000002.ply"
    f.write_bytes(f.read_bytes()[:-30])
    rep, text = _issues(root)
    assert "pointcloud/000002.ply: PLY body has" in text and "truncated" in text, text


def test_garbage_line_in_frames_jsonl_is_named(bad):
    root, seq = bad
    f = seq / "frames.jsonl"
    lines = f.read_bytes().split(b"\n")
    lines[2] = b"{garbage"
    f.write_bytes(b"\n".join(lines))
    rep, text = _issues(root)
    assert "(frames.jsonl line 3) frames.jsonl: is not valid JSON" in text, text
    assert "rerunning the same room-generate command" in text


def test_duplicated_lines_from_two_writers_are_named(bad):
    root, seq = bad
    f = seq / "frames.jsonl"
    lines = f.read_bytes().split(b"\n")[:-1]
    f.write_bytes(b"\n".join(lines[:3] + lines[2:]) + b"\n")
    rep, text = _issues(root)
    assert "(frames.jsonl line 4) frames.jsonl: has index 2, expected 3" in text, text


def test_unexpected_error_while_checking_a_file_is_reported(bad, monkeypatch):
    root, _ = bad

    def boom(data):
        raise IndexError("simulated decoder bug")

    monkeypatch.setattr(formats, "check_ply", boom)
    rep, text = _issues(root)
    assert "IndexError: simulated decoder bug" in text and "pointcloud/000000.ply" in text


def test_cli_reports_damage_without_traceback(bad_flo, run_cli):
    root, seq = bad_flo
    f = seq / "flow_fwd/000001.flo"
    f.write_bytes(f.read_bytes()[:-8])
    res = run_cli("room.cli.validate", str(root), "require_preview=false")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "flow_fwd/000001.flo" in res.stdout and "Traceback" not in res.stderr + res.stdout
