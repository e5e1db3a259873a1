"""`AirwayScene`: the artefact every later stage loads (renderer, simulator, trajectories).

A scene folder holds::

    scene.json        format version, units, frames, metadata (source, spacing, settings, timings)
    mesh.ply          visual surface, metres, world frame (LPS), faces wound so that their normals
                      point into the lumen (visible from inside)
    face_branch.npy   int32 branch id of every visual-mesh face (segmentation ground truth)
    collision.obj     decimated collision surface (<= mesh.collision_faces, default 30k triangles),
                      same frame and winding; the physics mesh, used as is by room.sim
    tree.json         centerline tree (see room.anatomy.tree)

Folders are written atomically: everything goes to a temporary sibling that is renamed into place
only when complete, so an interrupted or failed preparation never leaves a half-written scene.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from room.anatomy.tree import CenterlineTree
from room.errors import SceneError

SCENE_FORMAT_VERSION = "1.0"
SCENE_FILES = ("scene.json", "mesh.ply", "face_branch.npy", "collision.obj", "tree.json")


def _chmod_like_mkdir(path: Path) -> None:
    """Give ``path`` the mode a plain ``mkdir`` would (0777 less the process umask)."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o777 & ~umask)


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

    def save(self, folder: str | Path, overwrite: bool = False) -> Path:
        """Write the scene folder atomically and return its path."""
        folder = Path(folder).resolve()
        if folder.exists() and not overwrite:
            raise SceneError(f"{folder} exists; pass overwrite=True or choose another folder")
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            self.mesh.export(tmp / "mesh.ply")
            np.save(tmp / "face_branch.npy", self.face_branch)
            self.collision_mesh.export(tmp / "collision.obj")
            self.tree.save(tmp / "tree.json")
            meta = {
                "format_version": SCENE_FORMAT_VERSION,
                "units": {"length": "m", "angle": "rad"},
                "world_frame": "CT patient frame, LPS, metres",
                "mesh_winding": "normals point into the lumen",
                "n_faces": int(len(self.mesh.faces)),
                "n_collision_faces": int(len(self.collision_mesh.faces)),
                "n_branches": len(self.tree),
                "branches_per_generation": self.tree.branches_per_generation(),
                "metadata": self.metadata,
            }
            (tmp / "scene.json").write_text(json.dumps(meta, indent=1, default=str))
            _chmod_like_mkdir(tmp)  # mkdtemp makes 0700; a scene folder is shared data
            if folder.exists():
                shutil.rmtree(folder)
            tmp.rename(folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.path = folder
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> AirwayScene:
        folder = Path(folder)
        if not folder.is_dir():
            raise SceneError(f"scene folder {folder} does not exist; prepare it with room-prepare")
        missing = [f for f in SCENE_FILES if not (folder / f).is_file()]
        if missing:
            raise SceneError(
                f"scene folder {folder} is incomplete (missing {', '.join(missing)}); "
                "prepare it again with room-prepare"
            )
        info = json.loads((folder / "scene.json").read_text())
        if str(info.get("format_version", "")).split(".")[0] != SCENE_FORMAT_VERSION.split(".")[0]:
            raise SceneError(
                f"scene {folder} has format {info.get('format_version')}, this room reads "
                f"{SCENE_FORMAT_VERSION}; prepare it again"
            )
        mesh = trimesh.load(folder / "mesh.ply", process=False, force="mesh")
        collision = trimesh.load(folder / "collision.obj", process=False, force="mesh")
        return cls(
            mesh=mesh,
            collision_mesh=collision,
            tree=CenterlineTree.load(folder / "tree.json"),
            face_branch=np.load(folder / "face_branch.npy"),
            metadata=info.get("metadata", {}),
            path=folder.resolve(),
        )
