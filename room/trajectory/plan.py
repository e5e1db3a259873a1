"""plan_sequences: which branches to visit and the camera poses of each visit."""

from __future__ import annotations

from typing import Any

import numpy as np

from room.anatomy.tree import CenterlineTree
from room.errors import ConfigError
from room.trajectory.config import TrajectoryConfig
from room.trajectory.kinematic import CenterlineDistance, kinematic_path
from room.trajectory.sequence import PlannedSequence


def coverage_targets(tree: CenterlineTree, cfg: TrajectoryConfig) -> list[int]:
    """Branch ids a coverage run visits: for 'leaves', every branch at ``max_generation`` plus
    shallower leaves (each reachable branch ends up on some path); for 'all', every branch of
    generation 1..max_generation (and the trachea if it has no children)."""
    bs = [b for b in tree if b.generation <= cfg.max_generation]
    if cfg.targets == "leaves":
        ids = [b.id for b in bs if b.generation == cfg.max_generation or not b.children]
    else:
        ids = [b.id for b in bs if b.parent != -1 or not b.children]
    return sorted(ids)


def plan_sequences(scene: Any, cfg: TrajectoryConfig, seed: int = 0, robot: Any = None,
                   sim: Any = None) -> list[PlannedSequence]:
    """Camera paths for a scene (an AirwayScene, or a bare CenterlineTree for kinematic paths).
    ``robot`` / ``sim`` (RobotConfig / SimConfig) are used by the physical source.

    Deterministic in (tree, cfg, seed): each target's perturbations come from its own random
    stream seeded by (seed, target id)."""
    tree = scene if isinstance(scene, CenterlineTree) else scene.tree
    targets = coverage_targets(tree, cfg)
    if not targets:
        raise ConfigError(f"no branch of generation <= {cfg.max_generation} to visit")
    if cfg.n_sequences and cfg.n_sequences < len(targets):
        pick = np.random.default_rng([seed, 7919]).choice(len(targets), cfg.n_sequences,
                                                          replace=False)
        targets = [targets[k] for k in sorted(pick)]
    if cfg.source == "physical":
        # imported here so that `import room.trajectory` does not load PyBullet
        from room.trajectory.physical import physical_sequences

        return physical_sequences(scene, targets, cfg, seed, robot, sim)
    dist = CenterlineDistance(tree)
    out = []
    for k, target in enumerate(targets):
        rng = np.random.default_rng([seed, target])
        poses, s = kinematic_path(tree, target, cfg, rng, dist)
        times = np.arange(len(poses)) / cfg.frame_rate_hz
        out.append(PlannedSequence(f"{k:03d}_b{target}", target, poses, times, arclength=s))
    return out
