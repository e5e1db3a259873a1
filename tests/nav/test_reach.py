"""Reachable targets from the mesh (room.env.task.reachable_branches with mesh=, lumen.py):
a straight tube of exactly known radius with one narrowing, so every passage radius is known."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from room.anatomy.lumen import branch_passage, passage_radius
from room.anatomy.tree import Branch, CenterlineTree
from room.env.task import passage_margins, reachable_branches, target_candidates
from room.errors import ConfigError

SCOPE_R = 0.0021
SEG = 64  # ring facets: the polygon's apothem is r cos(pi / 64), 0.12 % inside the circle
TOL = 2e-5  # m: 0.12 % of 5 mm (the facets) is 6 um; the ascent stops within a few um


def _tube(profile) -> trimesh.Trimesh:
    """Surface of revolution about z, radius ``profile(z)`` (m), z from 0 to 60 mm."""
    z = np.linspace(0.0, 0.06, 121)  # rings every 0.5 mm
    a = np.linspace(0.0, 2 * np.pi, SEG, endpoint=False)
    r = profile(z)
    v = np.stack([np.outer(r, np.cos(a)), np.outer(r, np.sin(a)),
                  np.repeat(z[:, None], SEG, 1)], -1).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(len(z) - 1), np.arange(SEG), indexing="ij")
    p00, p01 = i * SEG + j, i * SEG + (j + 1) % SEG
    p10, p11 = p00 + SEG, p01 + SEG
    f = np.concatenate([np.stack([p00, p01, p11], -1).reshape(-1, 3),
                        np.stack([p00, p11, p10], -1).reshape(-1, 3)])
    return trimesh.Trimesh(v, f, process=False)


def _narrowed(z0: float, z1: float, r_min: float):
    """5 mm radius, narrowing linearly to ``r_min`` over 1 mm each side of [z0, z1]."""
    def profile(z):
        d = np.maximum(np.maximum(z0 - z, z - z1), 0.0)  # distance outside [z0, z1]
        return np.clip(r_min + (0.005 - r_min) * d / 0.001, r_min, 0.005)
    return profile


def _tree() -> CenterlineTree:
    """Straight along z: trachea 0-20 mm, branch 1 (gen 1) 20-40 mm, branch 2 (gen 2) 40-60."""
    def br(i, parent, gen, z0, z1, children):
        z = np.linspace(z0, z1, 21)
        return Branch(i, parent, gen, np.stack([0 * z, 0 * z, z], 1), np.full(21, 0.005),
                      children)
    return CenterlineTree({0: br(0, -1, 0, 0.0, 0.02, [1]), 1: br(1, 0, 1, 0.02, 0.04, [2]),
                           2: br(2, 1, 2, 0.04, 0.06, [])}, root=0)


def test_passage_radius_finds_the_largest_ball_off_centre():
    mesh = _tube(lambda z: np.full_like(z, 0.004))
    p = np.array([[0.0, 0.0, 0.03], [0.0015, 0.0, 0.03], [0.0, -0.0025, 0.03]])
    t = np.tile([0.0, 0.0, 1.0], (3, 1))
    r0 = passage_radius(mesh, p, t, search_m=0.0)  # no search: the distance from the point
    assert np.allclose(r0, [0.004, 0.0025, 0.0015], atol=TOL)
    r = passage_radius(mesh, p, t, search_m=0.003, iterations=12)  # back to the axis
    assert np.allclose(r, 0.004, atol=TOL)


@pytest.mark.parametrize("r_min, reach", [(0.0020, [1]), (0.0023, [1, 2]), (0.0010, [1])])
def test_a_narrowing_in_the_last_third_only_blocks_the_children(r_min, reach):
    # narrowing at 39-40 mm: branch 1's last third (33.3-40 mm) is not on its way to its goal
    # (the narrowing's ramp stays over 5 mm from the goal point: the ball there is the tube's)
    mesh = _tube(_narrowed(0.039, 0.040, r_min))
    tree = _tree()
    assert reachable_branches(tree, SCOPE_R, mesh=mesh) == reach
    m = passage_margins(tree, mesh, SCOPE_R)
    # straight tube: no sagitta, the margin is the narrowing's radius minus the scope's
    assert m[2] == pytest.approx(r_min - SCOPE_R, abs=TOL)
    assert m[1] == pytest.approx(0.005 - SCOPE_R, abs=TOL)  # its first 2/3: 5 mm


def test_a_narrowing_before_the_goal_blocks_the_branch():
    mesh = _tube(_narrowed(0.025, 0.026, 0.002))  # in branch 1's first third
    tree = _tree()
    assert reachable_branches(tree, SCOPE_R, mesh=mesh) == []
    assert reachable_branches(tree, 0.0019, mesh=mesh) == [1, 2]  # a 3.8 mm scope fits
    # without the mesh: the tree's mean radii (5 mm) pass any scope under 4.5 mm
    assert reachable_branches(tree, SCOPE_R) == [1, 2]


def test_bad_inputs_name_what_is_wrong():
    """docs/reliability.md: each bad input names the setting and the allowed range."""
    mesh, tree = _tube(lambda z: np.full_like(z, 0.005)), _tree()
    with pytest.raises(ConfigError, match="3 points but 2 tangents"):
        passage_radius(mesh, np.zeros((3, 3)), np.ones((2, 3)), 0.0)
    with pytest.raises(ConfigError, match="spacing_m = 0.0"):
        branch_passage(mesh, tree, spacing_m=0.0)
    with pytest.raises(ConfigError, match="search_fraction = 1.5"):
        branch_passage(mesh, tree, search_fraction=1.5)
    with pytest.raises(ConfigError, match="scope_radius_m = -0.001"):
        passage_margins(tree, mesh, -0.001)
    with pytest.raises(ConfigError, match="success_fraction = 0.0"):
        passage_margins(tree, mesh, SCOPE_R, success_fraction=0.0)
    with pytest.raises(ConfigError, match="no reachable branch of generation 5"):
        target_candidates(tree, SCOPE_R, generation=5, mesh=mesh)
