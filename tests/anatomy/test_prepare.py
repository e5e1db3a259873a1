"""Scene preparation pipeline, cache, presets and the room-prepare CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from room.anatomy.phantom import PhantomConfig
from room.anatomy.prepare import (
    STAGES,
    SceneConfig,
    config_hash,
    get_scene,
    prepare_scene,
    scene_cache_path,
    summary,
)
from room.anatomy.scene import AirwayScene
from room.errors import ConfigError, MeshError
from room.paths import REPO_ROOT

# A small phantom (3 generations at 1 mm) meshed from its exact lumen: about a second a stage.
SMALL = {"name": "small", "segmentation": "ground_truth",
         "phantom": {"generations": 3, "spacing_m": 0.001, "seed": 3}, "preview": False}
# Trachea and main bronchi at 1.5 mm: a fraction of a second, for plumbing tests.
TINY = {**SMALL, "name": "tiny", "phantom": {"generations": 1, "spacing_m": 0.0015, "seed": 3}}
TINY_ARGS = ["scene=phantom_gt", "scene.name=tiny", "scene.phantom.generations=1",
             "scene.phantom.spacing_m=0.0015", "scene.phantom.seed=3", "scene.preview=false"]


def small_cfg(**kw) -> SceneConfig:
    from room.config import to_dataclass

    return to_dataclass(SceneConfig, {**SMALL, **kw})


def tiny_cfg(**kw) -> SceneConfig:
    from room.config import to_dataclass

    return to_dataclass(SceneConfig, {**TINY, **kw})


@pytest.fixture(scope="module")
def small_scene(tmp_path_factory):
    out = tmp_path_factory.mktemp("prep") / "small"
    return prepare_scene(small_cfg(), out, progress=False)


def test_prepare_small_phantom(small_scene):
    s = small_scene
    assert s.path is not None and (s.path / "scene.json").is_file()
    again = AirwayScene.load(s.path)
    assert len(again.mesh.faces) == len(s.mesh.faces) == len(s.face_branch)
    assert s.mesh.is_watertight and s.mesh.volume < 0  # closed, normals into the lumen
    assert s.collision_mesh.volume < 0 and len(s.collision_mesh.faces) <= 100_000
    assert set(np.unique(s.face_branch)) == set(s.tree.branches)
    m = json.loads((s.path / "scene.json").read_text())["metadata"]
    assert m["source"]["type"] == "phantom" and m["spacing_m"] == [0.001] * 3
    assert set(m["timings_s"]) == {name for name, _ in STAGES} | {"save", "total"}
    assert m["settings"]["phantom"]["generations"] == 3
    assert "numpy" in m["software"] and "room" in m["software"]
    assert m["lumen_volume_ml"] == pytest.approx(m["mesh_volume_ml"], rel=0.05)
    gt = m["centerline_vs_ground_truth"]
    # issue targets on the phantom: centerline within 0.5 voxel (median), radius within 15 %,
    # topology (bifurcations per generation) matching
    assert gt["centerline_median_vox"] < 0.5
    assert gt["radius_rel_err_max"] < 0.15
    assert gt["topology_match"] and gt["branches_detected"] == 1.0
    text = summary(s)
    assert "mL" in text and "per generation" in text and str(s.path) in text


def test_prepare_is_deterministic():
    a, b = (prepare_scene(tiny_cfg(), None, progress=False) for _ in range(2))
    np.testing.assert_array_equal(a.mesh.vertices, b.mesh.vertices)
    np.testing.assert_array_equal(a.face_branch, b.face_branch)
    assert a.tree.to_dict() == b.tree.to_dict()


def test_failure_leaves_nothing(tmp_path, monkeypatch):
    import room.anatomy.prepare as prep

    def broken(run):
        raise MeshError("broken on purpose")

    stages = tuple((n, broken if n == "centerline" else f) for n, f in STAGES)
    monkeypatch.setattr(prep, "STAGES", stages)
    with pytest.raises(MeshError):
        prepare_scene(tiny_cfg(), tmp_path / "s", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_get_scene_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("ROOM_CACHE", str(tmp_path))
    cfg = tiny_cfg()
    first = get_scene(cfg)
    assert first.path == scene_cache_path(cfg) and first.path.is_relative_to(tmp_path)

    import room.anatomy.prepare as prep

    monkeypatch.setattr(prep, "prepare_scene", lambda *a, **k: pytest.fail("not cached"))
    second = get_scene(cfg)
    assert second.path == first.path and len(second.tree) == len(first.tree)


def test_config_hash_is_stable_and_sensitive():
    assert config_hash(small_cfg()) == config_hash(small_cfg())
    assert config_hash(small_cfg()) != config_hash(small_cfg(mesh={"target_faces": 1000}))


def test_scene_config_validation():
    with pytest.raises(ConfigError, match="source"):
        SceneConfig(source="mri")
    with pytest.raises(ConfigError, match="ct=PATH"):
        SceneConfig(source="ct")
    with pytest.raises(ConfigError, match="ground_truth"):
        SceneConfig(source="ct", ct="x.nii.gz", segmentation="ground_truth")
    with pytest.raises(ConfigError, match="coarser than the airway walls"):
        SceneConfig(resample_spacing_m=0.05)
    assert SceneConfig().phantom == PhantomConfig()


def test_every_preset_and_recipe_is_a_valid_scene_config():
    """Each conf/scene preset composes (Hydra Compose API) and each scenes/ recipe loads."""
    from hydra import compose, initialize_config_dir

    from room.cli.prepare import scene_config

    presets = sorted(p.stem for p in (REPO_ROOT / "conf" / "scene").glob("*.yaml"))
    recipes = sorted((REPO_ROOT / "scenes").glob("*.yaml"))
    assert {"phantom", "ct"} <= set(presets) and recipes
    with initialize_config_dir(str(REPO_ROOT / "conf"), version_base=None):
        for p in presets:
            extra = ["ct=/data/chest.nii.gz"] if p == "ct" else []
            cfg = scene_config(compose("prepare", overrides=[f"scene={p}", *extra]))
            assert isinstance(cfg, SceneConfig)
        with pytest.raises(ConfigError, match="ct=PATH"):
            scene_config(compose("prepare", overrides=["scene=ct"]))
        for r in recipes:
            cfg = scene_config(compose("prepare", overrides=[f"recipe={r}"]))
            assert cfg.name == r.stem or r.stem.startswith(cfg.name)
        default = scene_config(compose("prepare"))
        assert default == SceneConfig()


# --------------------------------------------------------------------------- CLI


def _no_litter(cwd: Path, allowed: set[str]) -> None:
    left = {p.name for p in cwd.iterdir()} - allowed
    assert not left, f"room-prepare left {left} in the working directory"


@pytest.mark.slow  # two CLI subprocesses preparing a phantom: 6.6 s
def test_cli_prepares_phantom(run_cli, tmp_path):
    out = tmp_path / "scene"
    r = run_cli("room.cli.prepare", *TINY_ARGS, f"out={out}", "progress=false")
    assert r.returncode == 0, r.stderr
    assert "branches: 3" in r.stdout and "mL" in r.stdout and str(out) in r.stdout
    assert AirwayScene.load(out).tree.branches_per_generation() == {0: 1, 1: 2}
    _no_litter(tmp_path, {"scene", "cache"})
    again = run_cli("room.cli.prepare", *TINY_ARGS, f"out={out}")
    assert again.returncode == 2 and "already exists" in again.stderr


def _write_image(path: Path, arr: np.ndarray, spacing_mm=(1.0, 1.0, 1.0)) -> Path:
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing_mm)
    sitk.WriteImage(img, str(path))
    return path


@pytest.mark.slow  # a CLI subprocess each: 1.5-2.9 s, 9 s for the four
@pytest.mark.parametrize("case", ["missing", "not_ct", "no_trachea", "empty_labels"])
def test_cli_bad_input(run_cli, tmp_path, case):
    out = tmp_path / "scene"
    rng = np.random.default_rng(0)
    body = (-40 + 10 * rng.standard_normal((40, 48, 48))).astype(np.int16)
    body[:, :4] = -1000  # some outside air at the border, but no airway inside the body
    if case == "missing":
        args = [f"ct={tmp_path / 'nope.nii.gz'}"]
        expect = "no such file"
    elif case == "not_ct":
        args = [f"ct={_write_image(tmp_path / 'x.nii.gz', np.full((20, 20, 20), 7, np.uint8))}"]
        expect = "8-bit"
    elif case == "no_trachea":
        args = [f"ct={_write_image(tmp_path / 'ct.nii.gz', body)}"]
        expect = "trachea"
    else:
        ct = _write_image(tmp_path / "ct.nii.gz", body)
        labels = _write_image(tmp_path / "labels.nii.gz", np.zeros(body.shape, np.uint8))
        args = [f"ct={ct}", "scene.segmentation=label_map", f"scene.label_map={labels}"]
        expect = "empty"
    r = run_cli("room.cli.prepare", *args, f"out={out}", "progress=false")
    assert r.returncode != 0
    assert r.stderr.startswith("error: ") and expect in r.stderr.lower(), r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".scene")]



@pytest.mark.realdata
def test_real_carina_crop(shared_data, tmp_path):
    """The real CT crop (lower trachea, carina, main bronchi, 1.5 mm): the short trachea stub
    is the root, both main bronchi are found, and their sizes are human."""
    from room.config import to_dataclass

    cfg = to_dataclass(SceneConfig, {"name": "carina_crop", "source": "ct",
                                     "ct": "shared:ct/chest_ct_carina_crop.nii.gz"})
    s = prepare_scene(cfg, tmp_path / "crop", progress=False)
    t = s.tree.trachea
    assert t.start[2] > t.end[2]  # rooted at the top (superior)
    mains = {s.tree[c].name: s.tree[c] for c in t.children}
    assert set(mains) == {"left main bronchus", "right main bronchus"}
    # trachea 15-20 mm across, main bronchi 10-14 mm (shared/data/README.md); the crop's
    # segmentation and 1.5 mm voxels allow some slack
    assert 6e-3 < t.radius_m < 11e-3
    for b in mains.values():
        assert 4e-3 < b.radius_m < 8.5e-3
    assert mains["left main bronchus"].end[0] > mains["right main bronchus"].end[0]
    assert s.mesh.is_watertight and (s.path / "preview.png").is_file()
    assert 10 < s.metadata["lumen_volume_ml"] < 150  # no leak into the lungs (litres)


def test_cli_errors_helper(capsys):
    from room.cli.common import INTERRUPTED_EXIT_CODE, cli_errors
    from room.errors import SegmentationError

    @cli_errors
    def fails(exc):
        raise exc

    with pytest.raises(SystemExit) as e:
        fails(SegmentationError("no trachea found; give a seed point"))
    assert e.value.code == SegmentationError.exit_code == 2
    assert capsys.readouterr().err == "error: no trachea found; give a seed point\n"
    with pytest.raises(SystemExit) as e:
        fails(KeyboardInterrupt())
    assert e.value.code == INTERRUPTED_EXIT_CODE == 130
    with pytest.raises(ValueError):  # bugs keep their traceback
        fails(ValueError("bug"))
    assert cli_errors(lambda: 7)() == 7
