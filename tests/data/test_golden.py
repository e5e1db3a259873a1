"""The default dataset is byte-identical to the one recorded before the issue-12 restructuring
(every image, array, pose, flow and point-cloud file, and the preview). A refactor must not
change one byte; a change that is meant to change the data re-records the file with
``python tests/data/test_golden.py --record DIR`` from a freshly generated dataset."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).with_name("golden_default_128.sha256")
# The bytes depend on the rasterizer and the encoders: compare only where they are the ones
# the checksums were recorded with (CI and the developers' machines).
RECORDED_GL = "Mesa 22.3.6"
RECORDED_VERSIONS = {"numpy": "2.4.6", "cv2": "5.1.0", "trimesh": "5.2.0"}


def _checksums(seq: Path) -> dict[str, str]:
    return {str(p.relative_to(seq)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(seq.rglob("*"))
            if p.is_file() and p.name not in ("config.yaml", "info.json")}


def _recorded() -> dict[str, str]:
    out = {}
    for line in GOLDEN.read_text().splitlines():
        if line and not line.startswith("#"):
            digest, rel = line.split("  ", 1)
            out[rel] = digest
    return out


@pytest.mark.slow
@pytest.mark.gl
def test_default_dataset_is_byte_identical(run_cli, tmp_path):
    r = run_cli("room.cli.generate", "camera.width=128", "camera.height=128",
                f"out={tmp_path / 'ds'}", "output.progress=false")
    assert r.returncode == 0, r.stderr[-2000:]
    (seq,) = [p.parent for p in (tmp_path / "ds").glob("*/*/info.json")]
    info = json.loads((seq / "info.json").read_text())
    gl = info["renderer"]["gl"].get("version", "")
    software = info["software"]
    versions = {k: software.get(k, software.get("opencv")) for k in RECORDED_VERSIONS}
    if RECORDED_GL not in gl or versions != RECORDED_VERSIONS:
        pytest.skip(f"checksums were recorded with {RECORDED_GL} and {RECORDED_VERSIONS}; "
                    f"this machine has {gl!r} and {versions}")
    now, recorded = _checksums(seq), _recorded()
    assert set(now) == set(recorded), sorted(set(now) ^ set(recorded))[:10]
    changed = sorted(k for k in now if now[k] != recorded[k])
    assert not changed, f"{len(changed)} files changed, e.g. {changed[:10]}"


if __name__ == "__main__" and sys.argv[1:2] == ["--record"]:
    seq = Path(sys.argv[2])
    lines = [f"{d}  {k}" for k, d in _checksums(seq).items()]
    header = "".join(ln + "\n" for ln in GOLDEN.read_text().splitlines() if ln.startswith("#"))
    GOLDEN.write_text(header + "\n".join(lines) + "\n")
    print(f"recorded {len(lines)} checksums from {seq}")
