"""Scene preparation: CT file or procedural phantom -> segmentation -> meshes + centerline ->
:class:`AirwayScene` folder.

``prepare_scene(cfg, out_dir)`` runs every stage, times it, and writes the scene folder
atomically (nothing is written before every stage has succeeded). ``get_scene(cfg)`` returns the
scene of a recipe, prepared once and cached under ``room.paths.cache_dir()/scenes/<hash>``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from room.anatomy.centerline import CenterlineConfig, compare_trees, extract_centerline
from room.anatomy.ct_checks import check_resample_spacing
from room.anatomy.labelmap import PiecesConfig
from room.anatomy.mesh import MeshConfig, face_branch_ids, make_collision_mesh, mask_to_mesh
from room.anatomy.phantom import PhantomConfig
from room.anatomy.scene import SCENE_FORMAT_VERSION, AirwayScene, check_out_folder
from room.anatomy.segment import SegmentConfig
from room.anatomy.volume import Volume
from room.config import asdict
from room.errors import ConfigError, InputFileError, SceneError, SegmentationError
from room.versions import software_versions

log = logging.getLogger(__name__)

# the libraries that shape a scene (recorded in scene.json)
SCENE_SOFTWARE = ("numpy", "scipy", "SimpleITK", "scikit-image", "trimesh", "fast-simplification",
                  "networkx")

SOURCES = ("phantom", "ct", "label_map")
SEGMENTATIONS = ("auto", "ground_truth", "label_map")
SHARED_PREFIX = "shared:"  # "shared:ct/x.nii.gz" = a file in the shared reference-data folder


@dataclass(frozen=True)
class SceneConfig:
    """Recipe of a scene (Hydra group ``conf/scene``). Default: the built-in phantom.

    - ``source``: ``phantom`` (procedural, settings in ``phantom``), ``ct`` (file or DICOM
      folder ``ct``, optional ``series_id``) or ``label_map`` (an airway label map alone, no
      CT: the file ``label_map`` gives the world frame; segmentation is then ``label_map``).
    - ``segmentation``: ``auto`` (segment the CT, settings in ``segment``, optional manual
      ``seed_point`` in world metres), ``ground_truth`` (the phantom's exact lumen) or
      ``label_map`` (import the airway labels ``labels`` of the file ``label_map``; default:
      every non-zero label). A label map in pieces is reduced to the tree that holds the
      trachea (settings in ``pieces``, see :mod:`room.anatomy.labelmap`).
    - ``resample_spacing_m``: resample the CT to this isotropic spacing first (None: keep).
    """

    name: str = "phantom"
    source: str = "phantom"
    ct: str | None = None
    series_id: str | None = None
    segmentation: str = "auto"
    label_map: str | None = None
    labels: tuple[int, ...] = ()
    seed_point: tuple[float, ...] | None = None
    resample_spacing_m: float | None = None
    phantom: PhantomConfig = field(default_factory=PhantomConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    pieces: PiecesConfig = field(default_factory=PiecesConfig)
    mesh: MeshConfig = field(default_factory=MeshConfig)
    centerline: CenterlineConfig = field(default_factory=CenterlineConfig)
    preview: bool = True  # write preview.png (CT slices with the mask) into the scene folder

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"scene.source must be one of {SOURCES}, got {self.source!r}")
        if self.segmentation not in SEGMENTATIONS:
            raise ConfigError(
                f"scene.segmentation must be one of {SEGMENTATIONS}, got {self.segmentation!r}"
            )
        if self.source == "ct" and not self.ct:
            raise ConfigError("scene.source is 'ct' but no CT was given; pass ct=PATH")
        if self.source == "label_map":
            if self.segmentation == "ground_truth":
                raise ConfigError("scene.source=label_map: the label map is the segmentation; "
                                  "drop scene.segmentation=ground_truth")
            object.__setattr__(self, "segmentation", "label_map")
        if self.segmentation == "ground_truth" and self.source != "phantom":
            raise ConfigError("scene.segmentation=ground_truth exists only for the phantom")
        if self.segmentation == "label_map" and not self.label_map:
            raise ConfigError("scene.segmentation=label_map needs a label map: pass "
                              "label_map=PATH")
        if self.seed_point is not None and len(self.seed_point) != 3:
            raise ConfigError(f"scene.seed_point must be 3 numbers (metres), got {self.seed_point}")
        if self.resample_spacing_m is not None:
            if not 1e-4 <= self.resample_spacing_m:
                raise ConfigError(
                    f"scene.resample_spacing_m={self.resample_spacing_m} m is absurd; "
                    "use 0.0001-0.001 (0.1-1 mm) or null")
            check_resample_spacing(self.resample_spacing_m)  # coarser than 1 mm leaks


@dataclass(frozen=True)
class PrepareConfig:
    """Settings of ``room-prepare`` (schema of ``conf/prepare.yaml``): the scene recipe (group
    ``scene``) and the command's shortcuts.

    ``ct``: a CT file or DICOM folder (sets ``scene.source=ct``); ``series_id``: the DICOM
    series when the folder holds several; ``label_map``: an airway label map (sets
    ``scene.segmentation=label_map``; without ``ct`` also ``scene.source=label_map``: the mask
    alone makes the scene); ``labels``: its airway label values (default: every non-zero one);
    ``recipe``: a recipe file (``scenes/*.yaml``) merged over the scene preset; ``out``: the
    scene folder to write (None: the cache, ``room.paths.cache_dir()/scenes``); ``overwrite``:
    replace an existing ``out`` folder, only one that room-prepare wrote."""

    scene: SceneConfig = field(default_factory=SceneConfig)
    ct: str | None = None
    series_id: str | None = None
    label_map: str | None = None
    labels: list[int] | None = None
    recipe: str | None = None
    out: str | None = None
    overwrite: bool = False
    progress: bool = True


def resolve_path(p: str | os.PathLike) -> Path:
    """A user path; ``shared:REL`` names a file in the shared reference-data folder."""
    s = str(p)
    if s.startswith(SHARED_PREFIX):
        from room.paths import shared_data_dir

        root = shared_data_dir()
        if root is None:
            raise InputFileError(
                f"{s}: the shared reference-data folder is absent; set ROOM_SHARED_DATA or "
                "give a path to the file"
            )
        return root / s[len(SHARED_PREFIX):]
    return Path(s).expanduser()


# --------------------------------------------------------------------------- stages


@dataclass
class _Run:
    """State passed along the stages, with per-stage timings (seconds)."""

    cfg: SceneConfig
    timings: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    ct: Volume | None = None
    mask: Volume | None = None
    gt_tree: Any = None
    parts: dict[str, Any] = field(default_factory=dict)  # mesh, collision, tree, face_branch


def _stage_load(run: _Run) -> None:
    cfg = run.cfg
    if cfg.source == "phantom":
        from room.anatomy.phantom import make_phantom

        ph = make_phantom(cfg.phantom)
        run.ct, run.gt_tree = ph.ct, ph.tree
        if cfg.segmentation == "ground_truth":
            run.mask = ph.lumen
        run.meta["source"] = {"type": "phantom", "seed": cfg.phantom.seed,
                              "generations": cfg.phantom.generations}
    elif cfg.source == "label_map":  # mask only: its geometry is the world frame
        from room.anatomy.labelmap import read_label_map

        path = resolve_path(cfg.label_map)
        run.mask = read_label_map(path, list(cfg.labels) or None)
        run.meta["source"] = {"type": "label_map", "path": str(path.resolve()),
                              "labels": list(cfg.labels) or "non-zero"}
    else:
        from room.anatomy.ct import load_ct
        from room.anatomy.ct_checks import MAX_SLICE_M

        path = resolve_path(cfg.ct)
        run.ct = load_ct(path, series_id=cfg.series_id, max_slice_m=MAX_SLICE_M)
        run.meta.setdefault("warnings", []).extend(run.ct.warnings)
        run.meta["source"] = {"type": "ct", "path": str(path.resolve()),
                              "series_id": cfg.series_id or run.ct.metadata.get("series_id")}
    if cfg.resample_spacing_m is not None:
        from room.anatomy.ct import check_resample_spacing, resample_isotropic

        native = (run.ct if run.ct is not None else run.mask).spacing
        run.meta.setdefault("warnings", []).extend(
            check_resample_spacing(cfg.resample_spacing_m, native))
        if run.ct is not None:
            run.ct = resample_isotropic(run.ct, cfg.resample_spacing_m)
        if run.mask is not None:
            run.mask = resample_isotropic(run.mask, cfg.resample_spacing_m, mask=True)
    grid = run.ct if run.ct is not None else run.mask
    run.meta["spacing_m"] = [float(s) for s in grid.spacing]
    run.meta["shape_xyz"] = [int(n) for n in grid.shape_xyz]


def _stage_segment(run: _Run) -> None:
    cfg = run.cfg
    if cfg.segmentation == "auto":
        from room.anatomy.segment import segment_airway

        seed = None if cfg.seed_point is None else np.asarray(cfg.seed_point, float)
        run.mask = segment_airway(run.ct, cfg.segment, seed_point=seed)
    elif cfg.segmentation == "label_map":
        from room.anatomy.labelmap import keep_airway_tree

        if run.ct is not None:  # a label map made from this CT
            from room.anatomy.labelmap import import_label_map

            run.mask = import_label_map(resolve_path(cfg.label_map), list(cfg.labels) or None,
                                        reference=run.ct)
        _check_not_empty(run.mask)
        run.mask, report = keep_airway_tree(run.mask, cfg.pieces)
        run.meta["label_map_pieces"] = report
        run.meta.setdefault("warnings", []).extend(report["warnings"])
    mask = run.mask
    n = _check_not_empty(mask)
    run.meta["lumen_voxels"] = n
    run.meta["lumen_volume_ml"] = n * mask.voxel_volume_m3 * 1e6


def _check_not_empty(mask: Volume) -> int:
    n = int(np.count_nonzero(mask.array))
    if n == 0:
        raise SegmentationError(
            "the airway segmentation is empty; check that the CT shows the trachea, give a seed "
            "point (scene.seed_point) or an airway label map"
        )
    return n


def _stage_mesh(run: _Run) -> None:
    run.parts["mesh"] = mask_to_mesh(run.mask, run.cfg.mesh)


def _stage_collision(run: _Run) -> None:
    run.parts["collision"] = make_collision_mesh(run.parts["mesh"], run.cfg.mesh.collision_faces)


def _stage_centerline(run: _Run) -> None:
    seed = None if run.cfg.seed_point is None else np.asarray(run.cfg.seed_point, float)
    tree = extract_centerline(run.mask, run.cfg.centerline, root_hint=seed)
    run.parts["tree"] = tree
    if run.gt_tree is not None:
        cmp = compare_trees(tree, run.gt_tree, voxel_m=float(run.mask.spacing.min()))
        cmp.pop("matches")
        run.meta["centerline_vs_ground_truth"] = cmp


def _stage_face_branch(run: _Run) -> None:
    run.parts["face_branch"] = face_branch_ids(run.parts["mesh"], run.parts["tree"])


STAGES: tuple[tuple[str, Callable[[_Run], None]], ...] = (
    ("load", _stage_load),
    ("segment", _stage_segment),
    ("mesh", _stage_mesh),
    ("collision", _stage_collision),
    ("centerline", _stage_centerline),
    ("face_branch", _stage_face_branch),
)


def prepare_scene(cfg: SceneConfig | None = None, out_dir: str | Path | None = None,
                  progress: bool = True, overwrite: bool = False) -> AirwayScene:
    """Run every stage and return the :class:`AirwayScene` (saved to ``out_dir`` if given).

    Metadata: source, spacing, settings, software versions, per-stage timings (seconds), lumen
    volume, and for the phantom the centerline accuracy against the exact tree. The folder is
    written only after every stage succeeded, atomically; on any error nothing is left behind.

    Raises:
        RoomError subclasses: InputFileError / NotCTError (input), SegmentationError, MeshError,
        SceneError (``out_dir`` exists and ``overwrite`` is false).
    """
    cfg = cfg or SceneConfig()
    if out_dir is not None:  # before any work: a file on the path, a folder not ours
        check_out_folder(out_dir, overwrite)
    run = _Run(cfg)
    bar = _progress(progress, len(STAGES) + (out_dir is not None))
    t_all = time.perf_counter()
    try:
        for name, fn in STAGES:
            bar.set_description(f"prepare: {name}")
            t0 = time.perf_counter()
            fn(run)
            run.timings[name] = time.perf_counter() - t0
            bar.update(1)
        parts = run.parts
        scene = AirwayScene(
            mesh=parts["mesh"], collision_mesh=parts["collision"], tree=parts["tree"],
            face_branch=parts["face_branch"], metadata={},
        )
        run.meta.update(
            name=cfg.name, settings=asdict(cfg), software=software_versions(*SCENE_SOFTWARE),
            mesh_volume_ml=float(abs(scene.mesh.volume) * 1e6), timings_s=run.timings,
        )
        scene.metadata = run.meta
        if out_dir is not None:
            bar.set_description("prepare: save")
            t0 = time.perf_counter()

            def finish(tmp: Path) -> None:  # inside the temporary folder, before scene.json
                if cfg.preview:
                    _write_preview(run, tmp)
                run.timings["save"] = time.perf_counter() - t0
                run.timings["total"] = time.perf_counter() - t_all

            scene.save(out_dir, overwrite=overwrite, before_index=finish)
            bar.update(1)
        else:
            run.timings["total"] = time.perf_counter() - t_all
    finally:
        bar.close()
    return scene


def _progress(enabled: bool, total: int):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, leave=False, unit="stage")


def _write_preview(run: _Run, folder: Path) -> None:
    """preview.png: axial, coronal and sagittal CT slices with the mask (without a CT: the mask
    drawn as air in tissue)."""
    try:
        from room.anatomy.preview import save_preview
    except ImportError:  # pragma: no cover - preview tool not available in this checkout
        return
    from room.anatomy.labelmap import pseudo_ct

    ct = run.ct if run.ct is not None else pseudo_ct(run.mask)
    save_preview(ct, run.mask, folder / "preview.png")


# --------------------------------------------------------------------------- cache


def config_hash(cfg: SceneConfig) -> str:
    """Stable hash of a recipe (settings, scene format, room version, and for CT input the
    file's size and modification time, so an edited CT is prepared again)."""
    from room._version import __version__

    key: dict[str, Any] = {"settings": asdict(cfg), "format": SCENE_FORMAT_VERSION,
                           "room": __version__}
    for name in ("ct", "label_map"):
        p = getattr(cfg, name)
        if p:
            key[f"{name}_stat"] = _path_stamp(resolve_path(p))
    blob = json.dumps(key, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _path_stamp(p: Path) -> list:
    if not p.exists():
        return [str(p), None]
    files = sorted(p.rglob("*")) if p.is_dir() else [p]
    st = [(f.name, f.stat().st_size, int(f.stat().st_mtime)) for f in files if f.is_file()]
    return [str(p.resolve()), st]


def scene_cache_path(cfg: SceneConfig) -> Path:
    from room.paths import cache_dir

    return cache_dir() / "scenes" / f"{cfg.name}-{config_hash(cfg)}"


def get_scene(cfg: SceneConfig | None = None, progress: bool = False) -> AirwayScene:
    """The scene of a recipe: loaded from the cache, or prepared once and cached.

    Always returns the scene as loaded from its cache folder, also right after preparing it: a
    freshly prepared mesh holds float64 vertices that ``mesh.ply`` rounds, and datasets must not
    depend on whether the cache was warm.
    """
    cfg = cfg or SceneConfig()
    path = scene_cache_path(cfg)
    if path.is_dir():
        try:
            return AirwayScene.load(path)
        except SceneError as e:
            log.warning("cached scene %s is unusable (%s); preparing it again", path, e)
            _discard(path)
    try:
        prepare_scene(cfg, path, progress=progress, overwrite=path.exists())
    except SceneError:
        if not path.is_dir():  # else another process prepared it meanwhile
            raise
    return AirwayScene.load(path)


def _discard(path: Path) -> None:
    """Remove a bad cache entry (moved aside first, so a reader never sees it half-deleted)."""
    import shutil

    aside = path.parent / f".{path.name}.old-{os.getpid()}-bad"
    try:
        path.rename(aside)
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def summary(scene: AirwayScene) -> str:
    """Human-readable summary: source, lumen volume, branches per generation, timings, path."""
    m = scene.metadata
    lines = [f"scene '{m.get('name', '?')}' from {m.get('source', {}).get('type', '?')}"]
    if "spacing_m" in m:
        sp = " x ".join(f"{s * 1e3:.2f}" for s in m["spacing_m"])
        lines.append(f"  volume: {' x '.join(map(str, m['shape_xyz']))} voxels, {sp} mm")
    if "lumen_volume_ml" in m:
        lines.append(f"  airway lumen: {m['lumen_volume_ml']:.1f} mL (mask), "
                     f"{m.get('mesh_volume_ml', float('nan')):.1f} mL (mesh)")
    lines.append(f"  mesh: {len(scene.mesh.faces)} faces, collision "
                 f"{len(scene.collision_mesh.faces)} faces")
    per_gen = scene.tree.branches_per_generation()
    lines.append(f"  branches: {len(scene.tree)} "
                 f"(per generation: {', '.join(f'{g}: {n}' for g, n in per_gen.items())})")
    pieces = m.get("label_map_pieces")
    if pieces and pieces.get("pieces", 1) > 1:
        lines.append(
            f"  label map: {pieces['pieces']} pieces, kept the {pieces['root']} "
            f"({pieces['kept_ml']:.1f} of {pieces['mask_ml']:.1f} mL), bridged "
            f"{pieces['bridged_pieces']} piece(s), dropped {pieces['dropped_pieces']} piece(s) "
            f"= {pieces['dropped_ml']:.2f} mL (largest {pieces['largest_dropped_ml']:.2f} mL)")
    for w in m.get("warnings", []):
        lines.append(f"  WARNING: {w}")
    gt = m.get("centerline_vs_ground_truth")
    if gt:
        lines.append(
            f"  centerline vs ground truth: median {gt.get('centerline_median_vox', 0):.2f} "
            f"voxel, radius error median {100 * gt['radius_rel_err_median']:.1f}% max "
            f"{100 * gt['radius_rel_err_max']:.1f}%, branches detected "
            f"{100 * gt['branches_detected']:.0f}%, topology "
            f"{'matches' if gt['topology_match'] else 'differs'}"
        )
    t = m.get("timings_s", {})
    if t:
        lines.append("  timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in t.items()))
    if scene.path is not None:
        lines.append(f"  written to {scene.path}")
    return "\n".join(lines)
