"""room-generate render.backend=cycles: a valid dataset whose ground truth is the raster's."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from room.data.reader import SequenceReader


@pytest.mark.slow
@pytest.mark.gl
@pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="bpy ([cycles]) absent")
def test_generate_cycles_dataset_is_valid_and_depth_equals_raster(run_cli, tmp_path,
                                                                  saved_yscene):
    common = [f"scene_dir={saved_yscene.path}", "camera.width=64", "camera.height=64",
              "trajectory.max_frames=3", "output.progress=false"]
    seqs = {}
    for backend in ("cycles", "raster"):
        out = tmp_path / backend
        r = run_cli("room.cli.generate", f"render.backend={backend}", "render.cycles.samples=2",
                    *common, f"out={out}", f"hydra.run.dir={tmp_path / ('h' + backend)}")
        assert r.returncode == 0, r.stderr[-2000:]
        v = run_cli("room.cli.validate", str(out))
        assert v.returncode == 0, v.stdout[-2000:] + v.stderr[-2000:]
        (seqs[backend],) = [p.parent for p in out.glob("*/*/info.json")]
    info = json.loads((seqs["cycles"] / "info.json").read_text())
    assert info["renderer"]["rgb"]["backend"] == "cycles"
    assert json.loads((seqs["raster"] / "info.json").read_text())["renderer"]["rgb"] == {
        "backend": "raster"}
    a, b = SequenceReader(seqs["cycles"]), SequenceReader(seqs["raster"])
    assert len(a) == len(b) == 3
    for i in range(3):
        fa, fb = a[i], b[i]
        np.testing.assert_array_equal(fa.depth, fb.depth)
        np.testing.assert_array_equal(fa.T_world_cam, fb.T_world_cam)
        assert np.abs(fa.rgb.astype(int) - fb.rgb).mean() > 1  # another renderer drew it
