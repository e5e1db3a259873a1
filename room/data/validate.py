"""Dataset validation: completeness, encodings, ground-truth consistency.

Checks per sequence (``check`` names in the report):

- ``files``: info.json / config.yaml / frames.jsonl / poses_tum.txt / preview present; frames
  committed = ``n_frames``, indices 0..N-1; every file a frame lists exists and decodes to the
  intrinsics' shape; no uncommitted stray files.
- ``poses``: rigid; poses_tum.txt agrees with frames.jsonl; continuity (translation and rotation
  between consecutive frames below ``max_step_m`` / ``max_step_rad``); times increasing.
- ``depth``: 0 or inside [near, far]; ``normals`` unit length where depth > 0, zero elsewhere,
  facing the camera; ``segmentation``: ids in the branch table, background exactly where depth
  is 0.
- ``flow``: stored forward/backward flow and masks equal room.render.geometry.optical_flow of the
  read-back frames (depth + poses): within 1e-3 px for .flo, within 1e-3 + 1/128 px for KITTI
  PNG flow (rounded to 1/64 px steps); masks exactly up to FLOW_MASK_TOL.
- ``pointcloud``: equals the back-projection of the stored depth; its points, moved to the world
  frame, lie on the scene mesh.

Every frame, cheaply: every file it lists is present and whole (PNG chunk CRCs and header:
size, bit depth and channels as info.json's encodings state, so a KITTI flow PNG must be
16-bit RGB; .flo magic, size and exact byte count; PLY header and vertex count consistent
with its byte count); the frame decodes; its
point cloud equals the back-projection of its depth; its stored flow agrees, on a sample of
valid pixels, with its depth and the two poses (a swapped or stale depth, flow or pose line is
caught here). Expensive checks (dense flow with occlusion masks, points on the scene mesh) run
on every ``check_every``-th frame. ``frames.jsonl`` is read line by line: a damaged line is
reported with its line number. Each problem names the file and its frames.jsonl line; any
unexpected error while checking one file becomes a reported problem, never a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from room.data import formats, schema
from room.data.reader import SequenceReader, find_sequences
from room.errors import DatasetError
from room.render.camera import _pixel_rays, project
from room.render.geometry import backproject, optical_flow, strided_cloud
from room.transforms import is_rigid

RIGID_TOL = 1e-6  # poses are stored as exact float64 in frames.jsonl
TUM_TOL = 1e-7  # poses_tum.txt keeps 9 decimals: 1e-9 m, quaternion 1e-9
UNIT_TOL = 2e-4  # 16-bit normals: each component within 1/65534 -> |n| within ~1e-4 of 1
FLOW_TOL_PX = 1e-3  # the same function on the same inputs: bit-equal here, 1e-3 px elsewhere
KITTI_TOL_PX = 0.5 / schema.FLOW_SCALE  # KITTI PNG rounds to 1/64 px: within half a step
FLOW_MASK_TOL = 1e-3  # fraction of pixels whose validity may flip on another BLAS / CPU
MESH_TOL_M = 1e-5  # depth grid: a point moves <= 5 um along its ray; + float32 storage (~1e-8)
SPARSE_FLOW_PIXELS = 256  # valid pixels per frame whose stored flow is recomputed (every frame)


@dataclass(frozen=True)
class ValidateConfig:
    """Settings of ``room-validate`` (conf/validate.yaml)."""

    path: str = ""
    scene_dir: str | None = None  # scene folder for the mesh check (default: from info.json)
    max_step_m: float = 0.01  # continuity: largest translation between consecutive frames
    max_step_rad: float = 0.5  # and largest rotation
    check_every: int = 5  # flow / point-cloud / mesh checks on every n-th frame
    mesh_samples: int = 2000  # points per checked cloud tested against the mesh
    require_preview: bool = True


@dataclass
class Issue:
    """One problem. ``frame``: the frame index; ``line``: 1-based line of frames.jsonl (for a
    frame, its commit line); ``file``: path relative to the sequence folder."""

    sequence: str
    check: str
    message: str
    frame: int | None = None
    file: str | None = None
    line: int | None = None

    def __post_init__(self) -> None:
        if self.line is None and self.frame is not None:
            self.line = self.frame + 1

    def __str__(self) -> str:
        where = self.sequence
        if self.frame is not None:
            where += f" frame {self.frame}"
        if self.line is not None:
            where += f" (frames.jsonl line {self.line})"
        if self.file:
            where += f" {self.file}"
        return f"[{self.check}] {where}: {self.message}"


@dataclass
class Report:
    sequences: list[str] = field(default_factory=list)
    frames: int = 0
    issues: list[Issue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.sequences) and not self.issues

    def text(self) -> str:
        lines = [f"{len(self.sequences)} sequence(s), {self.frames} frame(s) checked"]
        lines += [f"note: {n}" for n in self.notes]
        lines += [str(i) for i in self.issues[:200]]
        if len(self.issues) > 200:
            lines.append(f"... and {len(self.issues) - 200} more issues")
        lines.append("VALID" if self.ok else f"INVALID: {len(self.issues)} issue(s)")
        return "\n".join(lines)


def validate_dataset(root: str | Path, cfg: ValidateConfig | None = None,
                     scene: Any = None) -> Report:
    """Check every sequence under ``root`` (complete or not); never raises for a bad dataset,
    only for a missing folder."""
    cfg = cfg or ValidateConfig()
    rep = Report()
    seqs = find_sequences(root, include_incomplete=True)
    if not seqs:
        rep.issues.append(Issue(str(root), "files", "no sequence folder (info.json) found"))
        return rep
    scenes: dict[str, Any] = {}
    for seq in seqs:
        rep.sequences.append(str(seq))
        try:
            _validate_sequence(seq, cfg, rep, scene, scenes)
        except Exception as e:  # noqa: BLE001 - a damaged dataset is a report, never a crash
            rep.issues.append(Issue(str(seq), "files", f"unreadable: {_why(e)}"))
    return rep


def _why(e: BaseException) -> str:
    """An exception as a message: room's own errors say it all, others get their type."""
    return str(e) if isinstance(e, DatasetError) else f"{type(e).__name__}: {e}"


def _validate_sequence(seq: Path, cfg: ValidateConfig, rep: Report, scene, scenes) -> None:
    name = str(seq)
    add = rep.issues.append
    r = SequenceReader(seq)
    for f in (schema.CONFIG_FILE, schema.FRAMES_FILE, schema.POSES_FILE):
        if not (seq / f).exists():
            add(Issue(name, "files", f"{f} missing"))
    if cfg.require_preview and not (seq / schema.PREVIEW_FILE).exists():
        add(Issue(name, "files", f"{schema.PREVIEW_FILE} missing (sequence not finished)"))
    damaged_line = _check_frames_file(r, name, add)
    if damaged_line is None and len(r) != r.n_frames:
        add(Issue(name, "files", f"{len(r)} of {r.n_frames} frames committed; rerun the same "
                                 "room-generate command to finish it"))
    bad = _check_files(r, name, add)
    _check_poses(r, cfg, name, add)
    K = r.intrinsics
    table = {int(b["id"]) for b in r.info.get("scene", {}).get("branch_table", [])}
    mesh_scene = _scene_for(r, cfg, scene, scenes, rep)
    frames: dict[int, Any] = {}
    moving = _Moving(r, mesh_scene, rep)

    def frame(i):  # decoded frames i-1, i, i+1 are each needed up to three times
        if i not in frames:
            for k in [k for k in frames if abs(k - i) > 2]:
                del frames[k]
            frames[i] = r[i]
        return frames[i]

    for i in range(len(r)):
        rep.frames += 1
        if i in bad:  # a missing or damaged file is reported already; skip its content
            continue
        sampled = i % max(1, cfg.check_every) == 0
        for check in ("frame", "pointcloud", "flow", "scene_flow"):
            try:
                f = frame(i)
                if check == "frame":
                    _check_frame(f, K, table, name, add)
                elif check == "pointcloud" and "pointcloud" in r.modalities:
                    _check_cloud(r, i, f, moving.scene(i) if sampled else None, cfg, name, add)
                elif check == "flow":
                    _check_flow(r, i, f, frame, sampled, bad, name, add, moving)
                elif check == "scene_flow" and "scene_flow" in r.modalities:
                    _check_scene_flow(r, i, f, moving, name, add)
            except Exception as e:  # noqa: BLE001 - one bad file is a reported problem
                add(Issue(name, "files", f"unreadable ({check} check): {_why(e)}", i))
                if check == "frame":
                    break


def _check_frames_file(r: SequenceReader, name: str, add) -> int | None:
    """Report every damaged line of frames.jsonl by its number; return the first one's."""
    f = r.path / schema.FRAMES_FILE
    if not f.exists():
        return None
    lines = f.read_bytes().split(b"\n")
    first = None
    fix = "rerunning the same room-generate command rewrites the frames from there on"
    for k, line in enumerate(lines):
        last = k == len(lines) - 1
        if last and not line:
            break
        problem = None
        if last:
            problem = "is torn (no newline at its end: an interrupted write)"
        else:
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    problem = "is not a JSON object"
                elif rec.get("index") != k:
                    problem = f"has index {rec.get('index')!r}, expected {k}"
                elif not isinstance(rec.get("T_world_cam"), list) \
                        or len(rec["T_world_cam"]) != 16 or "time_s" not in rec:
                    problem = "lacks a 16-number T_world_cam or time_s"
            except ValueError as e:
                problem = f"is not valid JSON ({e}; starts {line[:40]!r})"
        if problem:
            if first is None:
                first = k + 1
                add(Issue(name, "files", f"{problem}; frames from {k} on are not readable "
                                         f"(only {len(r)} of {r.n_frames} usable); {fix}",
                          file=schema.FRAMES_FILE, line=k + 1))
            else:
                add(Issue(name, "files", problem, file=schema.FRAMES_FILE, line=k + 1))
    return first


def flow_tolerance(r: SequenceReader) -> float:
    """How far a stored flow may lie from the recomputed one: FLOW_TOL_PX for float .flo,
    plus half the 1/64 px step for KITTI PNG flow."""
    return FLOW_TOL_PX + (KITTI_TOL_PX if r.flow_format == "kitti" else 0.0)


def _png_format(r: SequenceReader, m: str) -> tuple[int, int]:
    """(bit depth, channels) of modality m's PNG, as the sequence's info.json states it."""
    enc = r.encodings[m].get("encoding", "")
    return (16 if "16-bit" in enc else 8), (3 if "RGB" in enc else 1)


def _check_file(r: SequenceReader, m: str, data: bytes) -> str | None:
    """What is wrong with one file's bytes for modality m (None: whole and well-formed)."""
    h, w = r.intrinsics.shape
    ext = r.encodings[m]["ext"]
    if ext == "png":
        fw, fh, bits, ch = formats.check_png(data)
        want_bits, want_ch = _png_format(r, m)
        if (fw, fh) != (w, h):
            return f"PNG is {fw} x {fh} pixels, the intrinsics say {w} x {h}"
        if (bits, ch) != (want_bits, want_ch):
            return (f"PNG has {bits}-bit x {ch} channel(s), info.json's encoding says "
                    f"{want_bits}-bit x {want_ch}")
    elif ext == "flo":
        fw, fh = formats.check_flo(data)
        if (fw, fh) != (w, h):
            return f".flo is {fw} x {fh} pixels, the intrinsics say {w} x {h}"
    elif ext == "ply":
        n, _ = formats.check_ply(data)
        if n > h * w:
            return f"PLY holds {n} points, more than the {h * w} pixels"
    return None


def _check_files(r: SequenceReader, name: str, add) -> set[int]:
    """Every file of every committed frame: present, listed, whole, right size and format.
    Returns the frames with a problem (their content checks are skipped)."""
    bad: set[int] = set()
    for k, rec in enumerate(r.records):
        listed = rec.get("files", {}) if isinstance(rec.get("files"), dict) else {}
        seen: set[str] = set()
        for m in r.modalities:
            if not schema.has_file(m, k, r.n_frames):
                continue
            rel = schema.rel_path(m, k, r.encodings)
            if listed.get(m) != rel:
                add(Issue(name, "files", f"the frame's line lists {listed.get(m)!r} for {m}, "
                                         f"expected {rel!r}", k, rel))
            if rel in seen:  # a KITTI flow file also holds its validity: checked once
                continue
            seen.add(rel)
            try:
                data = (r.path / rel).read_bytes()
                problem = _check_file(r, m, data)
            except FileNotFoundError:
                problem = "missing"
            except Exception as e:  # noqa: BLE001 - one bad file is a reported problem
                problem = _why(e)
            if problem:
                bad.add(k)
                add(Issue(name, "files", problem, k, rel))
    for d in sorted({r.path / r.encodings[m]["dir"] for m in r.modalities}):
        extra = [p.name for p in d.iterdir() if p.is_file() and
                 (p.name.startswith(".") or not p.stem.isdigit() or int(p.stem) >= len(r))
                 ] if d.is_dir() else []
        if extra:
            add(Issue(name, "files", f"{len(extra)} uncommitted file(s) in {d.name}/, e.g. "
                                     f"{extra[0]}"))
    return bad


def _check_poses(r: SequenceReader, cfg: ValidateConfig, name: str, add) -> None:
    P = r.poses
    for k, T in enumerate(P):
        if not is_rigid(T, RIGID_TOL):
            add(Issue(name, "poses", "T_world_cam is not a rigid transform", k))
    if len(P) > 1:
        step = np.linalg.norm(np.diff(P[:, :3, 3], axis=0), axis=1)
        rel = np.einsum("nji,njk->nik", P[:-1, :3, :3], P[1:, :3, :3])
        ang = np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1))
        for k in np.flatnonzero(step > cfg.max_step_m):
            add(Issue(name, "poses", f"jump of {1e3 * step[k]:.2f} mm to the next frame "
                                     f"(max {1e3 * cfg.max_step_m} mm)", int(k)))
        for k in np.flatnonzero(ang > cfg.max_step_rad):
            add(Issue(name, "poses", f"rotation of {ang[k]:.3f} rad to the next frame", int(k)))
        if np.any(np.diff(r.times) <= 0):
            add(Issue(name, "poses", "time stamps are not strictly increasing"))
    tum = r.path / schema.POSES_FILE
    if tum.exists():
        _, Q = formats.decode_tum(tum)
        if len(Q) != len(P) or (len(P) and np.abs(Q - P).max() > TUM_TOL):
            add(Issue(name, "poses", "poses_tum.txt disagrees with frames.jsonl"))


def _check_frame(f, K, table, name: str, add) -> None:
    i = f.index
    d = f.depth
    hit = d > 0
    q = 0.5 * schema.DEPTH_SCALE_M  # a depth on the grid may sit half a step outside
    if np.any(d[hit] < K.near - q) or np.any(d[hit] > K.far + q):
        add(Issue(name, "depth", f"depth outside [near, far] = [{K.near}, {K.far}] m "
                                 f"(min {d[hit].min():.6f}, max {d[hit].max():.6f})", i))
    n = f.normals
    norm = np.linalg.norm(n, axis=-1)
    if hit.any() and np.abs(norm[hit] - 1).max() > UNIT_TOL:
        add(Issue(name, "normals", f"non-unit normals (max |n|-1 = "
                                   f"{np.abs(norm[hit] - 1).max():.2e})", i))
    if np.any(norm[~hit] != 0):
        add(Issue(name, "normals", "non-zero normals where nothing was hit", i))
    if hit.any():
        p = backproject(d, K)[hit]
        facing = np.sum(p * n[hit], axis=1) < 0
        if facing.mean() < 0.99:  # grazing angles on a 16-bit grid may flip a few
            add(Issue(name, "normals", f"{100 * (1 - facing.mean()):.1f}% of normals face "
                                       "away from the camera", i))
    seg = f.segmentation
    if np.any((seg == -1) != ~hit):
        add(Issue(name, "segmentation", "background (-1) does not match depth == 0", i))
    if table:
        unknown = set(np.unique(seg[hit]).tolist()) - table
        if unknown:
            add(Issue(name, "segmentation", f"ids {sorted(unknown)[:5]} not in branch_table", i))


class _Moving:
    """A breathing sequence's rebuilt surfaces (SequenceReader.mesh) for the checks; for a
    rigid one every surface is the scene's mesh and the surface motion is None."""

    def __init__(self, r: SequenceReader, mesh_scene, rep: Report) -> None:
        self.r, self.mesh_scene = r, mesh_scene
        self.on = r.motion is not None and mesh_scene is not None
        self._verts: dict[int, np.ndarray] = {}
        if r.motion is not None and mesh_scene is None:
            rep.notes.append(f"{r.path.name}: breathing sequence without its scene; flow and "
                             "scene flow are not checked against the moving surfaces")
        self.skip = r.motion is not None and mesh_scene is None

    def verts(self, i: int) -> np.ndarray:
        if i not in self._verts:
            if len(self._verts) > 3:
                self._verts.pop(next(iter(self._verts)))
            self._verts[i] = np.asarray(self.r.mesh(i, self.mesh_scene).vertices)
        return self._verts[i]

    def scene(self, i: int):
        if not self.on:
            return None if self.skip else self.mesh_scene
        from types import SimpleNamespace

        return SimpleNamespace(mesh=self.r.mesh(i, self.mesh_scene))

    def motion(self, f, i: int, j: int) -> np.ndarray | None:
        """Surface motion i -> j per pixel of frame i (camera-i axes, m), or None (rigid)."""
        if not self.on:
            return None
        from room.render.geometry import surface_motion

        return surface_motion(f, np.asarray(self.mesh_scene.mesh.faces), self.verts(i),
                              self.verts(j))


SCENE_FLOW_TOL_M = 0.5 * schema.SCENE_FLOW_SCALE_M + 1e-8
"""Stored scene flow vs the rebuilt surfaces: half the PNG step plus float32 rounding."""


def _check_scene_flow(r: SequenceReader, i: int, f, moving: _Moving, name: str, add) -> None:
    if not (moving.on and schema.has_file("scene_flow", i, r.n_frames) and i + 1 < len(r)):
        return
    stored = r.read(i, ["scene_flow"])["scene_flow"]
    ref = moving.motion(f, i, i + 1)
    err = float(np.abs(stored - ref).max(initial=0.0))
    if err > SCENE_FLOW_TOL_M:
        add(Issue(name, "scene_flow", f"scene flow differs from the rebuilt surfaces "
                                      f"(SequenceReader.mesh) by up to {err * 1e6:.3f} um", i,
                  schema.rel_path("scene_flow", i, r.encodings)))


def _check_flow(r: SequenceReader, i: int, f, frame, dense: bool, bad: set[int], name: str,
                add, moving: _Moving | None = None) -> None:
    """Stored flow of frame i against its depth and poses: on a sample of valid pixels on every
    frame (no occlusion test needed: the stored mask says which pixels are valid), and densely
    (flow and validity masks equal optical_flow of the read-back frames) when ``dense``.
    A breathing sequence: each pixel's point also moves with the rebuilt surfaces."""
    for kind, j in (("flow_fwd", i + 1), ("flow_bwd", i - 1)):
        if kind not in r.modalities or not schema.has_file(kind, i, r.n_frames) or \
                not 0 <= j < len(r) or (moving is not None and moving.skip):
            continue
        motion = None if moving is None else moving.motion(f, i, j)
        mods = [kind] + ([f"{kind}_valid"] if f"{kind}_valid" in r.modalities else [])
        stored = r.read(i, mods)
        rel = schema.rel_path(kind, i, r.encodings)
        tol = flow_tolerance(r)
        if f"{kind}_valid" in stored:
            _check_flow_sparse(f, r.poses[j], stored[kind], stored[f"{kind}_valid"], i, rel,
                               name, add, tol, motion)
        if not dense or j in bad:
            continue
        flow, valid = optical_flow(f, frame(j), motion=motion)
        m = valid
        if f"{kind}_valid" in stored:
            flip = np.mean(stored[f"{kind}_valid"] != valid)
            if flip > FLOW_MASK_TOL:
                add(Issue(name, "flow", f"{kind}_valid differs from depth+poses on "
                                        f"{100 * flip:.2f}% of pixels", i,
                          schema.rel_path(f"{kind}_valid", i, r.encodings)))
            m = valid & stored[f"{kind}_valid"]
        if m.any():
            err = np.abs(stored[kind][m] - flow[m]).max()
            if err > tol:
                add(Issue(name, "flow", f"{kind} differs from depth+poses by up to "
                                        f"{err:.4f} px", i, rel))


def _check_flow_sparse(f, T_world_b: np.ndarray, flow: np.ndarray, valid: np.ndarray, i: int,
                       rel: str, name: str, add, tol: float = FLOW_TOL_PX,
                       motion: np.ndarray | None = None) -> None:
    """Reproject a few valid pixels of frame i with its depth and the two poses; the stored flow
    must agree there. Catches a depth, flow or pose line from another frame at ~0.1 ms."""
    K = f.intrinsics
    rows, cols = np.nonzero(valid & (f.depth > 0))
    if not len(rows):
        return
    pick = np.random.default_rng(i).choice(len(rows), min(SPARSE_FLOW_PIXELS, len(rows)),
                                           replace=False)
    v, u = rows[pick], cols[pick]
    z = f.depth[v, u].astype(np.float64)
    xy = _pixel_rays(K)[v, u]
    p_a = np.stack([xy[:, 0] * z, xy[:, 1] * z, z], axis=1)
    if motion is not None:
        p_a = p_a + motion[v, u]
    T = np.linalg.inv(T_world_b) @ f.T_world_cam
    p_b = p_a @ T[:3, :3].T + T[:3, 3]
    if np.any(p_b[:, 2] <= 0):
        err = np.inf
    else:
        err = float(np.abs(project(p_b, K) - np.stack([u, v], 1) - flow[v, u]).max())
    if err > tol:
        add(Issue(name, "flow", f"stored flow disagrees with depth/{schema.frame_name(i)}.png "
                                f"and the poses of frames.jsonl by up to {err:.3g} px at sampled "
                                "valid pixels: the depth, the flow or a pose line is another "
                                "frame's or damaged", i, rel))


def _check_cloud(r: SequenceReader, i: int, f, mesh_scene, cfg: ValidateConfig, name: str,
                 add) -> None:
    d = r.read(i, ("pointcloud",))
    pts = d["pointcloud"]
    ref = strided_cloud(f, int(r.info.get("pointcloud_stride", 1)))[0]
    if pts.shape != ref.shape or (len(pts) and np.abs(pts - ref).max() > 1e-6):
        add(Issue(name, "pointcloud", f"point cloud differs from the back-projection of "
                                      f"depth/{schema.frame_name(i)}.png: one of the two is "
                                      "another frame's or damaged", i,
                  schema.rel_path("pointcloud", i, r.encodings)))
        return
    if mesh_scene is None or not len(pts):
        return
    rng = np.random.default_rng(i)
    pick = rng.choice(len(pts), min(cfg.mesh_samples, len(pts)), replace=False)
    sel = pts[pick].astype(np.float64)
    world = sel @ f.T_world_cam[:3, :3].T + f.T_world_cam[:3, 3]
    faces = None
    if "face_id" in r.modalities:  # the triangle each pixel saw: an exact O(N) check
        stride = int(r.info.get("pointcloud_stride", 1))
        rows, cols = np.nonzero(f.valid)
        keep = (rows % stride == 0) & (cols % stride == 0)
        faces = f.face_id[rows[keep], cols[keep]][pick]
    dist = mesh_distance(mesh_scene.mesh, world, faces)
    if dist.max() > MESH_TOL_M:
        add(Issue(name, "pointcloud", f"points off the scene mesh by up to "
                                      f"{1e3 * dist.max():.4f} mm (tolerance "
                                      f"{1e3 * MESH_TOL_M} mm)", i))


def mesh_distance(mesh, points: np.ndarray, faces: np.ndarray | None = None) -> np.ndarray:
    """Distance (m) from world points to the mesh, or to given faces of it (one per point).

    Computed in millimetres: trimesh's closest-point code has absolute tolerances that make it
    err by ~0.1 mm on sub-millimetre triangles in metre units."""
    import trimesh

    tri_mm = np.asarray(mesh.triangles, np.float64) * 1e3
    p_mm = np.asarray(points, np.float64) * 1e3
    if faces is not None and np.all(faces >= 0) and np.all(faces < len(tri_mm)):
        cp = trimesh.triangles.closest_point(tri_mm[faces], p_mm)
    else:
        scaled = trimesh.Trimesh(tri_mm.reshape(-1, 3), np.arange(3 * len(tri_mm)).reshape(-1, 3),
                                 process=False)
        cp = trimesh.proximity.closest_point(scaled, p_mm)[0]
    return np.linalg.norm(cp - p_mm, axis=1) * 1e-3


def _scene_for(r: SequenceReader, cfg: ValidateConfig, scene, cache, rep: Report):
    """The scene for the mesh check: given, ``scene_dir``, the folder the dataset was generated
    from (info.json ``scene.dir``), or rebuilt from the recipe."""
    if scene is not None:
        return scene
    key = cfg.scene_dir or str(r.info.get("scene", {}).get("id"))
    if key in cache:
        return cache[key]
    found = None
    try:
        from room.anatomy import load_scene  # segmentation and meshing libraries: load on use

        recorded_dir = r.info.get("scene", {}).get("dir")
        if cfg.scene_dir:
            found = load_scene(Path(cfg.scene_dir))
        elif recorded_dir and Path(recorded_dir).is_dir():  # room-generate scene_dir=DIR
            found = load_scene(Path(recorded_dir))
        elif r.info.get("scene", {}).get("recipe") is not None:
            found = load_scene(r.info["scene"]["recipe"])
    except Exception as e:  # noqa: BLE001 - any failure only disables the mesh check
        rep.notes.append(f"scene for {r.path.name} unavailable ({e}); mesh check skipped")
    if found is None and not any("mesh check skipped" in n for n in rep.notes):
        rep.notes.append(f"no scene recipe for {r.path.name}: pass scene_dir=DIR to check "
                         "point clouds against the mesh")
    cache[key] = found
    return found
