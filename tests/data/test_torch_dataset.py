"""FrameDataset: tensor shapes/values match the reader, sequence-level splits are disjoint."""

from __future__ import annotations

import numpy as np
import pytest

from room.data.reader import SequenceReader
from room.data.torch_dataset import FrameDataset, split_counts
from tests.data.test_writer_reader import write_all

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    for k in range(5):
        write_all(root / "scene" / f"seq{k}", preview=0)
    return root


def test_items_match_reader(dataset_root):
    ds = FrameDataset(dataset_root, modalities=("rgb", "depth", "normals", "segmentation",
                                                "flow_fwd", "flow_fwd_valid"))
    assert len(ds) == 5 * 4
    item = ds[1]
    r = SequenceReader(ds.sequences[item["sequence"]].path)
    f = r[item["index"]]
    assert item["rgb"].shape == (3, 32, 32) and item["rgb"].dtype == torch.float32
    assert torch.equal(item["rgb"], torch.from_numpy(f.rgb).permute(2, 0, 1).float() / 255)
    assert item["depth"].shape == (1, 32, 32)
    assert np.array_equal(item["depth"][0].numpy(), f.depth)
    assert torch.equal(item["valid"][0], torch.from_numpy(f.depth > 0))
    assert item["segmentation"].dtype == torch.int64
    assert np.array_equal(item["K"].numpy(), f.intrinsics.K.astype(np.float32))
    assert np.array_equal(item["T_world_cam"].numpy(), f.T_world_cam)
    assert item["flow_fwd"].shape == (2, 32, 32)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["rgb"].shape == (3, 3, 32, 32)


def test_sequence_splits_are_disjoint_and_deterministic(dataset_root):
    parts = {s: FrameDataset(dataset_root, split=s, fractions=(0.6, 0.2, 0.2), seed=3)
             for s in ("train", "val", "test")}
    seqs = {s: {d.sequences[k].path for k, _ in d.items} for s, d in parts.items()}
    assert [len(seqs[s]) for s in ("train", "val", "test")] == [3, 1, 1]
    assert not (seqs["train"] & seqs["val"]) and not (seqs["train"] & seqs["test"])
    again = FrameDataset(dataset_root, split="train", fractions=(0.6, 0.2, 0.2), seed=3)
    assert again.items == parts["train"].items
    assert split_counts(1, (0.8, 0.1, 0.1)) == (1, 0, 0)
