"""room.fileio: atomic writes leave the old file or the new one, never a part or a temp file."""

from __future__ import annotations

import numpy as np
import pytest

from room.fileio import atomic_path, write_atomic, write_mp4


def test_atomic_write_replaces_whole_and_cleans_up_on_error(tmp_path):
    f = tmp_path / "a.json"
    write_atomic(f, "old")
    with pytest.raises(RuntimeError), atomic_path(f) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("boom")
    assert f.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    write_atomic(f, b"new")
    assert f.read_bytes() == b"new"


def test_mp4_is_bit_exact(tmp_path):
    frames = [np.full((32, 48, 3), 10 * k, np.uint8) for k in range(3)]
    a = write_mp4(tmp_path / "a.mp4", frames)
    b = write_mp4(tmp_path / "b.mp4", iter(frames))
    assert a.read_bytes() == b.read_bytes() and a.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "b.mp4"]
    with pytest.raises(ValueError):
        write_mp4(tmp_path / "c.mp4", [])
