"""Read datasets written by :mod:`room.data.writer`.

``SequenceReader(path)[i]`` returns the same :class:`~room.types.Frame` the generator wrote
(the canonical frame, see :func:`room.data.schema.canonical_frame`): bit-identical arrays,
identical pose, index and time. Only frames committed to ``frames.jsonl`` are visible.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from room.data import formats, schema
from room.errors import DatasetError
from room.types import Frame, Intrinsics


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The committed lines of a sequence's frames.jsonl (a torn last line is ignored)."""
    f = Path(path) / schema.FRAMES_FILE
    if not f.exists():
        return []
    lines = f.read_bytes().split(b"\n")[:-1]
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            break
    return out


def read_info(path: str | Path) -> dict[str, Any]:
    f = Path(path) / schema.INFO_FILE
    if not f.exists():
        raise DatasetError(f"{path} is not a room sequence folder (no {schema.INFO_FILE}); "
                           "point at <out>/<scene>/<sequence> or use find_sequences(out)")
    info = json.loads(f.read_text())
    if str(info.get("format_version", "")).split(".")[0] != schema.FORMAT_VERSION.split(".")[0]:
        raise DatasetError(f"{path}: format version {info.get('format_version')} is not "
                           f"readable by this room (format {schema.FORMAT_VERSION})")
    return info


def find_sequences(root: str | Path, include_incomplete: bool = False) -> list[Path]:
    """Sequence folders under ``root`` (or ``root`` itself), sorted; by default only those
    whose every frame is committed."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"dataset folder {root} does not exist")
    found = []
    for info in sorted(root.rglob(schema.INFO_FILE)):
        seq = info.parent
        if include_incomplete:
            found.append(seq)
            continue
        try:
            n = int(json.loads(info.read_text()).get("n_frames", -1))
        except ValueError:
            continue
        if len(read_records(seq)) == n:
            found.append(seq)
    return found


class SequenceReader(Sequence):
    """Random access to one sequence folder: ``len(r)``, ``r[i] -> Frame``, ``r.poses``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.info = read_info(self.path)
        self.records = read_records(self.path)
        self.modalities = tuple(self.info["modalities"])
        self.n_frames = int(self.info["n_frames"])
        stored = self.info.get("encodings", {})
        self.flow_format = self.info.get("flow_format", "flo")  # datasets before 1.1: .flo
        defaults = schema.encodings(self.flow_format)
        self.encodings = {m: stored.get(m, defaults[m]) for m in schema.ALL_MODALITIES}
        self._ref_mesh: Any = None

    @cached_property
    def motion(self) -> Any:
        """The sequence's motion field (:class:`room.anatomy.motion.BreathingMotion`, from
        info.json ``motion``), or None for a rigid scene."""
        from room.anatomy.motion import BreathingMotion

        d = self.info.get("motion")
        return None if not d else BreathingMotion.from_dict(d)

    def reference_scene(self, scene: Any = None):
        """The scene (AirwayScene) the sequence was rendered from: ``scene`` (anything
        :func:`room.anatomy.load_scene` takes), else the scene folder or recipe info.json
        records (prepared once and cached); checked against the recorded face count."""
        from room.anatomy import load_scene

        if scene is None:
            rec = self.info.get("scene", {})
            scene = rec.get("dir") or rec.get("recipe")
            if scene is None:
                raise DatasetError(f"{self.path}: info.json records neither a scene folder "
                                   "nor a recipe; pass scene= (the scene it was made from)")
        loaded = load_scene(scene)
        want = self.info.get("scene", {}).get("faces")
        if want is not None and len(loaded.mesh.faces) != int(want):
            raise DatasetError(f"the scene has {len(loaded.mesh.faces)} faces but {self.path} "
                               f"was rendered from one with {want}: pass the scene it was "
                               "made from")
        return loaded

    def reference_mesh(self, scene: Any = None):
        """The scene's reference (CT) mesh, faces in mesh.ply order: from ``scene`` (an
        AirwayScene or anything :func:`room.anatomy.load_scene` takes), else the scene folder
        or recipe info.json records (prepared once and cached)."""
        if self._ref_mesh is None or scene is not None:
            self._ref_mesh = self.reference_scene(scene).mesh
        return self._ref_mesh

    def mesh(self, i: int, scene: Any = None):
        """The surface at frame i as a trimesh (faces in mesh.ply order, so ``face_id``
        indexes it): the reference vertices V moved by the recorded motion,
        ``V + b_i F_b(V) + k_i F_c(V)`` (docs/dataset-format.md), with b_i, k_i from frame i's
        ``meta.motion`` in frames.jsonl; the reference mesh for a rigid scene."""
        import trimesh

        ref = self.reference_mesh(scene)
        m = self.motion
        if m is None:
            return ref.copy()
        rec = self.records[i]["meta"].get("motion")
        if rec is None:
            raise DatasetError(f"frame {i} of {self.path} records no motion signals")
        v = np.asarray(ref.vertices, np.float64)
        fb, fc = m.basis(v)
        v = v + float(rec["breath"]) * fb
        if float(rec["cardiac"]) != 0.0:
            v += float(rec["cardiac"]) * fc
        return trimesh.Trimesh(v, np.asarray(ref.faces), process=False)

    @cached_property
    def intrinsics(self) -> Intrinsics:
        return Intrinsics.from_dict(self.info["intrinsics"])

    def __len__(self) -> int:
        return len(self.records)

    @property
    def complete(self) -> bool:
        return len(self.records) == self.n_frames

    @cached_property
    def poses(self) -> np.ndarray:
        """(N, 4, 4) float64 T_world_cam of every committed frame."""
        return np.array([np.reshape(r["T_world_cam"], (4, 4)) for r in self.records]
                        ).reshape(-1, 4, 4)

    @cached_property
    def times(self) -> np.ndarray:
        return np.array([r["time_s"] for r in self.records], dtype=float)

    def _file(self, modality: str, i: int) -> Path:
        return self.path / schema.rel_path(modality, i, self.encodings)

    def __getitem__(self, i: int) -> Frame:  # type: ignore[override]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"frame {i} out of range (sequence has {len(self)} frames)")
        want = [m for m in schema.FRAME_MODALITIES if m in self.modalities]
        d = self.read(i, want)
        rec = self.records[i]
        h, w = self.intrinsics.shape
        return Frame(
            rgb=d["rgb"],
            rgb_clean=d.get("rgb_clean", d["rgb"]),
            depth=d["depth"],
            normals=d.get("normals", np.zeros((h, w, 3), np.float32)),
            segmentation=d.get("segmentation", np.full((h, w), -1, np.int32)),
            face_id=d.get("face_id", np.full((h, w), -1, np.int32)),
            T_world_cam=self.poses[i].copy(),
            intrinsics=self.intrinsics,
            index=int(rec["index"]),
            time_s=float(rec["time_s"]),
            meta=dict(rec.get("meta", {})),
        )

    def read(self, i: int, modalities: Sequence[str] = ("rgb", "depth")) -> dict[str, np.ndarray]:
        """Decode only some modalities of frame i (fast partial read).

        Flow entries that do not exist by convention (flow_fwd of the last frame, flow_bwd of
        the first) come back as zeros with an all-False validity mask. Flow is (H, W, 2)
        float32 pixels and ``flow_*_valid`` (H, W) bool whatever the file format (KITTI PNG:
        1/64 px steps, 0 where invalid; .flo: float32 everywhere). ``pointcloud`` adds
        ``pointcloud`` (N,3), ``pointcloud_colors`` (N,3) uint8 and ``pointcloud_normals``.
        """
        if not 0 <= i < len(self):
            raise IndexError(f"frame {i} out of range (sequence has {len(self)} frames)")
        out: dict[str, np.ndarray] = {}
        kitti: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        h, w = self.intrinsics.shape
        for m in modalities:
            if m not in schema.ENCODINGS:
                raise DatasetError(f"unknown modality {m!r}; choose from {schema.ALL_MODALITIES}")
            if m not in self.modalities:
                raise DatasetError(f"{self.path} was written without {m!r} "
                                   f"(has {self.modalities})")
            if not schema.has_file(m, i, self.n_frames):
                out[m] = (np.zeros((h, w), bool) if m.endswith("valid")
                          else np.zeros((h, w, 3 if m == "scene_flow" else 2), np.float32))
                continue
            f = self._file(m, i)
            enc = self.encodings[m]
            if m == "scene_flow":
                out[m] = schema.decode_scene_flow(formats.decode_png(f))
            elif m == "pointcloud":
                p, c, n = formats.decode_ply(f)
                out.update(pointcloud=p, pointcloud_colors=c, pointcloud_normals=n)
            elif m.startswith("flow") and enc.get("format") == "kitti":
                base = enc.get("file_of", m)
                if base not in kitti:  # one decode serves the flow and its validity
                    kitti[base] = schema.decode_kitti_flow(formats.decode_png(f))
                out[m] = kitti[base][1 if m.endswith("valid") else 0]
            elif m.startswith("flow") and not m.endswith("valid"):
                out[m] = formats.decode_flo(f)
            else:
                out[m] = _decode_png_modality(m, formats.decode_png(f))
        return out


def _decode_png_modality(m: str, img: np.ndarray) -> np.ndarray:
    if m in ("rgb", "rgb_clean"):
        return img
    if m == "depth":
        return schema.decode_depth(img)
    if m == "normals":
        return schema.decode_normals(img)
    if m == "segmentation":
        return schema.decode_segmentation(img)
    if m == "face_id":
        return schema.decode_face_id(img)
    if m.endswith("valid"):
        return img > 127
    raise DatasetError(f"no PNG decoder for {m}")
