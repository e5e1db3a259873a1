"""``load_scene(spec)``: the one way to get an :class:`AirwayScene` from whatever names it.

``spec`` may be

- an :class:`AirwayScene` (returned as is);
- a :class:`~room.anatomy.prepare.SceneConfig`, or a mapping of its fields (a recipe as stored in
  a dataset's info.json): prepared once and cached (:func:`room.anatomy.prepare.get_scene`);
- ``None``: the default recipe (the built-in phantom);
- ``"y"`` / ``"tube"``: the tiny synthetic scenes of :mod:`room.anatomy.synthetic`;
- a prepared scene folder (``scene.json`` inside);
- a CT file (``.nii.gz``, ``.nrrd``, ``.mha``, ...) or a DICOM series folder: segmented and
  prepared automatically (as ``room-prepare ct=PATH``), then cached;
- a recipe file (``.yaml`` / ``.yml`` / ``.json``: SceneConfig fields, optionally under
  ``scene:``), e.g. ``scenes/phantom_small.yaml``;
- a preset name: ``conf/scene/<name>.yaml`` (e.g. ``"phantom"``, ``"carina_crop"``) or
  ``scenes/<name>.yaml``.

Recipe files and presets list changes to the SceneConfig defaults (a ``defaults:`` list is
ignored). ``on_disk=True`` also guarantees ``scene.path`` (what PyBullet and GL caches need): an
in-memory scene is saved to a temporary folder kept for the life of the process.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from room.anatomy.prepare import SceneConfig, get_scene
from room.anatomy.scene import AirwayScene
from room.config import to_dataclass
from room.errors import ConfigError, InputFileError
from room.paths import conf_dir, recipes_dir

SYNTHETIC = ("y", "tube")
RECIPE_SUFFIXES = (".yaml", ".yml", ".json")
_KEEP: dict[Any, tuple[AirwayScene, tempfile.TemporaryDirectory]] = {}


def recipe_config(recipe: Mapping | str | Path) -> SceneConfig:
    """The SceneConfig of a recipe mapping or file: its fields over the defaults."""
    from omegaconf import DictConfig, OmegaConf

    if not isinstance(recipe, Mapping):
        path = Path(recipe)
        if not path.is_file():
            raise InputFileError(f"recipe {path} does not exist; see scenes/ for examples")
        loaded = OmegaConf.load(path)
        if not isinstance(loaded, DictConfig):
            raise ConfigError(f"recipe {path} must be a mapping of scene settings")
        recipe = OmegaConf.to_container(loaded.get("scene", loaded), resolve=True)
    fields = {k: v for k, v in dict(recipe).items() if k != "defaults"}
    base = OmegaConf.create(_plain(SceneConfig()))
    merged = OmegaConf.to_container(OmegaConf.merge(base, fields), resolve=True)
    return to_dataclass(SceneConfig, merged)


def _plain(cfg: SceneConfig) -> dict:
    from room.config import asdict

    return asdict(cfg)


def _preset(name: str) -> Path | None:
    for folder in (conf_dir() / "scene", recipes_dir()):
        f = folder / f"{name}.yaml"
        if f.is_file():
            return f
    return None


def _on_disk(scene: AirwayScene, key: Any) -> AirwayScene:
    if scene.path is None:
        tmp = tempfile.TemporaryDirectory(prefix="room_scene_")
        scene.save(Path(tmp.name) / "scene")
        _KEEP[key] = (scene, tmp)
    return scene


def load_scene(spec: Any = None, *, progress: bool = False, on_disk: bool = False) -> AirwayScene:
    """The scene ``spec`` names (see the module docstring); SceneError / ConfigError /
    InputFileError with what to pass otherwise."""
    if isinstance(spec, AirwayScene):
        return _on_disk(spec, id(spec)) if on_disk else spec
    if spec is None or isinstance(spec, SceneConfig):
        return get_scene(spec, progress=progress)
    if isinstance(spec, Mapping):
        return get_scene(recipe_config(spec), progress=progress)
    if spec in SYNTHETIC:
        if spec not in _KEEP:
            from room.anatomy import synthetic

            scene = synthetic.y_scene() if spec == "y" else synthetic.tube_scene()
            if not on_disk:
                return scene
            _on_disk(scene, spec)
        return _KEEP[spec][0]
    if isinstance(spec, str | Path):
        p = Path(spec).expanduser()
        if p.is_dir() and (p / "scene.json").is_file():
            return AirwayScene.load(p)
        if p.is_dir() or (p.is_file() and _is_ct_file(p)):  # a DICOM folder or a CT file
            return get_scene(ct_config(p), progress=progress)
        if p.suffix in RECIPE_SUFFIXES and p.is_file():
            return get_scene(recipe_config(p), progress=progress)
        preset = _preset(str(spec)) if isinstance(spec, str) and "/" not in spec else None
        if preset is not None:
            return get_scene(recipe_config(preset), progress=progress)
    raise ConfigError(f"scene {spec!r}: pass an AirwayScene, a SceneConfig or recipe mapping, a "
                      "scene folder (room-prepare out=DIR), a CT file or DICOM folder, a recipe "
                      "file (.yaml), a preset name of conf/scene or scenes/, or one of 'y', "
                      "'tube'")


def _is_ct_file(p: Path) -> bool:
    from room.anatomy.ct import CT_SUFFIXES

    return p.name.lower().endswith(CT_SUFFIXES)


def ct_config(path: Path) -> SceneConfig:
    """The recipe of a CT file or DICOM folder, segmented automatically (as ``room-prepare
    ct=PATH``): named after the file."""
    name = path.resolve().name.split(".")[0] or "ct"
    return SceneConfig(name=name, source="ct", ct=str(path.resolve()))
