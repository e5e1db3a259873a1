"""A small written dataset for the viewers (analytic frames, no renderer): the camera moves
along +z down the trachea of the Y-bifurcation scene, and the forward flow is a known constant
(FLOW_PX to the right) on the right half of each image, invalid on the left half."""

from __future__ import annotations

import numpy as np
import pytest

from room.data import schema
from room.data.writer import SequenceWriter
from tests.data.analytic import plane_frame

N_FRAMES = 6
SIZE = 48
FLOW_PX = 3.0
MODS = ("rgb", "depth", "normals", "segmentation", "flow_fwd", "flow_fwd_valid")


def known_flow(size: int = SIZE):
    flow = np.zeros((size, size, 2), np.float32)
    flow[..., 0] = FLOW_PX
    valid = np.zeros((size, size), bool)
    valid[:, size // 2:] = True
    return flow, valid


def write_sequence(path, n=N_FRAMES, size=SIZE):
    info = {"format_version": schema.FORMAT_VERSION,
            "intrinsics": plane_frame(0, size).intrinsics.to_dict(),
            "scene": {"id": "y-test", "recipe": None}}
    w = SequenceWriter(path, info, "seed: 0\n", n, MODS)
    w.open()
    for i in range(n):
        # 10 mm steps so the trajectory spans the Y scene's trachea
        f = schema.canonical_frame(plane_frame(i, size, step=0.01))
        w.write_frame(f, flow_fwd=known_flow(size) if i < n - 1 else None)
    w.finish()
    return path


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    """<root>/y-test/seq_a and <root>/y-test/seq_b, 6 frames of 48 x 48 each."""
    root = tmp_path_factory.mktemp("viewds")
    write_sequence(root / "y-test" / "seq_a")
    write_sequence(root / "y-test" / "seq_b", n=4)
    return root
