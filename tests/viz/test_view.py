"""Contact sheet, view video and room-view on a small written dataset."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest

from room.data.reader import SequenceReader
from room.errors import ConfigError, DatasetError
from room.viz import panels
from room.viz.sheet import contact_sheet, pick_frames, save_contact_sheet
from room.viz.treeplot import TrajectoryPanel, figure_to_array, trajectory_figure
from room.viz.video import ViewComposer, write_view_video
from room.viz.view import ViewConfig, view_dataset
from tests.viz.conftest import FLOW_PX, N_FRAMES


def test_pick_frames():
    assert pick_frames(10, 4) == [0, 3, 6, 9]
    assert pick_frames(3, 8) == [0, 1, 2]
    assert pick_frames(0, 3) == []


def test_contact_sheet_png(dataset, tmp_path, yscene):
    r = SequenceReader(dataset / "y-test" / "seq_a")
    out = save_contact_sheet(r, tmp_path / "sheet.png", n_frames=4, panel_in=1.0, dpi=80,
                             tree=yscene.tree)
    img = iio.imread(out)[..., :3]
    cols = len(panels.available(r))
    assert cols == 5
    # figure size: (cols + side 2 + 0.6) x (rows + 1.0) inches at 80 dpi
    assert img.shape[:2] == (round((4 + 1.0) * 80), round((cols + 2 + 0.6) * 80))
    assert img.std() > 20 and len(np.unique(img.reshape(-1, 3), axis=0)) > 500


def test_sheet_rows_are_the_picked_frames(dataset, yscene):
    r = SequenceReader(dataset / "y-test" / "seq_a")
    fig = contact_sheet(r, n_frames=3, tree=yscene.tree)
    labels = [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == "row_label"]
    assert [lab.split()[0] for lab in labels] == ["#0", "#2", "#5"]


def test_video_has_expected_size_frames_and_flow_colour(dataset, tmp_path):
    r = SequenceReader(dataset / "y-test" / "seq_a")
    out = write_view_video(r, tmp_path / "v.mp4", size=64, fps=5, tree=None)
    frames = iio.imread(out, plugin="pyav") if _has_pyav() else _read_ffmpeg(out)
    comp = ViewComposer(r, 64, tree=None)
    assert frames.shape[0] == N_FRAMES
    assert frames.shape[1:3] == (comp.height, comp.width)
    assert comp.width % 16 == 0 and comp.height % 16 == 0
    # the flow panel: constant FLOW_PX to the right on the valid right half -> pure red at
    # full value (the scale is the 98th percentile = FLOW_PX); H.264 + yuv420: tolerance 40
    k = comp.mods.index("flow_fwd")
    top = comp.height - comp.size
    red = frames[0, top + 20:top + 44, k * 64 + 40:k * 64 + 60].reshape(-1, 3).mean(0)
    assert red[0] > 215 and red[1] < 40 and red[2] < 40, red
    black = frames[0, top + 20:top + 44, k * 64 + 4:k * 64 + 24].reshape(-1, 3).mean(0)
    assert black.max() < 40  # invalid half
    assert comp.scales.flow_max_px == pytest.approx(FLOW_PX)
    # successive frames differ (the RGB changes), so the video is not a still
    assert np.abs(frames[0].astype(int) - frames[2].astype(int)).mean() > 1


def _has_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def _read_ffmpeg(path):
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path))
    meta = next(gen)
    w, h = meta["size"]
    return np.stack([np.frombuffer(b, np.uint8).reshape(h, w, 3) for b in gen])


def test_trajectory_panel_marks_the_camera(dataset, yscene):
    r = SequenceReader(dataset / "y-test" / "seq_a")
    tp = TrajectoryPanel(yscene.tree, r.poses, 160)
    a, b = tp.draw(0), tp.draw(N_FRAMES - 1)
    assert a.shape == b.shape == tp.image.shape and a.shape[0] == 160
    diff = np.abs(a.astype(int) - b.astype(int)).sum(-1) > 0
    assert diff.any()
    # the camera moves along +z (superior = up in the image): the last marker is higher up
    rows_a = np.nonzero((np.abs(a.astype(int) - tp.image).sum(-1) > 0).any(1))[0]
    rows_b = np.nonzero((np.abs(b.astype(int) - tp.image).sum(-1) > 0).any(1))[0]
    assert rows_b.mean() < rows_a.mean()


def test_trajectory_figure_tree_only(yscene):
    img = figure_to_array(trajectory_figure(yscene.tree, planes=("coronal", "axial")))
    assert img.ndim == 3 and img.std() > 5


def test_view_dataset_writes_each_sequence(dataset, tmp_path):
    files = view_dataset(ViewConfig(path=str(dataset), out=str(tmp_path / "o"), frames=2,
                                    size=32))
    names = sorted(str(f.relative_to(tmp_path / "o")) for f in files)
    assert names == ["y-test/seq_a/contact_sheet.png", "y-test/seq_a/view.mp4",
                     "y-test/seq_b/contact_sheet.png", "y-test/seq_b/view.mp4"]
    assert all(f.stat().st_size > 1000 for f in files)
    assert not list((tmp_path / "o").rglob(".*tmp*"))


def test_view_config_and_input_errors(tmp_path):
    with pytest.raises(ConfigError, match="usage"):
        ViewConfig()
    with pytest.raises(ConfigError, match="frames"):
        ViewConfig(path="x", frames=0)
    with pytest.raises(ConfigError, match="unknown modalities"):
        ViewConfig(path="x", modalities=("rgb", "thermal"))
    with pytest.raises(DatasetError, match="does not exist"):
        view_dataset(ViewConfig(path=str(tmp_path / "missing")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no complete room sequence"):
        view_dataset(ViewConfig(path=str(tmp_path / "empty")))


@pytest.mark.slow
def test_room_view_cli(dataset, tmp_path, run_cli):
    seq = dataset / "y-test" / "seq_b"
    res = run_cli("room.cli.view", str(seq), f"out={tmp_path / 'cli'}", "frames=2", "size=32")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "cli" / "contact_sheet.png").stat().st_size > 1000
    assert (tmp_path / "cli" / "view.mp4").stat().st_size > 1000
    # not a dataset: clear error, exit 2, nothing written
    (tmp_path / "notds").mkdir()
    (tmp_path / "notds" / "a.txt").write_text("x")
    res = run_cli("room.cli.view", str(tmp_path / "notds"))
    assert res.returncode == 2
    assert "no complete room sequence" in res.stderr and "Traceback" not in res.stderr
    assert sorted(p.name for p in (tmp_path / "notds").iterdir()) == ["a.txt"]
    res = run_cli("room.cli.view", str(seq), "frames=-1")
    assert res.returncode == 2 and "frames" in res.stderr


def test_strip_figure_of_a_frame_with_flow():
    from room.viz.panels import frame_data
    from room.viz.sheet import strip_figure
    from tests.data.analytic import plane_frame
    from tests.viz.conftest import known_flow

    data = frame_data(plane_frame(0, 48), known_flow())
    fig = strip_figure(data, ("rgb", "depth", "normals", "flow_fwd", "segmentation"),
                       panel_in=1.0, dpi=50)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0] == "RGB (sensor)" and titles[1].startswith("depth (0-")
    assert titles[3] == f"flow t->t+1 (rim {FLOW_PX:.1f} px)"
    img = figure_to_array(fig)
    assert img.shape[1] == 250 and img.std() > 20


def test_nbstrip_removes_outputs(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from room.viz.nbstrip import strip

    cell = new_code_cell("1 + 1", execution_count=3,
                         outputs=[new_output("execute_result", {"text/plain": "2"},
                                             execution_count=3)])
    p = tmp_path / "a.ipynb"
    nbformat.write(new_notebook(cells=[cell]), p)
    assert strip(str(p)) is True
    nb = nbformat.read(p, as_version=4)
    assert nb.cells[0].outputs == [] and nb.cells[0].execution_count is None
    assert strip(str(p)) is False


def test_sequence_tree_from_scene_dir_and_from_the_scene_cache(dataset, saved_yscene, tmp_path,
                                                                monkeypatch):
    from room.anatomy import prepare
    from room.config import asdict
    from room.viz.dataset import sequence_tree
    from tests.viz.conftest import write_sequence

    r = SequenceReader(dataset / "y-test" / "seq_a")
    assert sequence_tree(r) is None  # no recipe in info.json, no scene_dir: no tree
    tree = sequence_tree(r, scene_dir=saved_yscene.path)
    assert sorted(tree.branches) == sorted(saved_yscene.tree.branches)
    with pytest.raises(DatasetError, match="not a scene folder"):
        sequence_tree(r, scene_dir=tmp_path)
    # a sequence whose info.json names a recipe: the tree comes from that recipe's cache entry
    seq = write_sequence(tmp_path / "s", n=2)
    info = json.loads((seq / "info.json").read_text())
    info["scene"]["recipe"] = asdict(prepare.SceneConfig())
    (seq / "info.json").write_text(json.dumps(info))
    monkeypatch.setattr(prepare, "scene_cache_path", lambda cfg: saved_yscene.path)
    tree = sequence_tree(SequenceReader(seq))
    assert tree is not None and len(tree.branches) == len(saved_yscene.tree.branches)
