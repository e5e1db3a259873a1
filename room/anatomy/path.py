"""``CenterlinePath``: arc-length bookkeeping along the centerline to one target branch.

The one centerline-path class of room, at the lowest stage that has the tree, so that robot
controllers, the Gymnasium env and trajectory code share it. Metres, world frame.
"""

from __future__ import annotations

import numpy as np

from room.anatomy.tree import CenterlineTree
from room.errors import ConfigError


class CenterlinePath:
    """The centerline path from the trachea top to the end of a target branch, resampled every
    ``spacing_m``: arc length ``s``, ``points``, lumen ``radii``, the branch ids on the path and
    the arc length of each bifurcation on it (used by the controllers and the env)."""

    def __init__(self, tree: CenterlineTree, target_branch_id: int, spacing_m: float = 5e-4):
        if target_branch_id not in tree.branches:
            raise ConfigError(f"target branch {target_branch_id} is not in the tree (ids "
                              f"{sorted(tree.branches)[:20]}...)")
        pts, rad = tree.polyline_to(target_branch_id)
        seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
        s = np.concatenate([[0.0], np.cumsum(seg)])
        n = max(2, int(np.ceil(s[-1] / spacing_m)) + 1)
        self.s = np.linspace(0.0, s[-1], n)
        self.points = np.stack([np.interp(self.s, s, pts[:, k]) for k in range(3)], axis=1)
        self.radii = np.interp(self.s, s, rad)
        self.length = float(self.s[-1])
        ids = tree.path_to(target_branch_id)
        self.branch_ids = ids
        # arc length of each bifurcation on the path (end of every branch but the last)
        ends = np.cumsum([tree[b].length_m for b in ids])
        self.bifurcations_s = ends[:-1]

    def project(self, p: np.ndarray) -> tuple[float, float, float]:
        """(arc length, distance to the path, lumen radius there) of the closest path sample."""
        d = np.linalg.norm(self.points - p, axis=1)
        k = int(np.argmin(d))
        return float(self.s[k]), float(d[k]), float(self.radii[k])

    def point_at(self, s: float) -> np.ndarray:
        """Point at arc length ``s``; beyond the end, the path continues straight along its
        last direction (a stable aim point while the tip reaches the branch end)."""
        if s > self.length:
            d = self.points[-1] - self.points[-2]
            return self.points[-1] + (s - self.length) * d / np.linalg.norm(d)
        s = max(float(s), 0.0)
        return np.array([np.interp(s, self.s, self.points[:, k]) for k in range(3)])
