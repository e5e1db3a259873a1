"""Visual inspection: contact sheets, flow colour wheel, trajectory-on-tree plots, 3D scene views
and the view video of a dataset sequence.

Everything renders off-screen (matplotlib's Agg backend, OpenCV) into uint8 RGB arrays or image
files, so it runs on headless machines and inside tests. Import the submodules directly:

- :mod:`room.viz.panels`: one modality -> RGB panel (the data stage's colourizers), flow wheel.
- :mod:`room.viz.sheet`: :func:`~room.viz.sheet.contact_sheet` of a sequence.
- :mod:`room.viz.treeplot`: centerline tree coloured by generation, camera trajectory (2D).
- :mod:`room.viz.scene3d`: mesh + centerline + robot + camera frustums (3D), to PNG or to an
  interactive ``trimesh.Scene``.
- :mod:`room.viz.video`: ``view.mp4`` of a sequence (modalities + trajectory marker).
"""
