"""room-view cost per video frame against the data stage's preview.mp4 panels (baseline).

Writes an analytic sequence (no renderer) of N frames at SIZE x SIZE, then times, in one
process and side by side: the preview row (room.data.preview.preview_panels), the view frame
(room.viz.video.ViewComposer.frame: same modalities + trajectory marker + header), the one-off
setup of the view (colour scales + trajectory plot) and the contact sheet. Prints ms and the
ratio view / preview.

    python benchmarks/bench_view.py [--frames 30] [--size 256]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _ms(f, n: int = 1) -> float:
    t = time.perf_counter()
    for _ in range(n):
        f()
    return 1e3 * (time.perf_counter() - t) / n


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--size", type=int, default=256)
    a = p.parse_args()

    from room.anatomy.synthetic import y_scene
    from room.data.preview import preview_panels
    from room.data.reader import SequenceReader
    from room.viz.sheet import contact_sheet
    from room.viz.video import ViewComposer
    from tests.viz.conftest import write_sequence

    with tempfile.TemporaryDirectory() as tmp:
        seq = write_sequence(Path(tmp) / "s", n=a.frames, size=a.size)
        r = SequenceReader(seq)
        tree = y_scene().tree
        panel = 192
        t_setup = _ms(lambda: ViewComposer(r, panel, tree=tree))
        comp = ViewComposer(r, panel, tree=tree)
        idx = np.arange(len(r))
        t_prev = np.median([_ms(lambda i=i: preview_panels(r, int(i), panel)) for i in idx])
        t_view = np.median([_ms(lambda i=i: comp.frame(int(i))) for i in idx])
        t_sheet = _ms(lambda: contact_sheet(r, n_frames=6, tree=tree).savefig(
            Path(tmp) / "c.png"))
    print(f"{a.frames} frames of {a.size}x{a.size}, panels {panel} px")
    print(f"preview row (baseline)  {t_prev:8.1f} ms/frame")
    print(f"view frame              {t_view:8.1f} ms/frame   ratio view/preview "
          f"{t_view / t_prev:.2f}")
    print(f"view setup (once)       {t_setup:8.1f} ms")
    print(f"contact sheet (6 rows)  {t_sheet:8.1f} ms")


if __name__ == "__main__":
    main()
