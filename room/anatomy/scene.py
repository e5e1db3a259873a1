"""`AirwayScene`: the artefact every later stage loads (renderer, simulator, trajectories).

A scene folder holds::

    scene.json        format version, units, frames, metadata (source, spacing, settings, timings)
    mesh.ply          visual surface, metres, world frame (LPS), faces wound so that their normals
                      point into the lumen (visible from inside)
    face_branch.npy   int32 branch id of every visual-mesh face (segmentation ground truth)
    collision.obj     decimated collision surface (<= mesh.collision_faces, default 30k triangles),
                      same frame and winding; the physics mesh, used as is by room.sim
    tree.json         centerline tree (see room.anatomy.tree)

    preview.png       (optional) CT slices with the mask

Folders are written atomically: everything goes to a temporary sibling
(``.<name>.tmp-<pid>-<random>``) that is renamed into place only when complete, so an interrupted,
failed or killed (SIGKILL) preparation never leaves a half-written scene; a leftover temporary
sibling of a dead process is removed by the next save next to it. ``scene.json`` is written
last and records the size and sha256 of every other file (format 1.1); :meth:`AirwayScene.load`
verifies them (hashing the 200k-face scene costs a few milliseconds) and the face counts, and
raises :class:`DamagedSceneError` naming the bad file. Scenes of format 1.0 (no checksums) load
with a warning, their face counts still checked.

Overwrite safety: ``save(folder, overwrite=True)`` replaces only a folder that holds a scene
written by room (``scene.json`` with ``"kind": "room.scene"``, or the keys of format 1.0) and
nothing but scene files; anything else is refused and left untouched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from room.anatomy.tree import CenterlineTree
from room.errors import SceneError

log = logging.getLogger(__name__)

SCENE_FORMAT_VERSION = "1.1"  # 1.1: scene.json records "kind" and the files' sizes and sha256
SCENE_KIND = "room.scene"
SCENE_FILES = ("scene.json", "mesh.ply", "face_branch.npy", "collision.obj", "tree.json")
OPTIONAL_FILES = ("preview.png",)
_TMP_TAG = ".tmp-"
_OLD_TAG = ".old-"


class DamagedSceneError(SceneError):
    """A scene file is missing, truncated, altered or unreadable."""


def file_digest(path: Path) -> dict[str, Any]:
    """{"bytes": size, "sha256": hex digest} of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return {"bytes": path.stat().st_size, "sha256": h.hexdigest()}


def _read_info(folder: Path) -> dict[str, Any] | None:
    """scene.json as a dict, or None when it is missing or not a JSON object."""
    try:
        info = json.loads((folder / "scene.json").read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return info if isinstance(info, dict) else None


def is_room_scene(folder: Path) -> bool:
    """True when ``folder`` holds a scene.json that room wrote (any format version)."""
    info = _read_info(folder)
    if info is None:
        return False
    return info.get("kind") == SCENE_KIND or {"format_version", "world_frame",
                                              "mesh_winding"} <= set(info)


def check_out_folder(folder: str | Path, overwrite: bool) -> Path:
    """Raise SceneError unless a scene may be written to ``folder`` (before any work):
    no regular file on its path, and an existing folder replaced only with ``overwrite`` and
    only when it is empty or a room scene holding nothing but scene files."""
    folder = Path(folder).expanduser().absolute()
    for p in [folder, *folder.parents]:
        if p.exists() and not p.is_dir():
            raise SceneError(f"cannot write the scene to {folder}: {p} is a file, not a folder; "
                             "choose another out=")
        if p.is_dir():
            break
    if not folder.exists():
        return folder
    if not overwrite:
        raise SceneError(f"{folder} already exists; choose another folder or pass "
                         "overwrite=true")
    entries = sorted(e.name for e in folder.iterdir())
    if not entries:
        return folder
    if not is_room_scene(folder):
        raise SceneError(f"refusing to overwrite {folder}: it is not a scene folder written by "
                         "room-prepare (no room scene.json); nothing was changed. Choose "
                         "another out= or remove it yourself")
    foreign = [e for e in entries if e not in SCENE_FILES + OPTIONAL_FILES]
    if foreign:
        raise SceneError(f"refusing to overwrite {folder}: besides the scene it holds "
                         f"{', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}, which "
                         "room-prepare did not write; nothing was changed. Move those files "
                         "away or choose another out=")
    return folder


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temporaries(folder: Path) -> list[Path]:
    """Remove temporary siblings of ``folder`` left by a process that no longer runs (killed
    during a save). Returns what was removed."""
    removed = []
    if not folder.parent.is_dir():
        return removed
    for tag in (_TMP_TAG, _OLD_TAG):
        for p in folder.parent.glob(f".{folder.name}{tag}*"):
            try:
                pid = int(p.name[len(f".{folder.name}{tag}"):].split("-")[0])
            except ValueError:
                continue
            if pid != os.getpid() and not _pid_alive(pid) and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
                log.info("removed %s, left by an interrupted scene preparation", p)
    return removed


@dataclass
class AirwayScene:
    """Patient-specific airway: meshes and centerline tree in metres, world frame (LPS)."""

    mesh: trimesh.Trimesh
    collision_mesh: trimesh.Trimesh
    tree: CenterlineTree
    face_branch: np.ndarray  # (n_faces,) int32 branch id per visual-mesh face
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # folder it was loaded from / saved to

    def __post_init__(self) -> None:
        self.face_branch = np.asarray(self.face_branch, dtype=np.int32)
        if len(self.face_branch) != len(self.mesh.faces):
            raise SceneError(
                f"face_branch has {len(self.face_branch)} entries but the mesh has "
                f"{len(self.mesh.faces)} faces"
            )

    @property
    def collision_mesh_file(self) -> Path:
        """The collision mesh on disk (PyBullet loads meshes from files)."""
        if self.path is None:
            raise SceneError("scene has not been saved; call scene.save(dir) first")
        return self.path / "collision.obj"

    def branch_table(self) -> list[dict[str, Any]]:
        """id -> generation, parent, name: the table that goes with segmentation images."""
        return [
            {"id": b.id, "generation": b.generation, "parent": b.parent, "name": b.name}
            for b in self.tree
        ]

    def save(self, folder: str | Path, overwrite: bool = False,
             before_index: Callable[[Path], None] | None = None) -> Path:
        """Write the scene folder atomically and return its path.

        ``before_index(tmp)`` may add files (a preview) to the temporary folder and update
        ``metadata`` before ``scene.json`` (with every file's size and sha256) is written last.
        ``overwrite`` replaces only a room scene folder (see :func:`check_out_folder`)."""
        folder = check_out_folder(folder, overwrite).resolve()
        folder.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(folder)
        token = f"{os.getpid()}-{secrets.token_hex(4)}"
        tmp = folder.parent / f".{folder.name}{_TMP_TAG}{token}"
        tmp.mkdir()  # the usual mode (0777 less umask): a scene folder is shared data
        try:
            self.mesh.export(tmp / "mesh.ply")
            np.save(tmp / "face_branch.npy", self.face_branch)
            self.collision_mesh.export(tmp / "collision.obj")
            self.tree.save(tmp / "tree.json")
            if before_index is not None:
                before_index(tmp)
            files = {p.name: file_digest(p) for p in sorted(tmp.iterdir()) if p.is_file()}
            meta = {
                "kind": SCENE_KIND,
                "format_version": SCENE_FORMAT_VERSION,
                "units": {"length": "m", "angle": "rad"},
                "world_frame": "CT patient frame, LPS, metres",
                "mesh_winding": "normals point into the lumen",
                "n_faces": int(len(self.mesh.faces)),
                "n_collision_faces": int(len(self.collision_mesh.faces)),
                "n_branches": len(self.tree),
                "branches_per_generation": self.tree.branches_per_generation(),
                "files": files,
                "metadata": self.metadata,
            }
            (tmp / "scene.json").write_text(json.dumps(meta, indent=1, default=str))
            if folder.exists():  # checked above: a room scene (or empty); swap, then delete
                old = folder.parent / f".{folder.name}{_OLD_TAG}{token}"
                folder.rename(old)
                tmp.rename(folder)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.path = folder
        return folder

    @classmethod
    def load(cls, folder: str | Path, verify: bool = True) -> AirwayScene:
        """Read a scene folder. ``verify``: check every file's size and sha256 against
        scene.json (format >= 1.1) and the face counts. Raises SceneError (no folder, other
        format) or DamagedSceneError (a missing, truncated, altered or unreadable file)."""
        folder = Path(folder)
        if not folder.is_dir():
            raise SceneError(f"scene folder {folder} does not exist; prepare it with room-prepare")
        missing = [f for f in SCENE_FILES if not (folder / f).is_file()]
        if missing:
            raise DamagedSceneError(
                f"scene folder {folder} is incomplete (missing {', '.join(missing)}); "
                "prepare it again with room-prepare"
            )
        info = _read_info(folder)
        if info is None:
            raise DamagedSceneError(f"scene folder {folder}: scene.json is damaged (not a JSON "
                                    "object); prepare the scene again with room-prepare")
        version = str(info.get("format_version", ""))
        if version.split(".")[0] != SCENE_FORMAT_VERSION.split(".")[0]:
            raise SceneError(
                f"scene {folder} has format {info.get('format_version')}, this room reads "
                f"{SCENE_FORMAT_VERSION}; prepare it again"
            )
        if verify:
            _verify_files(folder, info)
        try:
            parts = {
                "mesh.ply": lambda: trimesh.load(folder / "mesh.ply", process=False,
                                                 force="mesh"),
                "collision.obj": lambda: trimesh.load(folder / "collision.obj", process=False,
                                                      force="mesh"),
                "tree.json": lambda: CenterlineTree.load(folder / "tree.json"),
                "face_branch.npy": lambda: np.load(folder / "face_branch.npy"),
            }
            got = {}
            for name, read in parts.items():
                try:
                    got[name] = read()
                except Exception as e:  # any parser's error: the file is damaged
                    raise DamagedSceneError(
                        f"scene folder {folder}: {name} is damaged ({type(e).__name__}: "
                        f"{str(e)[:120]}); prepare the scene again with room-prepare") from e
            scene = cls(mesh=got["mesh.ply"], collision_mesh=got["collision.obj"],
                        tree=got["tree.json"], face_branch=got["face_branch.npy"],
                        metadata=info.get("metadata", {}), path=folder.resolve())
        except DamagedSceneError:
            raise
        except SceneError as e:  # face_branch vs mesh mismatch
            raise DamagedSceneError(f"scene folder {folder}: {e}; prepare the scene again "
                                    "with room-prepare") from e
        if verify:
            for name, key, mesh in (("mesh.ply", "n_faces", scene.mesh),
                                    ("collision.obj", "n_collision_faces", scene.collision_mesh)):
                if key in info and int(info[key]) != len(mesh.faces):
                    raise DamagedSceneError(
                        f"scene folder {folder}: {name} has {len(mesh.faces)} faces, scene.json "
                        f"records {info[key]}: the file is damaged; prepare the scene again "
                        "with room-prepare")
        return scene


def _verify_files(folder: Path, info: dict[str, Any]) -> None:
    files = info.get("files")
    if not isinstance(files, dict):
        log.warning("scene %s has the older format %s without file checksums: its files cannot "
                    "be verified (face counts only); prepare it again with room-prepare to add "
                    "them", folder, info.get("format_version"))
        return
    for name, rec in files.items():
        p = folder / name
        if not p.is_file():
            raise DamagedSceneError(f"scene folder {folder}: {name} is missing; prepare the "
                                    "scene again with room-prepare")
        size = p.stat().st_size
        if size != rec.get("bytes"):
            raise DamagedSceneError(
                f"scene folder {folder}: {name} is damaged ({size} bytes, scene.json records "
                f"{rec.get('bytes')}: truncated or replaced); prepare the scene again with "
                "room-prepare")
        if file_digest(p)["sha256"] != rec.get("sha256"):
            raise DamagedSceneError(
                f"scene folder {folder}: {name} is damaged (its sha256 differs from the one "
                "scene.json records: the file was altered); prepare the scene again with "
                "room-prepare")
