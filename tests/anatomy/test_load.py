"""room.anatomy.load_scene: every way of naming a scene gives the same kind of answer."""

from __future__ import annotations

import pytest

from room.anatomy import load_scene
from room.anatomy.load import recipe_config
from room.anatomy.prepare import SceneConfig
from room.anatomy.scene import AirwayScene
from room.errors import ConfigError, InputFileError
from room.paths import REPO_ROOT


def test_synthetic_names_scene_objects_and_folders(tmp_path):
    y = load_scene("y")
    assert isinstance(y, AirwayScene)
    on_disk = load_scene("y", on_disk=True)
    assert on_disk.path is not None and load_scene("y", on_disk=True) is on_disk
    assert load_scene(y) is y
    folder = y.save(tmp_path / "y")
    assert len(load_scene(folder).tree) == len(y.tree)
    assert load_scene(load_scene("tube"), on_disk=True).path is not None


def test_presets_and_recipe_files_become_scene_configs(tmp_path):
    assert recipe_config(REPO_ROOT / "conf" / "scene" / "phantom.yaml") == SceneConfig()
    small = recipe_config(REPO_ROOT / "scenes" / "phantom_small.yaml")
    assert small.name == "phantom_small" and small.phantom.generations == 4
    assert recipe_config({"phantom": {"generations": 3}}).phantom.generations == 3
    with pytest.raises(ConfigError):
        recipe_config({"no_such_setting": 1})
    with pytest.raises(InputFileError):
        recipe_config(tmp_path / "missing.yaml")


def test_unknown_spec_says_what_to_pass():
    with pytest.raises(ConfigError, match="preset name"):
        load_scene("no_such_scene")


@pytest.mark.slow
def test_a_ct_file_is_a_scene_name(shared_data, tmp_path, monkeypatch):
    """load_scene(CT file) prepares (and caches) it as `room-prepare ct=PATH` would; the
    packaged presets resolve by name from any working directory."""
    monkeypatch.setenv("ROOM_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    ct = shared_data / "ct" / "chest_ct_carina_crop.nii.gz"
    scene = load_scene(ct)
    assert scene.metadata["source"]["type"] == "ct"
    assert scene.metadata["name"] == "chest_ct_carina_crop"
    assert len(scene.tree) > 10
    assert load_scene(str(ct)).path == scene.path  # cached: the same folder
