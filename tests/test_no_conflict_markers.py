"""No merge-conflict markers in any tracked text file (one once reached the README's command
list unnoticed: the README test runs only its fenced snippets' commands)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^(<{7} |={7}$|>{7} )", re.M)
TEXT = {".py", ".md", ".yaml", ".yml", ".toml", ".cfg", ".txt", ".ipynb", ""}


def test_no_merge_conflict_markers():
    try:
        files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    bad = []
    for rel in files:
        p = ROOT / rel
        if p.suffix not in TEXT or not p.is_file():
            continue
        text = p.read_text(errors="replace")
        if MARKER.search(text):
            bad.append(rel)
    assert not bad, f"merge-conflict markers in {bad}"
