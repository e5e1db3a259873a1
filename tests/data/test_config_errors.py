"""Every setting is checked when the config is composed, before any work: a wrong type, range or
output path ends in a message that names the setting, never in a traceback after minutes."""

from __future__ import annotations

import os

import pytest
from hydra.errors import ConfigCompositionException

from room.compose import compose_generate
from room.errors import ConfigError
from room.fileio import check_output_dir


@pytest.mark.parametrize("override,message", [
    ("seed=-1", "non-negative"),
    ("camera.width=8000", "8..4096 px"),
    ("camera.near=0.5", "near < far"),
    ("out=", "out= is empty"),
    ("output.modalities=[rgb,nonsense]", "unknown"),
    ("scene.resample_spacing_m=0.0015", "leaks into the lung"),
])
def test_impossible_values_fail_at_composition(override, message):
    with pytest.raises(ConfigError, match=message):
        compose_generate([override])


@pytest.mark.parametrize("override", ["camera.width=abc", "camera.widht=64", "seed=zero"])
def test_wrong_types_and_names_fail_at_composition(override):
    with pytest.raises(ConfigCompositionException):
        compose_generate([override])


def test_output_below_a_file_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "notes.txt" / "ds")
    assert check_output_dir(tmp_path / "new" / "ds") == tmp_path / "new" / "ds"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_read_only_output_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(ConfigError, match="not writable"):
            check_output_dir(ro / "ds")
    finally:
        ro.chmod(0o755)


@pytest.mark.slow
def test_cli_exits_nonzero_before_any_work(run_cli, tmp_path):
    """The message comes before the scene is prepared (no cache entry is written)."""
    (tmp_path / "afile").write_text("x")
    for args, code, text in ((["seed=-1"], 2, "seed=-1"),
                             ([f"out={tmp_path / 'afile' / 'ds'}"], 2, "not a folder"),
                             (["camera.width=abc"], 1, "camera.width")):
        r = run_cli("room.cli.generate", *args)
        assert r.returncode == code, (args, r.stderr[-1500:])
        assert text in r.stderr and "Traceback" not in r.stderr, r.stderr[-1500:]
    assert not list((tmp_path / "cache").glob("scenes/*"))
