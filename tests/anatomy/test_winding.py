"""docs/scenes.md: a saved scene's surfaces wind with normals into the lumen (negative trimesh
volume), and trimesh's invert() gives the outward surface with the face order kept."""

from __future__ import annotations

import numpy as np
import trimesh


def test_saved_mesh_winds_into_the_lumen(saved_yscene):
    folder = saved_yscene.path
    for name in ("mesh.ply", "collision.obj"):
        mesh = trimesh.load(folder / name, process=False)
        assert mesh.is_watertight and mesh.is_winding_consistent, name
        assert mesh.volume < 0, name
        outward = mesh.copy()
        outward.invert()
        assert outward.volume > 0
        np.testing.assert_allclose(outward.volume, -mesh.volume, rtol=1e-9)
        # the same triangles in the same order (face_id and face_branch still index them)
        assert np.array_equal(np.sort(outward.faces, axis=1), np.sort(mesh.faces, axis=1))
    # normals point into the lumen: from a wall face towards the centerline
    mesh = trimesh.load(folder / "mesh.ply", process=False)
    pts = saved_yscene.tree.all_points()[0]
    i = len(mesh.faces) // 2
    c = mesh.triangles_center[i]
    axis = pts[np.argmin(np.linalg.norm(pts - c, axis=1))]
    assert np.dot(mesh.face_normals[i], axis - c) > 0
