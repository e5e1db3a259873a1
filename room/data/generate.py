"""Dataset generation: scene -> planned camera paths -> renderer (+ sensor) -> writer.

Library side of ``room-generate``. :class:`GenerateJob` holds the typed configs of every stage;
:func:`generate_dataset` writes ``<out>/<scene>/<sequence>/`` folders and returns a summary.

Determinism and resumption: every frame is a pure function of (config, seed, frame index, the
previous frame). The previous frame is exactly what the reader returns for it (the canonical
frame, with the sensor's metadata), so an interrupted run resumes from the files on disk and
ends byte-identical to an uninterrupted one. Flow and point clouds are computed from canonical
frames (depth on the 16-bit grid), so they agree exactly with what a reader gets back: flow on
the GL side (``Renderer.optical_flow``, a function of the two depth maps and poses alone, so the
resumed frame's backward flow from the previous frame read back from disk is the same bytes),
point clouds from depth and the cached ray grid.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from room.anatomy.motion import MotionConfig, make_motion, move_pose
from room.anatomy.prepare import SceneConfig
from room.data import schema
from room.data.reader import SequenceReader
from room.data.writer import SequenceWriter
from room.errors import ConfigError
from room.fileio import check_output_dir
from room.render.camera import CameraConfig
from room.render.config import RenderConfig
from room.render.geometry import strided_cloud
from room.robot.config import RobotConfig
from room.sensor.config import SensorConfig
from room.sim.config import SimConfig
from room.trajectory.config import TrajectoryConfig
from room.types import Frame
from room.versions import software_versions

# the libraries that shape a dataset (recorded in info.json)
DATA_SOFTWARE = ("numpy", "scipy", "cv2", "pyrender", "trimesh", "pybullet")


@dataclass(frozen=True)
class OutputConfig:
    """What to write (group ``conf/output``)."""

    modalities: tuple[str, ...] = schema.ALL_MODALITIES
    pointcloud_stride: int = 4  # keep every n-th row and column of valid pixels in the PLY
    preview_size: int = 192  # edge of one panel of preview.mp4 in pixels; 0 = no preview
    preview_fps: int = 10
    progress: bool = True  # tqdm bars
    flow_format: str = "kitti"  # "kitti" (16-bit PNG, 1/64 px, validity inside) or "flo"

    def __post_init__(self) -> None:
        if self.flow_format not in schema.FLOW_FORMATS:
            raise ConfigError(f"output.flow_format={self.flow_format!r}: choose one of "
                              f"{list(schema.FLOW_FORMATS)} (kitti: 16-bit PNG flow, "
                              "flo: Middlebury float32)")
        bad = set(self.modalities) - set(schema.ALL_MODALITIES)
        if bad:
            raise ConfigError(f"output.modalities: unknown {sorted(bad)}; "
                              f"choose from {list(schema.ALL_MODALITIES)}")
        if self.pointcloud_stride < 1 or self.preview_fps < 1 or self.preview_size < 0:
            raise ConfigError("output: pointcloud_stride >= 1, preview_fps >= 1, "
                              "preview_size >= 0")


@dataclass(frozen=True)
class GenerateConfig:
    """Settings of ``room-generate`` (schema of ``conf/generate.yaml``): where to write, the
    seed, and one typed config per stage (each a Hydra config group of the same name).

    ``scene_dir``: a folder written by ``room-prepare`` (or ``AirwayScene.save``), used as it is;
    the ``scene`` group is then ignored (nothing is re-prepared)."""

    out: str = "room_dataset"  # sequences land in <out>/<scene>/<sequence>/
    seed: int = 0
    scene_dir: str | None = None
    scene: SceneConfig = field(default_factory=SceneConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    sensor: SensorConfig = field(default_factory=SensorConfig)
    robot: RobotConfig = field(default_factory=RobotConfig)  # physical trajectories only
    sim: SimConfig = field(default_factory=SimConfig)  # physical trajectories only
    trajectory: TrajectoryConfig = field(default_factory=TrajectoryConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)

    def __post_init__(self) -> None:
        if not str(self.out).strip():
            raise ConfigError("out= is empty: give the dataset folder to write, e.g. "
                              "out=room_dataset (sequences land in <out>/<scene>/<sequence>/)")
        if self.seed < 0:
            raise ConfigError(f"seed={self.seed}: seeds are non-negative integers (numpy's "
                              "SeedSequence), e.g. seed=0")
        if self.scene_dir is not None and not Path(self.scene_dir).is_dir():
            raise ConfigError(f"scene_dir={self.scene_dir} is not a folder: give a scene folder "
                              "written by room-prepare out=DIR")
        if self.motion.enabled and self.render.backend == "cycles":
            raise ConfigError("motion=breathing with render.backend=cycles: the Cycles backend "
                              "draws a rigid airway only; use render.backend=raster (the "
                              "default) for breathing airways, or motion=static with Cycles")


@dataclass(frozen=True)
class GenerateJob(GenerateConfig):
    """One generation run (one scene, one seed): the typed settings plus ``config_yaml``, the
    resolved configuration saved in every sequence (without output paths)."""

    config_yaml: str = ""


def short_hash(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def scene_recipe(job: GenerateJob, scene: Any) -> dict | None:
    """The scene's recipe (SceneConfig fields): the ``scene`` group, or for ``scene_dir`` the
    settings the folder records (None when it records none)."""
    from room.config import asdict

    if job.scene_dir is not None:
        return scene.metadata.get("settings")
    return asdict(job.scene)


def scene_id(job: GenerateJob, scene: Any) -> str:
    """Folder name of a scene: its recipe name (if any) plus a hash of the recipe."""
    recipe = scene_recipe(job, scene)
    if job.scene_dir is not None:
        name = str(scene.metadata.get("name", "") or Path(job.scene_dir).resolve().name)
    else:
        name = str(job.scene.name or scene.metadata.get("name", "") or "scene")
    return f"{name}-{short_hash(json.dumps(recipe, sort_keys=True))}" if recipe else name


class FrameSource:
    """Renders frame i of a planned sequence: renderer -> canonical frame -> sensor model."""

    def __init__(self, renderer, sensor, planned, seed: int, seq_key: int):
        self.renderer, self.sensor, self.planned = renderer, sensor, planned
        self.seed, self.seq_key = seed, seq_key

    def pose(self, i: int) -> np.ndarray:
        """Frame i's camera pose: the planned one (reference anatomy) carried by the tissue
        at the frame's time when the scene moves (:func:`room.anatomy.motion.move_pose`)."""
        p = self.planned
        return move_pose(getattr(self.renderer, "motion", None), p.poses[i], float(p.times[i]))

    def frame_extra(self, i: int) -> dict[str, Any]:
        """frames.jsonl facts of frame i beyond pose and time: the planned ones, plus, for a
        moving scene simulated in the reference anatomy, ``max_penetration_world_bound_m``:
        the world penetration bound (1 + K) x the simulated depth (docs/motion.md)."""
        out = self.planned.frame_extra(i)
        motion = getattr(self.renderer, "motion", None)
        if motion is not None and "max_penetration_m" in out:
            out["max_penetration_world_bound_m"] = (1.0 + motion.K) * out["max_penetration_m"]
        return out

    def __call__(self, i: int, prev: Frame | None) -> Frame:
        p = self.planned
        f = self.renderer.render(self.pose(i), index=i, time_s=float(p.times[i]))
        f = schema.canonical_frame(f)
        if self.sensor is not None:
            rng = np.random.default_rng([self.seed, self.seq_key, i])
            f = self.sensor.apply(f, prev_frame=prev, rng=rng)
        # JSON round trip: the in-memory meta is exactly what the reader will return
        return f.replace(meta=json.loads(json.dumps(f.meta, sort_keys=True, default=_plain)))

    def optical_flow(self, frame_a: Frame, frame_b: Frame) -> tuple[np.ndarray, np.ndarray]:
        """Flow a -> b and validity of two canonical frames, on the renderer's GL side."""
        return self.renderer.optical_flow(frame_a, frame_b)

    def scene_flow(self, frame_a: Frame, frame_b: Frame) -> np.ndarray:
        """Surface motion a -> b per pixel of a (m, camera-a axes; Renderer.scene_flow)."""
        return self.renderer.scene_flow(frame_a, frame_b)


def _plain(x: Any) -> Any:
    """JSON fallback for numpy scalars and arrays in frame metadata."""
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"frame metadata value of type {type(x).__name__} is not JSON-serializable")


_BACKGROUND_WRITER = True


def parallel_worker() -> None:
    """Settings for a process that generates side by side with others on the same cores
    (``room-generate -m hydra/launcher=joblib``): one llvmpipe rasterizer thread and frames
    committed in the foreground. A lone process uses spare cores for both (about 1.35 cores
    busy at 600 x 600); several would only oversubscribe them."""
    global _BACKGROUND_WRITER
    from room.render.gl import limit_software_threads

    limit_software_threads(1)
    _BACKGROUND_WRITER = False


def write_sequence(writer: SequenceWriter, source: Callable[[int, Frame | None], Frame],
                   planned, stride: int, progress: Callable[[int], None] | None = None) -> int:
    """Render and write the frames of one sequence from where the folder left off.

    Frame i is committed once frame i+1 exists (its forward flow needs it). On resume the
    previous frame comes from disk, identical to the one the interrupted run held in memory.
    Flow comes from ``source.optical_flow`` when the source has one (the renderer's GL pass),
    else from the numpy reference. Returns the number of frames written now."""
    from room.render import geometry

    optical_flow = getattr(source, "optical_flow", geometry.optical_flow)
    n = len(planned)
    start = writer.open()
    if progress:
        progress(start)
    if start >= n:
        return 0
    prev = SequenceReader(writer.path)[start - 1] if start > 0 else None
    cur = source(start, prev)
    mods = writer.modalities
    want_fwd = bool({"flow_fwd", "flow_fwd_valid"} & set(mods))
    want_bwd = bool({"flow_bwd", "flow_bwd_valid"} & set(mods))
    try:
        for i in range(start, n):
            nxt = source(i + 1, cur) if i + 1 < n else None
            fwd = optical_flow(cur, nxt) if nxt is not None and want_fwd else None
            bwd = optical_flow(cur, prev) if prev is not None and want_bwd else None
            cloud = strided_cloud(cur, stride) if "pointcloud" in mods else None
            sf = (source.scene_flow(cur, nxt) if nxt is not None and "scene_flow" in mods
                  else None)
            extra = (source.frame_extra(i) if hasattr(source, "frame_extra")
                     else planned.frame_extra(i))
            writer.write_frame(cur, fwd, bwd, cloud, extra=extra, scene_flow=sf)
            if progress:
                progress(1)
            prev, cur = cur, nxt
    except BaseException:
        writer.wait(quiet=True)  # the frame being committed completes; this error wins
        raise
    writer.wait()
    return n - start


def sequence_info(job: GenerateJob, scene: Any, sid: str, name: str, planned,
                  renderer) -> dict[str, Any]:
    """info.json of one sequence: format facts, intrinsics, scene, seed, software, GL.
    Nothing time-dependent (wall-clock timings go to <out>/run.json)."""

    mods = [m for m in schema.ALL_MODALITIES if m in sequence_modalities(job)]
    encs = schema.encodings(job.output.flow_format)  # the writer completes the flow pairs
    return {
        "format_version": schema.FORMAT_VERSION,
        "units": schema.UNITS,
        "conventions": schema.CONVENTIONS,
        "encodings": {m: encs[m] for m in mods},
        "depth_scale_m": schema.DEPTH_SCALE_M,
        "normal_scale": schema.NORMAL_SCALE,
        "path_templates": {m: f"{encs[m]['dir']}/{{index:06d}}.{encs[m]['ext']}"
                           for m in mods},
        "intrinsics": renderer.intrinsics.to_dict(),
        "scene": {
            "id": sid,
            "recipe": scene_recipe(job, scene),
            "dir": str(Path(job.scene_dir).resolve()) if job.scene_dir is not None else None,
            "faces": int(len(scene.mesh.faces)),
            "metadata_source": str(scene.metadata.get("source", "")),
            "branch_table": scene.branch_table(),
        },
        "sequence": name,
        "seed": int(job.seed),
        "trajectory": {"source": job.trajectory.source, "target_branch": int(planned.target),
                       "frame_rate_hz": float(job.trajectory.frame_rate_hz)},
        "sensor_model": job.sensor is not None and bool(getattr(job.sensor, "enabled", True)),
        "software": software_versions(*DATA_SOFTWARE),
        "renderer": {"gl": dict(getattr(renderer, "gl_info", {})),
                     "rgb": dict(getattr(renderer, "rgb_info", {"backend": "raster"}))},
    }


def sequence_modalities(job: GenerateConfig) -> tuple[str, ...]:
    """What a sequence of ``job`` stores: ``output.modalities``, less scene flow for a rigid
    scene (zero everywhere), plus face ids for a moving one (scene flow and the rebuilt
    surfaces of SequenceReader.mesh are checked through them, and a resumed run needs them)."""
    mods = tuple(job.output.modalities)
    if not job.motion.enabled:
        return tuple(m for m in mods if m not in schema.MOTION_MODALITIES)
    return mods if "face_id" in mods else mods + ("face_id",)


def generate_dataset(job: GenerateJob, scene: Any = None) -> dict[str, Any]:
    """Generate (or resume) every sequence of ``job``; returns a summary dict (frames written,
    sequences, skipped, seconds, folders). ``scene`` overrides loading ``job.scene``."""
    from room.anatomy import load_scene
    from room.render import make_renderer
    from room.sensor import SensorModel, sequence_appearance
    from room.trajectory import plan_sequences

    check_output_dir(job.out)  # before the scene and the first frame, not at the end
    t0 = time.perf_counter()
    if scene is None:
        scene = load_scene(job.scene_dir if job.scene_dir is not None else job.scene)
    t_scene = time.perf_counter() - t0
    sid = scene_id(job, scene)
    plans = plan_sequences(scene, job.trajectory, job.seed, job.robot, job.sim)
    tag = short_hash(job.config_yaml, 6)
    total = sum(len(p) for p in plans)
    bar = _progress(total, job.output.progress)
    written, skipped, folders = 0, 0, []
    try:
        with make_renderer(scene, job.camera, job.render) as renderer:
            for planned in plans:
                name = f"{planned.name}_seed{job.seed}_{tag}"
                path = Path(job.out) / sid / name
                sensor_cfg, look, record = sequence_appearance(
                    job.sensor, job.render, sequence_seed(job.seed, planned.target))
                renderer.set_look(look)
                motion = make_motion(job.motion, scene, sequence_seed(job.seed, planned.target))
                if motion is not None or getattr(renderer, "motion", None) is not None:
                    renderer.set_motion(motion)
                sensor = SensorModel(sensor_cfg) if sensor_cfg is not None else None
                info = sequence_info(job, scene, sid, name, planned, renderer)
                info["appearance"] = record
                if motion is not None:
                    info["motion"] = motion.to_dict()
                w = SequenceWriter(path, info, job.config_yaml, len(planned),
                                   sequence_modalities(job), job.output.pointcloud_stride,
                                   job.output.preview_size, job.output.preview_fps,
                                   background=_BACKGROUND_WRITER,
                                   flow_format=job.output.flow_format)
                folders.append(str(path))
                bar.set_description(name)
                try:  # open() takes the folder's writer lock; close() releases it
                    if w.open() == len(planned) and w.finished:
                        skipped += 1
                        bar.update(len(planned))
                        continue
                    source = FrameSource(renderer, sensor, planned, job.seed, planned.target)
                    written += write_sequence(w, source, planned, job.output.pointcloud_stride,
                                              progress=bar.update)
                    w.finish()
                finally:
                    w.close()
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    return {"frames_written": written, "frames_total": total, "sequences": len(plans),
            "sequences_skipped": skipped, "seconds": seconds, "scene_seconds": t_scene,
            "fps": written / max(seconds - t_scene, 1e-9), "scene": sid, "out": str(job.out),
            "folders": folders}


def sequence_seed(seed: int, seq_key: int) -> int:
    """The appearance seed of one sequence (room.sensor.sequence_appearance): a function of the
    job seed and the sequence key (its target branch) alone."""
    seq = np.random.SeedSequence([int(seed), int(seq_key), 0x6C6F6F6B])
    return int(seq.generate_state(1)[0])


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", disable=not enabled, dynamic_ncols=True,
                smoothing=0.1)


def job_from_config(cfg: Any) -> GenerateJob:
    """GenerateJob from the composed ``conf/generate.yaml`` (DictConfig or dict): every group
    becomes its stage's dataclass (unknown keys raise ConfigError); an absent group takes the
    dataclass defaults."""
    import yaml
    from omegaconf import DictConfig, OmegaConf

    from room.config import to_dataclass

    d = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    d.pop("hydra", None)
    d.pop("config_yaml", None)  # derived below, never a setting
    saved = {k: v for k, v in d.items() if k != "out"}  # output paths never enter the data
    if str((saved.get("motion") or {}).get("kind", "static")) == "static":
        saved.pop("motion", None)  # rigid: the saved config (and folder names) as before
    if saved.get("scene_dir") is None:
        saved.pop("scene_dir", None)
    else:
        saved.pop("scene", None)  # the folder's own settings are in info.json
    config_yaml = yaml.safe_dump(saved, sort_keys=True, default_flow_style=False)
    return to_dataclass(GenerateJob, {**d, "config_yaml": config_yaml})
