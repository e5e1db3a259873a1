"""3D scene view, frustum geometry, bifurcation camera, branch statistics, CT slices."""

from __future__ import annotations

import numpy as np
import pytest

from room.render.camera import bifurcation_view
from room.transforms import look_at
from room.types import Intrinsics
from room.viz.scene3d import (
    _frustum_lines,
    face_generations,
    robot_points,
    scene_figure,
    trimesh_scene,
)
from room.viz.tables import branch_statistics, format_rows, generation_summary
from room.viz.treeplot import figure_to_array


def test_frustum_corners_project_to_the_image_corners():
    K = Intrinsics(64, 48, 40.0, 42.0, 30.0, 25.0, near=0.001, far=0.2)
    T = look_at([0.01, -0.02, 0.03], [0.02, 0.0, 0.0])
    segs = _frustum_lines(T, K, depth_m=0.005)
    assert segs.shape == (8, 2, 3)
    np.testing.assert_allclose(segs[:4, 0], np.tile(T[:3, 3], (4, 1)))  # apex = optical centre
    corners = segs[:4, 1]
    cam = (corners - T[:3, 3]) @ T[:3, :3]  # world -> camera (R^T)
    np.testing.assert_allclose(cam[:, 2], 0.005, atol=1e-12)  # base at depth_m along +z
    uv = cam[:, :2] / cam[:, 2:] * [K.fx, K.fy] + [K.cx, K.cy]
    np.testing.assert_allclose(uv, [[0, 0], [63, 0], [63, 47], [0, 47]], atol=1e-9)


def test_bifurcation_view_looks_down_the_trachea_at_the_carina(yscene):
    tree = yscene.tree
    T = bifurcation_view(tree, back_radii=2.0)
    trachea = tree.trachea
    d = trachea.points[-1] - trachea.points[0]
    d /= np.linalg.norm(d)
    assert T[:3, 2] @ d > 0.999  # optical axis along the (straight) trachea
    np.testing.assert_allclose(T[:3, 3], trachea.points[-1] - 2.0 * trachea.radius_m * d,
                               atol=1e-9)
    assert np.allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-12)


def test_scene_figure_draws_mesh_tree_frustums_and_robot(yscene):
    poses = np.stack([look_at([0, 0, z], [0, 0, z + 0.01], up=[0, 1, 0])
                      for z in (0.01, 0.03, 0.05)])
    robot = np.column_stack([np.zeros(6), np.zeros(6), np.linspace(-0.02, 0.05, 6)])
    fig = scene_figure(yscene, poses=poses, robot=robot, max_faces=800, size_in=(3, 3), dpi=60)
    img = figure_to_array(fig)
    assert img.shape == (180, 180, 3)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "camera path" in labels and "robot" in labels and "gen 0" in labels
    # orange robot pixels and dark frustum lines are present
    orange = (img[..., 0] > 200) & (img[..., 1] > 100) & (img[..., 1] < 160) & (img[..., 2] < 60)
    assert orange.sum() > 20
    cut = figure_to_array(scene_figure(yscene, cutaway=True, alpha=1.0, max_faces=800,
                                       size_in=(3, 3), dpi=60))
    assert np.abs(cut.astype(int) - img.astype(int)).mean() > 1


def test_face_generations_follow_the_tree(yscene):
    tree = yscene.tree
    g = face_generations(tree, np.array([tree.trachea.points[len(tree.trachea.points) // 2],
                                         tree.branches[1].points[-1]]))
    assert g.tolist() == [0, tree.branches[1].generation]


def test_robot_points_from_state_like_objects():
    class State:
        link_poses = np.stack([np.eye(4)] * 3)
        T_world_tip = np.eye(4)

    State.link_poses[:, 2, 3] = [0.0, 0.01, 0.02]
    State.T_world_tip[2, 3] = 0.03
    np.testing.assert_allclose(robot_points(State())[:, 2], [0, 0.01, 0.02, 0.03])
    np.testing.assert_allclose(robot_points(State.link_poses)[:, 2], [0, 0.01, 0.02])


def test_trimesh_scene_has_every_part(yscene):
    s = trimesh_scene(yscene, poses=np.stack([np.eye(4)]), robot=np.zeros((3, 3)))
    names = set(s.geometry)
    assert {"airway", "frustums", "robot"} <= names
    assert sum(n.startswith("branch_") for n in names) == len(yscene.tree.branches)


def test_branch_statistics_on_the_y_scene(yscene):
    rows = branch_statistics(yscene.tree)
    assert len(rows) == len(yscene.tree.branches)
    root = next(r for r in rows if r["parent"] == -1)
    assert np.isnan(root["angle_deg"])
    assert root["length_mm"] == pytest.approx(1e3 * yscene.tree.trachea.length_m)
    kids = [r for r in rows if r["parent"] == root["id"]]
    assert all(0 < r["angle_deg"] < 90 for r in kids)
    summ = generation_summary(yscene.tree)
    assert [s["branches"] for s in summ] == [1, 2]
    text = format_rows(summ)
    assert text.splitlines()[0].split() == ["generation", "branches", "length_mm", "radius_mm",
                                            "angle_deg"]


def test_ct_slice_grid_overlays_the_mask():
    from room.anatomy.volume import Volume
    from room.viz.ctview import slice_grid

    a = np.full((20, 16, 12), -900.0, np.float32)
    m = np.zeros(a.shape, bool)
    m[5:15, 6:10, 4:8] = True
    ct = Volume(a, spacing=np.array([1e-3, 1e-3, 2e-3]))
    mask = ct.with_array(m)
    fig = slice_grid(ct, mask, "axial", n=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["axial 5/19", "axial 10/19", "axial 14/19"]  # the mask's extent
    img = figure_to_array(fig)
    red = (img[..., 0] > img[..., 1] + 40) & (img[..., 0] > img[..., 2] + 40)
    assert red.sum() > 50


def test_slice_browser_is_a_slider_with_ipywidgets_and_a_grid_without(monkeypatch):
    import builtins

    from matplotlib.figure import Figure

    from room.anatomy.volume import Volume
    from room.viz.ctview import slice_browser

    ct = Volume(np.full((6, 8, 8), -900.0, np.float32), spacing=np.array([1e-3] * 3))
    widgets = pytest.importorskip("ipywidgets")
    box = slice_browser(ct, None, "coronal")
    assert isinstance(box, widgets.VBox)
    slider = box.children[0]
    assert (slider.min, slider.max, slider.value) == (0, 7, 4)
    slider.value = 2  # redraws without error
    real_import = builtins.__import__

    def no_widgets(name, *a, **k):
        if name == "ipywidgets":
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_widgets)
    assert isinstance(slice_browser(ct, None, "coronal"), Figure)
