"""CLI error paths: clear messages and non-zero exits, never a traceback."""

from __future__ import annotations


def test_validate_missing_folder_exits_2(run_cli, tmp_path):
    res = run_cli("room.cli.validate", str(tmp_path / "nope"))
    assert res.returncode == 2
    assert "does not exist" in res.stderr and "Traceback" not in res.stderr


def test_validate_empty_folder_is_invalid(run_cli, tmp_path):
    res = run_cli("room.cli.validate", str(tmp_path))
    assert res.returncode == 1 and "INVALID" in res.stdout


def test_generate_rejects_impossible_setting(run_cli, tmp_path):
    res = run_cli("room.cli.generate", f"out={tmp_path / 'o'}", "trajectory.lateral_offset=0.9",
                  f"hydra.run.dir={tmp_path / 'h'}")
    assert res.returncode == 2, res.stderr
    assert "lateral_offset" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "o").exists()  # nothing half-written
