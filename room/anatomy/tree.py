"""Airway centerline tree: branches with polylines and radius profiles, in metres, world frame.

Conventions:
- Generation follows Weibel: the trachea is generation 0, main bronchi 1, lobar bronchi 2, ...
- A branch's ``points`` run from proximal (its parent's bifurcation point, which is also the
  last point of the parent) to distal. ``radii[i]`` is the lumen radius at ``points[i]``.
- The root (trachea) has ``parent == -1``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

NO_PARENT = -1


@dataclass
class Branch:
    """One airway segment between two bifurcations (or a bifurcation and a leaf)."""

    id: int
    parent: int
    generation: int
    points: np.ndarray  # (N, 3) float64, metres, world frame, proximal -> distal
    radii: np.ndarray  # (N,) float64, metres
    children: list[int] = field(default_factory=list)
    name: str = ""

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, dtype=float).reshape(-1, 3)
        self.radii = np.asarray(self.radii, dtype=float).reshape(-1)
        if len(self.points) < 2 or len(self.radii) != len(self.points):
            raise ValueError(
                f"branch {self.id}: need >= 2 points and one radius per point, got "
                f"{len(self.points)} points and {len(self.radii)} radii"
            )

    @property
    def length_m(self) -> float:
        """Arc length of the centerline polyline in metres."""
        return float(np.linalg.norm(np.diff(self.points, axis=0), axis=1).sum())

    @property
    def radius_m(self) -> float:
        """Representative lumen radius: median of the profile, robust to the flared ends."""
        return float(np.median(self.radii))

    @property
    def start(self) -> np.ndarray:
        return self.points[0]

    @property
    def end(self) -> np.ndarray:
        return self.points[-1]

    def arclength(self) -> np.ndarray:
        """Cumulative arc length at each point (metres), starting at 0."""
        seg = np.linalg.norm(np.diff(self.points, axis=0), axis=1)
        return np.concatenate([[0.0], np.cumsum(seg)])

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "parent": self.parent,
            "generation": self.generation,
            "children": list(self.children),
            "name": self.name,
            "length_m": self.length_m,
            "radius_m": self.radius_m,
            "points": self.points.tolist(),
            "radii": self.radii.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Branch:
        return cls(
            id=int(d["id"]),
            parent=int(d["parent"]),
            generation=int(d["generation"]),
            points=np.asarray(d["points"], dtype=float),
            radii=np.asarray(d["radii"], dtype=float),
            children=[int(c) for c in d.get("children", [])],
            name=str(d.get("name", "")),
        )


@dataclass
class CenterlineTree:
    """Rooted tree of :class:`Branch` objects keyed by id; the root is the trachea."""

    branches: dict[int, Branch]
    root: int

    def __post_init__(self) -> None:
        if self.root not in self.branches:
            raise ValueError(f"root id {self.root} is not a branch")
        for b in self.branches.values():
            if b.parent != NO_PARENT and b.parent not in self.branches:
                raise ValueError(f"branch {b.id} has unknown parent {b.parent}")

    def __len__(self) -> int:
        return len(self.branches)

    def __iter__(self) -> Iterator[Branch]:
        """Branches in breadth-first order from the root."""
        queue = [self.root]
        while queue:
            b = self.branches[queue.pop(0)]
            yield b
            queue.extend(b.children)

    def __getitem__(self, branch_id: int) -> Branch:
        return self.branches[branch_id]

    @property
    def trachea(self) -> Branch:
        return self.branches[self.root]

    @property
    def max_generation(self) -> int:
        return max(b.generation for b in self.branches.values())

    def leaves(self) -> list[Branch]:
        return [b for b in self if not b.children]

    def path_to(self, branch_id: int) -> list[int]:
        """Branch ids from the root down to ``branch_id`` (inclusive)."""
        path = [branch_id]
        while self.branches[path[-1]].parent != NO_PARENT:
            path.append(self.branches[path[-1]].parent)
        return path[::-1]

    def polyline_to(self, branch_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Concatenated centerline points and radii from the trachea top to a branch's end,
        with the shared bifurcation points counted once."""
        pts, rad = [], []
        for i, bid in enumerate(self.path_to(branch_id)):
            b = self.branches[bid]
            s = 0 if i == 0 else 1
            pts.append(b.points[s:])
            rad.append(b.radii[s:])
        return np.concatenate(pts), np.concatenate(rad)

    def branches_per_generation(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for b in self.branches.values():
            counts[b.generation] = counts.get(b.generation, 0) + 1
        return dict(sorted(counts.items()))

    def bifurcations(self) -> list[tuple[int, np.ndarray]]:
        """(parent branch id, bifurcation point) for every branch with children."""
        return [(b.id, b.end.copy()) for b in self if b.children]

    def total_length_m(self) -> float:
        return float(sum(b.length_m for b in self.branches.values()))

    def all_points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every centerline sample: points (N, 3), radii (N,), branch id (N,)."""
        bs = list(self)
        pts = np.concatenate([b.points for b in bs])
        rad = np.concatenate([b.radii for b in bs])
        ids = np.concatenate([np.full(len(b.points), b.id) for b in bs])
        return pts, rad, ids

    def nearest(self, point: np.ndarray) -> tuple[int, int, float]:
        """(branch id, point index, distance in metres) of the centerline sample nearest to
        ``point``."""
        pts, _, ids = self.all_points()
        d = np.linalg.norm(pts - np.asarray(point, dtype=float), axis=1)
        k = int(np.argmin(d))
        bid = int(ids[k])
        offset = int(np.flatnonzero(ids == bid)[0])
        return bid, k - offset, float(d[k])

    def to_dict(self) -> dict:
        return {
            "root": self.root,
            "units": "metres, world frame (LPS)",
            "branches": [b.to_dict() for b in self],
        }

    @classmethod
    def from_dict(cls, d: dict) -> CenterlineTree:
        branches = {int(b["id"]): Branch.from_dict(b) for b in d["branches"]}
        return cls(branches=branches, root=int(d["root"]))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> CenterlineTree:
        return cls.from_dict(json.loads(Path(path).read_text()))
