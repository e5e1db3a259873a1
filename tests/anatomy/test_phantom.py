"""Procedural phantom: tree rules (Weibel ratios, angles, asymmetry), exact GT, CT intensities."""

from __future__ import annotations

import numpy as np
import pytest

from room.anatomy.phantom import (
    LUMEN,
    LUNG,
    WALL,
    PhantomConfig,
    make_phantom,
    make_phantom_tree,
)
from room.errors import ConfigError

SMALL = PhantomConfig(generations=4, spacing_m=0.001)


@pytest.fixture(scope="module")
def small():
    return make_phantom(SMALL)


def _chord(b):
    v = b.end - b.start
    return v / np.linalg.norm(v)


def _angle_deg(u, v):
    return float(np.degrees(np.arccos(np.clip(u @ v, -1, 1))))


def test_tree_rules_default():
    cfg = PhantomConfig()
    tree = make_phantom_tree(cfg)
    t = tree.trachea
    assert t.name == "trachea" and t.parent == -1 and t.generation == 0
    assert t.length_m == pytest.approx(0.120, rel=1e-3)
    assert 2 * t.radii[0] == pytest.approx(0.018, rel=1e-6)
    # the trachea runs along -z (LPS: superior is +z)
    assert np.allclose(_chord(t), [0, 0, -1])
    names = {tree[c].name: tree[c] for c in t.children}
    right, left = names["right main bronchus"], names["left main bronchus"]
    assert right.end[0] < 0 < left.end[0]  # LPS: patient left is +x
    # right: shorter, wider, steeper (smaller angle to the trachea axis)
    assert right.length_m < left.length_m and right.radius_m > left.radius_m
    assert _angle_deg(_chord(right), _chord(t)) < _angle_deg(_chord(left), _chord(t))
    assert tree.max_generation == cfg.generations
    assert len(tree) >= 50  # pruning keeps most of the 127 possible branches
    for b in tree:
        for c in (tree[i] for i in b.children):
            assert c.generation == b.generation + 1 and c.parent == b.id
            assert np.allclose(c.start, b.end)  # children start at the bifurcation point
            if b.generation >= 1:
                # exact by construction: chord angles within the configured ranges
                assert 28.0 - 1e-6 <= _angle_deg(_chord(c), _chord(b)) <= 45.0 + 1e-6
                # diameter ratio 0.79 with at most 6% asymmetry
                ratio = c.radii[0] / b.radii[-1]
                assert 0.79 * 0.94 - 1e-9 <= ratio <= 0.79 * 1.06 + 1e-9
        assert len(b.children) in (0, 2)


def test_tree_has_no_collisions():
    tree = make_phantom_tree(PhantomConfig())
    bs = list(tree)
    for i, a in enumerate(bs):
        for b in bs[i + 1:]:
            related = a.parent == b.parent or b.parent == a.id or a.parent == b.id
            if related:
                continue
            # lumens of unrelated branches never touch (radii sum; samples every 1 mm, and the
            # builder keeps walls + 0.5 mm clearance, more than the 0.5 mm sampling gap)
            pa, ra, pb, rb = a.points[::2], a.radii[::2], b.points[::2], b.radii[::2]
            d = np.linalg.norm(pa[:, None] - pb[None], axis=2)
            assert np.all(d > ra[:, None] + rb[None, :]), (a.id, b.id)


def test_seeded_and_deterministic(small):
    again = make_phantom(SMALL)
    assert np.array_equal(small.ct.array, again.ct.array)
    assert np.array_equal(small.lumen.array, again.lumen.array)
    other = make_phantom_tree(PhantomConfig(generations=4, seed=1))
    assert not np.allclose(other[3].end, small.tree[3].end)


def test_ct_intensities_and_gt_lumen(small):
    ct, tissue, lumen = small.ct, small.tissue.array, small.lumen.array
    assert ct.array.dtype == np.float32 and lumen.dtype == bool
    assert np.array_equal(lumen, tissue == LUMEN)
    from scipy import ndimage

    core = ndimage.binary_erosion(lumen, iterations=2)
    assert np.median(ct.array[core]) == pytest.approx(-1000, abs=15)
    lung = ndimage.binary_erosion(tissue == LUNG, iterations=3)
    assert np.median(ct.array[lung]) == pytest.approx(-850, abs=15)
    # scanner noise ~25 HU on top of the blurred texture: spread 25..60 HU in parenchyma
    assert 25 < np.std(ct.array[lung]) < 60
    assert (tissue == WALL).sum() > 0.2 * lumen.sum()
    # every GT centerline sample lies in a GT lumen voxel (radii >= 1.7 mm >> 1 mm voxels)
    pts, _, _ = small.tree.all_points()
    idx = np.round(ct.world_to_index(pts)).astype(int)
    assert lumen[idx[:, 2], idx[:, 1], idx[:, 0]].all()
    # GT lumen volume vs the analytic sum of frusta (overlap at joints, caps): within 10%
    vol = sum(np.pi * b.radius_m**2 * b.length_m for b in small.tree)
    assert lumen.sum() * ct.voxel_volume_m3 == pytest.approx(vol, rel=0.10)


def test_benchmark_shape_option():
    cfg = PhantomConfig(generations=2, spacing_m=0.002, shape_xyz=(100, 90, 120))
    ph = make_phantom(cfg)
    assert ph.ct.shape_xyz == (100, 90, 120)
    pts, _, _ = ph.tree.all_points()
    idx = ph.ct.world_to_index(pts)
    assert np.all(idx >= 0) and np.all(idx <= np.array(ph.ct.shape_xyz) - 1)


@pytest.mark.parametrize("bad", [dict(spacing_m=0.0), dict(spacing_m=0.05),
                                 dict(generations=-1), dict(shape_xyz=(4, 4, 4))])
def test_bad_config(bad):
    with pytest.raises(ConfigError):
        make_phantom(PhantomConfig(**bad))


def test_config_from_hydra_style_mapping():
    from room.config import to_dataclass

    cfg = to_dataclass(PhantomConfig, {"generations": 1, "spacing_m": 0.002,
                                       "shape_xyz": [40, 40, 90], "lung_centre": [0.08, 0.02,
                                                                                  -0.145]})
    assert cfg.lung_centre == (0.08, 0.02, -0.145)
    ph = make_phantom(cfg)
    assert ph.ct.shape_xyz == (40, 40, 90) and len(ph.tree) == 3
