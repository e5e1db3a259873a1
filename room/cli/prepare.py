"""``room-prepare``: prepare an airway scene (phantom by default, or ``ct=PATH``).

Examples::

    room-prepare                                  # built-in phantom, cached, prints the path
    room-prepare ct=chest.nii.gz out=scenes/p01   # a CT file or DICOM folder
    room-prepare label_map=airway.nii.gz out=scenes/m01   # an airway mask alone (no CT)
    room-prepare label_map=labels.nii.gz labels=[1,2] out=scenes/m02   # only these labels
    room-prepare ct=chest.nii.gz label_map=airway.nii.gz  # a CT with its own airway mask
    room-prepare scene=carina_crop out=/tmp/crop  # a preset of conf/scene
    room-prepare recipe=scenes/phantom_small.yaml # a recipe file (a SceneConfig mapping)
    room-prepare scene.phantom.generations=4 scene.mesh.target_faces=100000
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from room.cli.common import cli_errors
from room.compose import hydra_main
from room.errors import ConfigError, InputFileError


def scene_config(cfg: DictConfig):
    """The typed SceneConfig of a composed ``prepare`` config: the ``scene`` group, a recipe
    file on top (``recipe=PATH``), then the ``ct=`` / ``series_id=`` / ``label_map=`` /
    ``labels=`` shortcuts."""
    from omegaconf.errors import MissingMandatoryValue

    from room.anatomy.prepare import SceneConfig
    from room.config import to_dataclass

    scene = OmegaConf.create(OmegaConf.to_container(cfg.scene, resolve=False))
    if cfg.get("recipe"):
        path = Path(cfg.recipe)
        if not path.is_file():
            raise InputFileError(f"recipe {path} does not exist; see scenes/ for examples")
        recipe = OmegaConf.load(path)
        if not isinstance(recipe, DictConfig):
            raise ConfigError(f"recipe {path} must be a mapping of scene settings")
        scene = OmegaConf.merge(scene, recipe.get("scene", recipe))
    if cfg.get("ct"):
        scene.source, scene.ct = "ct", str(cfg.ct)
        if scene.get("name", "phantom") in ("phantom", "phantom_gt", "ct"):
            scene.name = Path(str(cfg.ct).rstrip("/")).name.split(".")[0] or "ct"
        if scene.get("segmentation") == "ground_truth":
            scene.segmentation = "auto"
    if cfg.get("series_id"):
        scene.series_id = str(cfg.series_id)
    if cfg.get("label_map"):
        scene.label_map, scene.segmentation = str(cfg.label_map), "label_map"
        if scene.get("source") != "ct":  # no CT: the mask alone makes the scene
            scene.source = "label_map"
            if scene.get("name", "phantom") in ("phantom", "phantom_gt", "ct"):
                scene.name = Path(str(cfg.label_map).rstrip("/")).name.split(".")[0] or "mask"
    if cfg.get("labels") is not None:
        scene.labels = list(cfg.labels)
    try:
        plain = OmegaConf.to_container(scene, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as e:
        raise ConfigError(f"missing setting {e.full_key}: give it on the command line "
                          "(for a CT: ct=PATH)") from e
    return to_dataclass(SceneConfig, plain)


@hydra_main("prepare")
@cli_errors
def main(cfg: DictConfig) -> None:
    from room.anatomy import load_scene
    from room.anatomy.prepare import prepare_scene, summary

    scene_cfg = scene_config(cfg)
    if cfg.get("out"):
        scene = prepare_scene(scene_cfg, Path(cfg.out), progress=cfg.progress,
                              overwrite=cfg.overwrite)
    else:
        scene = load_scene(scene_cfg, progress=cfg.progress)
    print(summary(scene))


if __name__ == "__main__":
    main()
