"""The default dataset is byte-identical to the one recorded before the issue-12 restructuring
(every image, array, pose, flow and point-cloud file, and the preview). A refactor must not
change one byte; a change that is meant to change the data re-records the file with
``python tests/data/test_golden.py --record DIR`` from a freshly generated dataset (on each
CPU class of GOLDEN_FILES; --record writes this machine's file)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

# The bytes depend on the rasterizer and the encoders: compare only where they are the ones
# the checksums were recorded with (CI and the developers' machines). They also depend on the
# CPU: with AVX-512, numpy's SIMD kernels (trigonometry, reductions) and llvmpipe's JIT code
# (which targets the host CPU) round differently in the last bits, which moves poses,
# exposure and a few pixels (22 of 640 files differed on an AVX-512 AMD EPYC; 5 with numpy's
# AVX-512 kernels switched off). So there is one recording per CPU class (_machine()); a
# machine of another class skips, naming its class.
GOLDEN_FILES = {
    "no-avx512": "golden_default_128.sha256",
    "avx512 AuthenticAMD family 25 model 17": "golden_default_128.avx512_amd_25_17.sha256",
}
RECORDED_GL = "Mesa 22.3.6"
RECORDED_VERSIONS = {"numpy": "2.4.6", "cv2": "5.1.0", "trimesh": "5.2.0"}


def _machine() -> str:
    """The CPU class the bytes depend on: "no-avx512" when numpy dispatches no AVX-512
    kernels; else "avx512", the vendor and the CPU family and model (llvmpipe's JIT targets
    the host CPU)."""
    from numpy._core._multiarray_umath import __cpu_features__

    if not __cpu_features__.get("AVX512_SKX"):
        return "no-avx512"
    info = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            k, _, v = line.partition(":")
            info.setdefault(k.strip(), v.strip())
    except OSError:
        pass
    return (f"avx512 {info.get('vendor_id', '?')} family {info.get('cpu family', '?')} "
            f"model {info.get('model', '?')}")


GOLDEN = Path(__file__).with_name(GOLDEN_FILES.get(_machine(), GOLDEN_FILES["no-avx512"]))


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
    if _machine() not in GOLDEN_FILES:
        pytest.skip(f"no checksums recorded for this CPU class ({_machine()!r}; recorded: "
                    f"{sorted(GOLDEN_FILES)}): record them with --record (module docstring)")
    now, recorded = _checksums(seq), _recorded()
    assert set(now) == set(recorded), sorted(set(now) ^ set(recorded))[:10]
    changed = sorted(k for k in now if now[k] != recorded[k])
    assert not changed, f"{len(changed)} files changed, e.g. {changed[:10]}"


if __name__ == "__main__" and sys.argv[1:2] == ["--record"]:
    seq = Path(sys.argv[2])
    lines = [f"{d}  {k}" for k, d in _checksums(seq).items()]
    if _machine() not in GOLDEN_FILES:
        sys.exit(f"add this CPU class to GOLDEN_FILES first: {_machine()!r}")
    src = GOLDEN if GOLDEN.exists() else Path(__file__).with_name(GOLDEN_FILES["no-avx512"])
    header = "".join(ln + "\n" for ln in src.read_text().splitlines() if ln.startswith("#"))
    GOLDEN.write_text(header + "\n".join(lines) + "\n")
    print(f"recorded {len(lines)} checksums from {seq}")
