"""extract_centerline / compare_trees against exactly known trees of tubes."""

from __future__ import annotations

import numpy as np
import pytest

from room.anatomy.centerline import CenterlineConfig, compare_trees, extract_centerline
from room.anatomy.volume import Volume
from room.errors import ConfigError, SegmentationError
from tests.anatomy.voxel_trees import _rotate, make_tree, voxelize_tree

VOX = 0.001


def rotation(axis=(1.0, 2.0, 0.5), deg=20.0) -> np.ndarray:
    a = np.asarray(axis) / np.linalg.norm(axis)
    return np.stack([_rotate(e, a, np.deg2rad(deg)) for e in np.eye(3)], axis=1)


@pytest.fixture(scope="module")
def gt_tree():
    return make_tree(generations=3)


@pytest.mark.parametrize(
    "direction",
    [np.eye(3), rotation(), np.diag([1.0, -1.0, -1.0])],
    ids=["identity", "oblique", "z-down"],
)
def test_tree_matches_ground_truth(gt_tree, direction):
    vol = voxelize_tree(gt_tree, spacing=VOX, direction=direction)
    pred = extract_centerline(vol, CenterlineConfig())
    r = compare_trees(pred, gt_tree, voxel_m=VOX)
    # issue targets: centerline within 0.5 voxel (median), radius within 15 %, same topology.
    # On exact capsule masks the refined centerline is ~0.1 voxel off and radii within ~1 %;
    # the bounds leave a margin over that and still catch a skeleton that is not refined
    # (median ~0.26 voxel, radii ~4 % low: see the unrefined test).
    assert r["centerline_median_vox"] < 0.2
    assert r["centerline_p90_vox"] < 0.5
    assert r["radius_rel_err_median"] < 0.015
    assert r["radius_rel_err_max"] < 0.03
    assert r["topology_match"], r
    assert r["branches_detected"] == 1.0
    assert pred.branches_per_generation() == gt_tree.branches_per_generation()
    # names and orientation: root at the top (superior, +z), main bronchi by side
    t = pred.trachea
    assert t.name == "trachea" and t.parent == -1 and t.generation == 0
    assert t.start[2] > t.end[2]
    np.testing.assert_allclose(t.start[:2], gt_tree.trachea.start[:2], atol=VOX)
    names = {pred[c].name: pred[c] for c in t.children}
    assert names["left main bronchus"].end[0] > names["right main bronchus"].end[0]
    for b in pred:
        for c in b.children:
            np.testing.assert_allclose(pred[c].start, b.end)  # children start at the parent end
            assert pred[c].generation == b.generation + 1


def test_unrefined_skeleton_is_worse(gt_tree):
    """The refinement matters, and compare_trees can tell: the plain smoothed skeleton is
    quantized to the voxel grid, and its radius (distance to the nearest background voxel)
    shrinks by the skeleton's offset from the axis."""
    vol = voxelize_tree(gt_tree, spacing=VOX)
    r = compare_trees(extract_centerline(vol, CenterlineConfig(refine=False)), gt_tree, VOX)
    assert r["centerline_median_vox"] > 0.2
    assert r["radius_rel_err_median"] > 0.02


def test_surface_bumps_and_cavities(gt_tree):
    """Bumps on the wall make skeleton spurs, enclosed background pockets (segmentation noise)
    make skeleton loops; pruning and cavity filling remove them, topology stays exact."""
    vol = voxelize_tree(gt_tree, spacing=VOX)
    arr = vol.array.copy()
    rng = np.random.default_rng(0)
    pts, rad, _ = gt_tree.all_points()
    z, y, x = np.mgrid[-3:4, -3:4, -3:4]
    ball = x**2 + y**2 + z**2 <= 2.5**2
    for k in rng.choice(len(pts), 40, replace=False):
        d = rng.normal(size=3)
        d[2] *= 0.3
        d /= np.linalg.norm(d)
        c = np.round(vol.world_to_index((pts[k] + rad[k] * d)[None])[0][::-1]).astype(int)
        sl = tuple(slice(c[i] - 3, c[i] + 4) for i in range(3))
        if all(c[i] >= 3 and c[i] + 4 <= arr.shape[i] for i in range(3)):
            arr[sl] |= ball
    for k in rng.choice(len(pts), 10, replace=False):  # 2x2x2 holes next to the axis
        c = np.round(vol.world_to_index(pts[k][None])[0][::-1]).astype(int) + 1
        arr[c[0]:c[0] + 2, c[1]:c[1] + 2, c[2]:c[2] + 2] = False
    pred = extract_centerline(vol.with_array(arr))
    r = compare_trees(pred, gt_tree, VOX)
    assert r["topology_match"], r["bifurcations_per_generation_pred"]
    assert len(pred) == len(gt_tree)


def test_root_hint_and_single_tube():
    tree = make_tree(generations=0, trachea_length=0.06, r0=0.005)
    vol = voxelize_tree(tree, spacing=VOX)
    pred = extract_centerline(vol)
    assert len(pred) == 1
    t = pred.trachea
    assert abs(t.radius_m - 0.005) < 0.05 * 0.005
    # the skeleton of a capsule ends within about one radius of its tips
    assert np.linalg.norm(t.start - tree.trachea.start) < 0.005 + 2 * VOX
    hinted = extract_centerline(vol, root_hint=tree.trachea.end)
    assert hinted.trachea.start[2] < hinted.trachea.end[2]  # rooted at the bottom now


def test_compare_trees_detects_differences(gt_tree):
    same = compare_trees(gt_tree, gt_tree, VOX)
    assert same["centerline_median_m"] == 0 and same["radius_rel_err_max"] == 0
    assert same["topology_match"] and same["branches_detected"] == 1.0
    pruned = make_tree(generations=2)
    r = compare_trees(pruned, gt_tree, VOX)
    assert not r["topology_match"]
    assert r["branches_detected"] == pytest.approx(7 / 15)


def test_bad_masks():
    empty = Volume(np.zeros((10, 10, 10), bool), spacing=[VOX] * 3)
    with pytest.raises(SegmentationError, match="empty"):
        extract_centerline(empty)
    dot = empty.array.copy()
    dot[5, 5, 5] = True
    with pytest.raises(SegmentationError):
        extract_centerline(empty.with_array(dot))
    with pytest.raises(ConfigError):
        CenterlineConfig(step_vox=0)


def test_fill_cavities_fills_only_enclosed_background():
    from room.anatomy.centerline import _fill_cavities

    a = np.zeros((12, 12, 12), bool)
    a[2:10, 2:10, 2:10] = True
    a[5:7, 5:7, 5:7] = False  # enclosed pocket
    a[2:10, 5, 0:4] = False  # a notch open to the outside stays
    out = _fill_cavities(a)
    assert out[5:7, 5:7, 5:7].all()
    assert not out[4, 5, 2] and not out[0, 0, 0]
    assert out.sum() == a.sum() + 8


def test_trachea_cut_short_by_the_field_of_view(gt_tree):
    """A CT crop that starts just above the carina (as the real carina crop does): the short
    trachea stub, open at the volume's top face, is the root and not pruned as a spur."""
    vol = voxelize_tree(gt_tree, spacing=VOX)
    carina_k = int(round(vol.world_to_index(gt_tree.trachea.end[None])[0][2]))
    top = carina_k + int(1.2 * gt_tree.trachea.radius_m / VOX)  # 1.2 radii of trachea left
    cut = Volume(vol.array[:top].copy(), spacing=vol.spacing, origin=vol.origin)
    pred = extract_centerline(cut)
    assert pred.branches_per_generation() == gt_tree.branches_per_generation()
    t = pred.trachea
    assert t.start[2] > gt_tree.trachea.end[2] + 0.25 * gt_tree.trachea.radius_m
    assert {pred[c].name for c in t.children} == {"left main bronchus", "right main bronchus"}
