"""Fixtures for the simulator tests: saved analytic scenes (PyBullet loads meshes from files)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def saved_tube(tube, tmp_path_factory):
    tube.save(tmp_path_factory.mktemp("scenes") / "tube")
    return tube


@pytest.fixture(autouse=True)
def _robot_cache(tmp_path_factory, monkeypatch):
    """Generated URDFs go to a per-session cache, not the user's."""
    monkeypatch.setenv("ROOM_CACHE", str(tmp_path_factory.getbasetemp() / "room_cache"))
