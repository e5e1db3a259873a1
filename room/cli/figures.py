"""Regenerate the README figures (``python -m room.cli.figures [--out docs/images]``).

Everything goes through the public API and Hydra's Compose API, as a user would: the phantom
scene (cached), a short dataset from the trachea into a main bronchus (``conf/generate.yaml``),
then the viewers. Writes:

- ``contact_sheet.png``: frames x modalities with the trajectory on the centerline tree;
- ``render_strip.png``: every modality of the frame that looks at the carina;
- ``scene_3d.png``: translucent airway, centerline by generation, camera path with frustums and
  the robot driven by the centerline follower.

Deterministic (fixed seeds); takes a few minutes on a 2-core CPU, mostly scene preparation and
rendering.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from room.paths import REPO_ROOT

OVERRIDES = [
    "scene=phantom_gt", "scene.phantom.generations=4", "seed=0",
    "++camera.width=192", "++camera.height=192",
    "trajectory.max_generation=1", "trajectory.n_sequences=1", "trajectory.start_m=0.075",
    "trajectory.spacing_m=0.003", "trajectory.max_frames=40",
    "output.modalities=[rgb,rgb_clean,depth,normals,segmentation,flow_fwd,flow_fwd_valid]",
    "output.preview_size=0", "output.progress=false",
]


def carina_frame(reader, tree) -> int:
    """The frame whose camera is closest to 1.5 trachea radii above the carina."""
    t = tree.branches[tree.root]
    goal = t.points[-1] - 1.5 * t.radius_m * _unit(t.points[-1] - t.points[-4])
    return int(np.argmin(np.linalg.norm(reader.poses[:, :3, 3] - goal, axis=1)))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def robot_state(scene, target: int, robot=None, sim_cfg=None, max_steps: int = 600):
    """Drive the robot with the CenterlineFollower towards ``target``; the final SimState."""
    from room.robot.controllers import CenterlineFollower
    from room.sim import Simulator

    with Simulator(scene, robot, sim_cfg) as sim:
        ctl = CenterlineFollower(scene.tree, target, sim.robot_cfg, dt=sim.dt)
        s = sim.state
        for _ in range(max_steps):
            s = sim.step(ctl.command(s))
            if ctl.done:
                break
    return s


def make_figures(out_dir: Path, work: Path, overrides: list[str] = OVERRIDES) -> list[Path]:
    from room.anatomy import load_scene
    from room.compose import compose_generate
    from room.data.generate import generate_dataset
    from room.data.reader import SequenceReader
    from room.viz.scene3d import scene_figure
    from room.viz.sheet import contact_sheet, save_figure, strip_figure

    out_dir.mkdir(parents=True, exist_ok=True)
    job = compose_generate([*overrides, f"out={work / 'dataset'}"])
    scene = load_scene(job.scene)
    summary = generate_dataset(job, scene=scene)
    reader = SequenceReader(summary["folders"][0])
    target = int(reader.info["trajectory"]["target_branch"])
    files = []
    fig = contact_sheet(reader, n_frames=4, panel_in=1.3, dpi=80, tree=scene.tree,
                        title=f"room-view: phantom airway, trachea -> "
                              f"{scene.tree.branches[target].name}")
    files.append(save_figure(fig, out_dir / "contact_sheet.png"))
    i = carina_frame(reader, scene.tree)
    data = reader.read(i, ["rgb", "rgb_clean", "depth", "normals", "segmentation", "flow_fwd",
                           "flow_fwd_valid"])
    fig = strip_figure(data, ("rgb", "rgb_clean", "depth", "normals", "flow_fwd",
                              "segmentation"), panel_in=1.9, dpi=100)
    files.append(save_figure(fig, out_dir / "render_strip.png"))
    state = robot_state(scene, target, job.robot, job.sim)
    carina = scene.tree.branches[scene.tree.root].points[-1]
    fig = scene_figure(scene, poses=reader.poses, robot=state, intrinsics=reader.intrinsics,
                       frustum_every=6, frustum_depth_m=0.005, max_faces=6000, alpha=0.3,
                       elev=8, azim=-70, size_in=(5.5, 5.5), dpi=90,
                       zoom=(carina[0], carina[1], carina[2] + 0.005, 0.05))
    files.append(save_figure(fig, out_dir / "scene_3d.png"))
    return files


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "images")
    p.add_argument("--work", type=Path, default=None,
                   help="keep the generated dataset here (default: a temporary folder)")
    a = p.parse_args(argv)
    if a.work is not None:
        files = make_figures(a.out, a.work)
    else:
        with tempfile.TemporaryDirectory(prefix="room-figures-") as tmp:
            files = make_figures(a.out, Path(tmp))
    for f in files:
        print(f"{f}  {f.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
