"""The shading-program variants of benchmarks/shading_instructions.py (used by
``bench_render.py --shading-variant`` to show where the render's time goes) still find their
anchors in the shipped shader, so the benchmark cannot silently time the full look."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "shading_instructions.py"


def _edits() -> dict:
    spec = importlib.util.spec_from_file_location("shading_instructions", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.EDITS


@pytest.mark.skipif(not BENCH.exists(), reason="benchmarks/ not in this installation")
def test_shading_variants_match_the_shader():
    from room.render import shaders

    edits = _edits()
    assert edits["full"] is None and {"empty", "no_lights", "no_tex", "no_bump"} <= set(edits)
    for name, edit in edits.items():
        if edit is None:
            continue
        old, new = edit
        assert shaders.SHADE_COMMON.count(old) == 1, name  # one place, so one edit
        assert shaders.SHADE_COMMON.replace(old, new) != shaders.SHADE_COMMON
