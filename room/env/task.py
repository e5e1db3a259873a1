"""The navigation task shared by the Gymnasium env and the navigation benchmark (room.nav):
reach a target branch, observe the goal, judge success and failure, and measure the trial.

- Target: a branch of the scene's centerline tree; the planned path is the centerline from the
  trachea top to the end of that branch (:class:`room.anatomy.path.CenterlinePath`).
- Goal observation (:meth:`NavTask.goal`, float32 (6,)): the unit direction (x, y, z, tip camera
  frame: x right, y down, z forward) to the NEXT WAYPOINT, the point ``lookahead_m`` further
  along the planned path than the tip's projection on it; the distance to it (m); the path length
  still to go to the target branch's end (m); and the target's generation.
- Success: the tip stays inside the target branch's last ``success_fraction`` (arc length along
  the path, within the local lumen radius of it) for ``dwell_s`` seconds.
- Failure: wall force above ``force_limit_N`` ("force"); less than ``no_progress_m`` of best
  progress along the path within ``no_progress_s`` ("no_progress"; progress counts with the tip
  within ``progress_radius_factor`` local lumen radii of the path); a simulation error
  ("sim_error"); running out of ``timeout_s`` ("timeout").
- Metrics per trial (:meth:`NavTask.metrics`): success, outcome, time, tip path length, mean and
  peak wall force, wall contacts (control steps with a new robot-wall contact), final progress.
- Difficulty of a target (:func:`path_turn`, :func:`difficulty`): the largest turn of the path
  within one bending-section length, up to the goal. Beyond ``hard_turn_deg`` (90 degrees) the
  target is "hard": a bending section laid along such a stretch points its tip backwards with
  respect to its base, so inserting the shaft (which pushes along the base) moves the tip away
  from the goal; the tip gets round only as the wall bends the passive shaft, or by hooking the
  bent tip into the opening while withdrawing. Up to 90 degrees ("normal") the bend alone
  points the tip into the branch and insertion advances it.

Lengths in metres, forces in newtons, times in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from room.anatomy.path import CenterlinePath
from room.anatomy.tree import CenterlineTree
from room.errors import ConfigError

OUTCOMES = ("running", "success", "force", "no_progress", "timeout", "sim_error")


@dataclass(frozen=True)
class TaskConfig:
    """Success and failure rules of a navigation trial (SI units)."""

    success_fraction: float = 1.0 / 3.0  # the target branch's last third
    dwell_s: float = 0.2  # ... held this long
    force_limit_N: float = 1.5
    no_progress_s: float = 8.0  # failure: best progress grew by < no_progress_m in this time
    no_progress_m: float = 0.002
    # ... counted while the tip is within this many local lumen radii of the path (the
    # follower's lost_radius_factor: CT lumens are not circular)
    progress_radius_factor: float = 1.5
    timeout_s: float = 0.0  # 0: 10 s + the path length at a quarter of full insertion speed
    lookahead_m: float = 0.01  # the next waypoint: this far along the path past the tip
    # a target whose path turns more than this within one bending length is "hard" (above)
    hard_turn_deg: float = 90.0

    def __post_init__(self) -> None:
        if not 0.0 < self.success_fraction <= 1.0:
            raise ConfigError(f"success_fraction must be in (0, 1], got {self.success_fraction}")
        for k in ("dwell_s", "force_limit_N", "no_progress_s", "no_progress_m", "timeout_s",
                  "lookahead_m", "progress_radius_factor"):
            v = getattr(self, k)
            if not (np.isfinite(v) and v >= 0):
                raise ConfigError(f"TaskConfig.{k} must be finite and >= 0, got {v!r}")
        if not 0.0 < self.hard_turn_deg <= 180.0:
            raise ConfigError(f"TaskConfig.hard_turn_deg must be in (0, 180] degrees (the turn "
                              f"within one bending length beyond which a target is hard), got "
                              f"{self.hard_turn_deg!r}")
        if self.progress_radius_factor <= 0:
            raise ConfigError("TaskConfig.progress_radius_factor must be > 0 (lumen radii from "
                              f"the path within which progress counts), got "
                              f"{self.progress_radius_factor!r}")


def reachable_branches(tree: CenterlineTree, scope_radius_m: float,
                       clearance: float = 1.1, mesh: Any = None,
                       link_length_m: float = 0.005,
                       success_fraction: float = 1.0 / 3.0) -> list[int]:
    """Branch ids (generation >= 1) the scope can reach.

    With the airway ``mesh`` (the collision mesh the simulation uses): the scope fits at every
    centerline sample from the trachea to the target's goal (the start of its last
    ``success_fraction``): the passage radius there (:func:`room.anatomy.lumen.passage_radius`,
    the largest ball in the cross-section) is at least the scope radius plus the sagitta
    ``L * theta / 8`` of a rigid link of length ``L = link_length_m`` (a bending-section link)
    across the centerline's turn ``theta`` over one link length (a chord of a bend of radius R
    bulges L^2 / (8 R) = L theta / 8 to the side). This is the geometric necessity on a rigid
    wall, with no clearance to spare (:func:`passage_margins` gives the margins). Branches whose
    path has a branch with a mean radius below the scope radius are not measured (out).
    Without a mesh: every branch on the path has a mean lumen radius above ``clearance`` x the
    scope radius (the tree alone)."""
    if mesh is None:
        return sorted(b.id for b in tree if b.generation >= 1 and all(
            tree[i].radius_m > clearance * scope_radius_m for i in tree.path_to(b.id)))
    m = passage_margins(tree, mesh, scope_radius_m, link_length_m, success_fraction)
    return sorted(b for b, v in m.items() if v >= 0.0)


def passage_margins(tree: CenterlineTree, mesh: Any, scope_radius_m: float,
                    link_length_m: float = 0.005, success_fraction: float = 1.0 / 3.0,
                    spacing_m: float = 0.001) -> dict[int, float]:
    """Branch id -> the smallest margin (m) of passage radius over what the scope needs
    (scope radius + rigid-link sagitta, see :func:`reachable_branches`) along the path from the
    trachea to the branch's goal point (the trachea from one trachea radius below its top, where
    the scope starts); measured only for branches (generation >= 1) whose every path branch
    has a mean radius above the scope radius (the others cannot be reached: -inf)."""
    from room.anatomy.lumen import branch_passage

    if scope_radius_m <= 0 or link_length_m < 0 or not 0.0 < success_fraction <= 1.0:
        raise ConfigError(f"passage_margins: scope_radius_m = {scope_radius_m!r}, "
                          f"link_length_m = {link_length_m!r}, success_fraction = "
                          f"{success_fraction!r}; use scope_radius_m > 0 (m), link_length_m "
                          ">= 0 (m) and success_fraction in (0, 1]")
    cand = {b.id for b in tree if all(tree[i].radius_m > scope_radius_m
                                      for i in tree.path_to(b.id))}
    bp = branch_passage(mesh, _Subset(tree, cand), spacing_m=spacing_m)
    need: dict[int, np.ndarray] = {}
    for i in cand:
        need[i] = bp[i][1] - _required(tree, i, bp[i][0], scope_radius_m, link_length_m)
        if tree[i].generation == 0:  # the entry (the mesh's end, open or capped) is not a
            need[i][bp[i][0] < tree[i].radius_m] = np.inf  # passage: the scope starts there
    out: dict[int, float] = {}
    for b in tree:
        if b.generation < 1:
            continue
        if b.id not in cand:
            out[b.id] = -np.inf
            continue
        v = [need[i].min() for i in tree.path_to(b.id)[:-1]]
        s = bp[b.id][0]
        v.append(need[b.id][s <= (1.0 - success_fraction) * b.length_m + 1e-9].min())
        out[b.id] = float(min(v))
    return out


class _Subset:
    """The branches ``ids`` of a tree, iterable and indexable like the tree."""

    def __init__(self, tree: CenterlineTree, ids: set[int]) -> None:
        self.tree, self.ids = tree, sorted(ids)

    def __iter__(self):
        return (self.tree[i] for i in self.ids)

    def __getitem__(self, i: int):
        return self.tree[i]


def _points_at(path: CenterlinePath, s: np.ndarray) -> np.ndarray:
    """(N, 3) path points at arc lengths ``s`` (m), clamped to the path."""
    s = np.clip(s, 0.0, path.length)
    return np.stack([np.interp(s, path.s, path.points[:, k]) for k in range(3)], axis=-1)


def _required(tree: CenterlineTree, branch_id: int, s: np.ndarray, radius: float,
              link: float) -> np.ndarray:
    """Scope radius + the sagitta of a rigid link across the turn of the centerline path
    (through the parent's end) over one link length, at arc lengths ``s`` of the branch."""
    path = CenterlinePath(tree, branch_id, spacing_m=2.5e-4)
    s0 = path.length - tree[branch_id].length_m
    x = s0 + np.asarray(s)

    a = _points_at(path, x) - _points_at(path, x - link / 2)
    b = _points_at(path, x + link / 2) - _points_at(path, x)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    cos = (a * b).sum(1) / np.maximum(na * nb, 1e-15)
    theta = np.where((na > 1e-9) & (nb > 1e-9), np.arccos(np.clip(cos, -1.0, 1.0)), 0.0)
    return radius + link * theta / 8.0


def path_turn(path: CenterlinePath, window_m: float, s_max: float | None = None,
              chord_m: float = 0.005) -> tuple[float, float]:
    """(angle in rad, arc length in m where it starts) of the largest turn of ``path`` within
    ``window_m`` of arc length (the angle between the path's tangents at two arc lengths at
    most ``window_m`` apart), on ``[0, s_max]`` (default: the whole path). Tangents are chords
    of ``chord_m`` centred on each sample: the scope's direction is that of a rigid link
    (a bending-section link, 5 mm), which does not follow a turn shorter than itself; a point
    tangent would also count a CT centerline's voxel-scale (0.5-0.8 mm) wiggles as turns."""
    if window_m <= 0 or chord_m <= 0:
        raise ConfigError(f"path_turn: window_m = {window_m!r}, chord_m = {chord_m!r}; both "
                          "must be > 0 (m)")
    s_max = path.length if s_max is None else min(float(s_max), path.length)
    s = path.s[path.s <= s_max + 1e-12]
    t = _points_at(path, s + 0.5 * chord_m) - _points_at(path, s - 0.5 * chord_m)
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-15)
    step = float(path.s[1] - path.s[0]) if len(path.s) > 1 else window_m
    best, where = 0.0, 0.0
    for k in range(1, min(len(s) - 1, int(round(window_m / step))) + 1):
        a = np.arccos(np.clip((t[:-k] * t[k:]).sum(1), -1.0, 1.0))
        i = int(np.argmax(a))
        if a[i] > best:
            best, where = float(a[i]), float(s[i])
    return best, where


def difficulty(turn_rad: float, hard_turn_deg: float = 90.0) -> str:
    """"hard" when a path turns more than ``hard_turn_deg`` within one bending length (see the
    module docstring), else "normal"."""
    return "hard" if np.degrees(turn_rad) > hard_turn_deg else "normal"


def target_turns(tree: CenterlineTree, ids: Any, bend_length_m: float,
                 link_length_m: float = 0.005, success_fraction: float = 1.0 / 3.0
                 ) -> dict[int, float]:
    """Branch id -> :func:`path_turn` (rad) of the path to it within ``bend_length_m`` (the
    scope's bending section; tangents over one ``link_length_m``), up to its goal (the start
    of its last ``success_fraction``)."""
    out = {}
    for i in ids:
        path = CenterlinePath(tree, int(i))
        out[int(i)] = path_turn(path, bend_length_m,
                                path.length - success_fraction * tree[int(i)].length_m,
                                chord_m=link_length_m)[0]
    return out


def target_candidates(tree: CenterlineTree, scope_radius_m: float,
                      generation: int | None = None, **reach: Any) -> list[int]:
    """Targets a seed draws from: reachable branches of ``generation``; with None, the reachable
    branches none of whose children is reachable (the deepest the scope fits). Falls back to the
    tree's leaves when the scope fits nowhere. ``reach``: :func:`reachable_branches`' options
    (``mesh=``, ``link_length_m=``, ``success_fraction=``)."""
    ok = reachable_branches(tree, scope_radius_m, **reach)
    if generation is not None:
        ids = [b for b in ok if tree[b].generation == generation]
        if not ids:
            gens = sorted({tree[b].generation for b in ok})
            raise ConfigError(f"no reachable branch of generation {generation} in this scene "
                              f"for this scope (reachable generations: {gens})")
        return ids
    okset = set(ok)
    ids = [b for b in ok if not any(c in okset for c in tree[b].children)]
    return ids or sorted(b.id for b in tree.leaves())


class NavTask:
    """One trial towards ``target``; call :meth:`update` after every action with the SimState
    (or use only :meth:`goal` and :meth:`progress`)."""

    def __init__(self, tree: CenterlineTree, target: int, cfg: TaskConfig | None = None,
                 insertion_speed_m_s: float = 0.02, bend_length_m: float = 0.03,
                 link_length_m: float = 0.005) -> None:
        self.tree, self.target = tree, int(target)
        self.cfg = cfg or TaskConfig()
        self.path = CenterlinePath(tree, self.target)
        b = tree[self.target]
        self.generation = int(b.generation)
        self.s_end = self.path.length
        self.s_goal = self.s_end - self.cfg.success_fraction * b.length_m
        # the target's difficulty for a scope whose bending section is bend_length_m long
        self.turn_rad = path_turn(self.path, bend_length_m, self.s_goal, link_length_m)[0]
        self.difficulty = difficulty(self.turn_rad, self.cfg.hard_turn_deg)
        self.timeout_s = self.cfg.timeout_s or 10.0 + self.path.length / (
            0.25 * insertion_speed_m_s)
        self.t0: float | None = None
        self.outcome = "running"
        self._dwell_start: float | None = None
        self._best, self._best_t = -np.inf, 0.0
        self._tip_prev: np.ndarray | None = None
        self.path_length_m = 0.0
        self._forces: list[float] = []
        self.contacts = 0
        self._in_contact = False
        self.s_tip = 0.0
        self.trace: list[tuple[float, float, float, float, float]] = []  # t, x, y, z, force

    # ---------------------------------------------------------------------------- goal
    def progress(self, tip: np.ndarray) -> tuple[float, float, float]:
        """(arc length along the path, distance to it, lumen radius there) of the tip."""
        return self.path.project(np.asarray(tip, float))

    def waypoint(self, tip: np.ndarray) -> np.ndarray:
        """The next waypoint (world frame): ``lookahead_m`` past the tip's projection, at most
        the path's end."""
        s = self.progress(tip)[0]
        return self.path.point_at(min(s + self.cfg.lookahead_m, self.s_end))

    def goal(self, T_world_cam: np.ndarray) -> np.ndarray:
        """float32 (6,): unit direction to the next waypoint in the camera frame (3), its
        distance (m), the path length left to the target's end (m), the target's generation."""
        T = np.asarray(T_world_cam, float)
        p = T[:3, 3]
        w = T[:3, :3].T @ (self.waypoint(p) - p)
        d = float(np.linalg.norm(w))
        u = w / d if d > 1e-9 else np.array([0.0, 0.0, 1.0])
        left = max(0.0, self.s_end - self.progress(p)[0])
        return np.array([*u, d, left, self.generation], np.float32)

    # ------------------------------------------------------------------------- judging
    def update(self, state: Any, force_N: float | None = None, sim_error: str | None = None
               ) -> str:
        """Advance the trial with the state after an action; return the outcome
        (``"running"`` until it ends; then it stays)."""
        if self.outcome != "running":
            return self.outcome
        t = float(state.time_s)
        if self.t0 is None:
            self.t0 = t
        el = t - self.t0
        tip = state.T_world_tip[:3, 3]
        if self._tip_prev is not None:
            self.path_length_m += float(np.linalg.norm(tip - self._tip_prev))
        self._tip_prev = tip.copy()
        f = float(state.max_force_N if force_N is None else force_N)
        self._forces.append(f)
        touching = len(state.contacts.link) > 0
        self.contacts += int(touching and not self._in_contact)
        self._in_contact = touching
        s, d, r = self.progress(tip)
        self.s_tip = s
        self.trace.append((el, *tip.tolist(), f))
        # progress counts with the tip near the path only: from a neighbouring lumen the tip
        # projects onto the path wherever that is nearest, often far ahead of where it got
        if s > self._best + self.cfg.no_progress_m and d <= self.cfg.progress_radius_factor * r:
            self._best, self._best_t = s, el
        inside = s >= self.s_goal and d <= r
        if inside:
            self._dwell_start = el if self._dwell_start is None else self._dwell_start
        else:
            self._dwell_start = None
        if sim_error is not None:
            self.outcome = "sim_error"
        elif f > self.cfg.force_limit_N:
            self.outcome = "force"
        elif inside and el - self._dwell_start >= self.cfg.dwell_s:
            self.outcome = "success"
        elif el - self._best_t > self.cfg.no_progress_s and not inside:
            self.outcome = "no_progress"
        elif el >= self.timeout_s:
            self.outcome = "timeout"
        return self.outcome

    @property
    def elapsed_s(self) -> float:
        return self.trace[-1][0] if self.trace else 0.0

    def metrics(self) -> dict[str, Any]:
        """Per-trial metrics (SI units)."""
        f = np.asarray(self._forces or [0.0])
        return {"target": self.target, "generation": self.generation,
                "success": self.outcome == "success", "outcome": self.outcome,
                "time_s": round(self.elapsed_s, 4), "path_length_m": round(self.path_length_m, 5),
                "mean_force_N": round(float(f.mean()), 5),
                "peak_force_N": round(float(f.max()), 5), "wall_contacts": int(self.contacts),
                "progress_m": round(self.s_tip, 5), "goal_s_m": round(self.s_goal, 5),
                "path_m": round(self.s_end, 5),
                "turn_deg": round(float(np.degrees(self.turn_rad)), 2),
                "difficulty": self.difficulty}
