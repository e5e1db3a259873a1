"""Simulation speed: physics steps per second with the scope in contact inside the airway.

Scene: the built-in phantom (room.anatomy.load_scene) when available, else the
Y-bifurcation. Two scenarios side by side, each timed over the same number of control steps:

- follow: the centerline follower drives towards a deep branch (typical use);
- rub:    the scope slides in and out of the trachea with its tip bent 60 degrees against
          the wall (contact nearly every step).

For each: wall-clock and CPU time per physics step, physics steps per second, real-time factor
(simulated seconds per wall second; target >= 5 with rendering off) and, when the renderer is
available, the same with a 64 x 64 and 256 x 256 RGB-D render every control step. Ratios are
printed against the 'rub' physics-only baseline.

    python benchmarks/bench_sim.py [--steps 300] [--scene auto|phantom|y|FOLDER]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def load_scene(which: str):
    """(name, scene): 'auto' / 'phantom' (the built-in phantom), 'y', or a scene folder."""
    from room.anatomy import load_scene as load

    spec = "phantom" if which == "auto" else which
    return {"phantom": "phantom", "y": "y_scene"}.get(spec, spec), load(spec, on_disk=True)


def deepest_leaf(tree) -> int:
    return max(tree.leaves(), key=lambda b: (b.generation, -b.id)).id


def make_renderer(scene, size: int):
    try:
        from room.render import CameraConfig, RenderConfig, make_renderer
    except ImportError:
        return None
    import dataclasses

    cam = CameraConfig()
    fields = {f.name for f in dataclasses.fields(cam)}
    kw = {k: size for k in ("width", "height") if k in fields}
    kw["distortion_model"] = "none"
    return make_renderer(scene, dataclasses.replace(cam, **kw), RenderConfig())


def run(scene, scenario: str, steps: int, renderer=None) -> dict:
    from room.robot.controllers import CenterlineFollower
    from room.sim import JointCommand, SimConfig, Simulator

    sim = Simulator(scene, sim=SimConfig())
    ctl = CenterlineFollower(scene.tree, deepest_leaf(scene.tree), sim.robot_cfg, dt=sim.dt)
    n_contact, s = 0, sim.state
    w0, c0 = time.perf_counter(), time.process_time()
    for k in range(steps):
        if scenario == "follow":
            cmd = ctl.command(s)
        else:  # slide in and out of the trachea with the tip bent 60 degrees into the wall
            t = k * sim.dt
            cmd = JointCommand([1.05, 0.0, 0.035 - 0.015 * np.cos(2 * np.pi * t / 4.0)])
        s = sim.step(cmd)
        n_contact += int(len(s.contacts.link) > 0)
        if renderer is not None:
            renderer.render(s.T_world_cam, index=k, time_s=s.time_s)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    n_phys = steps * sim.cfg.control_steps
    sim.close()
    return {"wall": wall, "cpu": cpu, "phys": n_phys, "sim_s": steps * sim.dt,
            "contact_frac": n_contact / steps}


def run_env(scene_name: str, mode: str, steps: int, mesh: str = "auto") -> dict:
    """The env (``room.env``, default 64 x 64 camera) stepped with random bend/roll rates and
    steady insertion; ``steps`` env steps of 2 control steps each."""
    from room.env import BronchoscopyNavEnv, EnvConfig

    scene = "phantom" if scene_name == "phantom" else ("y" if scene_name == "y_scene"
                                                       else scene_name)
    env = BronchoscopyNavEnv(scene=scene, task=EnvConfig(observation=mode,
                                                         observation_mesh=mesh))
    env.reset(seed=0)
    acts = np.random.default_rng(0).uniform(-1, 1, (steps, 3)).astype(np.float32)
    acts[:, 2] = 0.6
    n_contact = 0
    w0, c0 = time.perf_counter(), time.process_time()
    for k, a in enumerate(acts):
        _, _, te, tr, _ = env.step(a)
        n_contact += int(len(env.sim.state.contacts.link) > 0)
        if te or tr:
            env.reset(seed=k)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    cs = env.task.control_steps_per_action
    n_phys = steps * cs * env.sim.cfg.control_steps
    sim_s = steps * cs * env.sim.dt
    env.close()
    return {"wall": wall, "cpu": cpu, "phys": n_phys, "sim_s": sim_s,
            "contact_frac": n_contact / steps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--scene", default="auto",
                    help="auto (phantom if available, else y), phantom, y, or a scene folder")
    args = ap.parse_args()
    name, scene = load_scene(args.scene)
    print(f"scene {name}: {len(scene.collision_mesh.faces)} collision triangles; "
          f"{args.steps} control steps per row")
    rows = []
    for scenario in ("rub", "follow"):
        rows.append((f"{scenario} physics only", run(scene, scenario, args.steps)))
    for size in (64, 256):
        try:
            r = make_renderer(scene, size)
        except Exception as e:  # no GL platform: report and go on
            print(f"renderer {size}x{size} unavailable: {e}")
            r = None
        if r is None:
            continue
        with r:
            rows.append((f"rub + render {size}x{size}", run(scene, "rub", args.steps, r)))
    # the Gymnasium env (issue 15: 64 x 64 RGB-D >= 3x real time); "visual mesh" renders the
    # observations from the 165k-triangle visual mesh, as the env did before
    for mode, mesh in (("rgbd", "visual"), ("rgbd", "auto"), ("none", "auto")):
        label = f"env {mode} 64x64" + (" visual mesh" if mesh == "visual" else "")
        try:
            rows.append((label, run_env(name, mode, args.steps // 2, mesh)))
        except Exception as e:  # no GL platform: report and go on
            print(f"env {mode} unavailable: {e}")
    base = rows[0][1]["wall"]
    print(f"{'row':<28}{'ms/phys (wall)':>15}{'ms/phys (cpu)':>15}{'phys steps/s':>14}"
          f"{'RTF wall':>10}{'RTF cpu':>9}{'contact':>9}{'x base':>8}")
    for label, m in rows:
        print(f"{label:<28}{1e3 * m['wall'] / m['phys']:>15.3f}{1e3 * m['cpu'] / m['phys']:>15.3f}"
              f"{m['phys'] / m['wall']:>14.0f}{m['sim_s'] / m['wall']:>10.2f}"
              f"{m['sim_s'] / m['cpu']:>9.2f}{m['contact_frac']:>9.0%}{m['wall'] / base:>8.2f}")
    print("RTF = simulated seconds per second (target >= 5 with rendering off); contact = "
          "share of control steps with robot-wall contact; x base = wall time / first row")


if __name__ == "__main__":
    main()
