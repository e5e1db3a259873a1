"""The navigation benchmark: navigators x targets x seeds on one scene, ``results.json``, a
table and ``results.png`` (every trial at its target's turn, :mod:`room.viz.navplot`)
(``room-navigate``).

A trial: :class:`room.env.BronchoscopyNavEnv` reset with the trial's seed (start insertion and
roll) and target branch, the navigator stepping it until the task ends
(:mod:`room.env.task`: success in the target's last third for the dwell time; failure on the
force limit, no progress, or timeout). ``results.json``::

    {"format": "room.navigate/1", "scene": ..., "config": {...},
     "navigators": {NAME: {"per_generation": {"G": {"trials": n, "successes": k,
                                                     "success_rate": k / n}},
                           "per_difficulty": {"normal" | "hard": {same}},
                           "trials": [{"navigator", "target", "generation", "seed", "success",
                                       "outcome", "time_s", "path_length_m", "mean_force_N",
                                       "peak_force_N", "wall_contacts", "turn_deg",
                                       "difficulty", ...}]}}}

A target is "hard" when its path turns more than ``task.hard_turn_deg`` (90 degrees) within one
bending-section length (:func:`room.env.task.path_turn`): the tip then gets round only with
the wall's help (:mod:`room.env.task`). ``difficulty=normal`` or ``hard`` runs only those.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from room.anatomy.prepare import SceneConfig
from room.env.task import TaskConfig, difficulty, reachable_branches, target_turns
from room.errors import ConfigError
from room.render.config import RenderConfig
from room.robot.config import RobotConfig

NAVIGATORS = ("follower", "mpc_gt", "mpc_pred", "random")
DIFFICULTIES = ("all", "normal", "hard")
FORMAT = "room.navigate/1"


def navigation_scope() -> RobotConfig:
    """The benchmark's scope: the default 4.2 mm scope with two orthogonal tendon planes
    (``bending_planes=2``, 4-way steering as on robotic bronchoscopes) instead of one plane
    turned by rolling the whole scope (conf/robot/navigation.yaml); the bending section bends
    on hinges alternately about x and y (room.robot.model). The single-plane scope
    jams where a branch turns 40-53 degrees within one bending length of the previous turn in
    a plane turned about 90 degrees: it has to roll a bent tip inside a narrow branch.
    The passive shaft is modelled with 32 links of 10 mm instead of the default 16 of 20 mm
    (``shaft_links=32``): a real shaft is continuous, and a rigid 20 mm link across a turn of
    the path bows ``L theta / 8`` off it (1.4 mm at the 31-degree entry of a phantom
    generation-4 branch, in a 3 mm generation-3 lumen) where a continuous shaft does not;
    with 20 mm links the shaft's end wedged in the generation-3 parent lumen. The feeder holds
    the shaft straight behind the airway entry up to 0.02 N m (``feeder_torque_limit_Nm``, the
    bending joints' limit), as a robot's feeder does outside the patient."""
    return RobotConfig(bending_planes=2, shaft_links=32, feeder_torque_limit_Nm=0.02)


@dataclass(frozen=True)
class NavigateConfig:
    """``room-navigate``'s settings. ``navigators``: any of follower, mpc_gt, mpc_pred, random;
    ``generations``: target generations (every reachable branch of each, or ``max_targets`` of
    them drawn with ``seed``); ``seeds``: trials per target (start insertion and roll vary);
    ``checkpoint``: a room-finetune-depth checkpoint (.pt) for mpc_pred (local path)."""

    # the scene: a SceneConfig (CLI: scene=phantom | carina_crop | ..., the conf/scene presets);
    # from Python also anything room.anatomy.load_scene takes ("y", a folder, ...)
    scene: SceneConfig = field(default_factory=SceneConfig)
    scene_dir: str | None = None
    # the scope (CLI: robot=navigation, the conf/robot presets): the navigation scope bends in
    # two tendon planes (4-way steering, as robotic bronchoscopes), see navigation_scope()
    robot: RobotConfig = field(default_factory=lambda: navigation_scope())
    # the env's rendered look (CLI: render=default | textured, the conf/render presets): what
    # mpc_pred's depth model sees; use the look its checkpoint was trained on
    render: RenderConfig = field(default_factory=RenderConfig)
    out: str = "navigate_out"
    navigators: tuple[str, ...] = ("follower", "mpc_gt")
    generations: tuple[int, ...] = (1, 2, 3)
    targets: tuple[int, ...] = ()  # explicit branch ids (override generations)
    max_targets: int = 0  # per generation; 0 = all reachable
    # all | normal | hard: only targets of that difficulty (task.hard_turn_deg, room.env.task)
    difficulty: str = "all"
    seeds: int = 1
    seed: int = 0
    image_size: int = 64
    checkpoint: str | None = None
    start_insertion_m: float = 0.01
    start_roll_rad: float = 0.5
    task: TaskConfig = field(default_factory=TaskConfig)
    trace: bool = False  # keep each trial's tip path and force in results.json
    jobs: int = 1  # trials run in this many processes (joblib)

    def __post_init__(self) -> None:
        bad = [n for n in self.navigators if n not in NAVIGATORS]
        if bad or not self.navigators:
            raise ConfigError(f"navigators {list(self.navigators)}: choose from {NAVIGATORS}")
        if "mpc_pred" in self.navigators and not self.checkpoint:
            raise ConfigError("navigator mpc_pred needs checkpoint=PATH (a .pt written by "
                              "room-finetune-depth)")
        if self.difficulty not in DIFFICULTIES:
            raise ConfigError(f"difficulty={self.difficulty!r}: choose from {DIFFICULTIES}")
        if self.seeds < 1 or self.seed < 0 or self.max_targets < 0 or self.jobs < 1:
            raise ConfigError("seeds >= 1, seed >= 0, max_targets >= 0, jobs >= 1")


def make_navigator(name: str, cfg: NavigateConfig):
    from room.nav.navigators import FollowerNavigator, MPCNavigator, RandomNavigator

    if name == "follower":
        return FollowerNavigator()
    if name == "random":
        return RandomNavigator()
    if name == "mpc_gt":
        return MPCNavigator(depth="gt")
    if name == "mpc_pred":
        from room.nav.depth import DepthPredictor

        return MPCNavigator(depth=DepthPredictor(cfg.checkpoint), name="mpc_pred")
    raise ConfigError(f"unknown navigator {name!r}; use one of {NAVIGATORS}")


def make_env(cfg: NavigateConfig, observation: str):
    from room.env import BronchoscopyNavEnv, EnvConfig
    from room.render import CameraConfig

    n = cfg.image_size
    task = EnvConfig(observation=observation, image_size=n, max_steps=10 ** 9,
                     include_pose=False, start_insertion_m=cfg.start_insertion_m,
                     start_roll_rad=cfg.start_roll_rad, task=cfg.task)
    cam = CameraConfig(width=n, height=n, distortion_model="none")
    return BronchoscopyNavEnv(scene=cfg.scene, robot=cfg.robot, camera=cam, task=task,
                              render_config=cfg.render, scene_dir=cfg.scene_dir)


def run_trial(env: Any, navigator: Any, target: int, seed: int, trace: bool = False
              ) -> dict[str, Any]:
    """One trial; returns its metrics (and ``trace`` rows t, x, y, z, force when asked)."""
    obs, _ = env.reset(seed=int(seed), options={"target_branch": int(target)})
    navigator.reset(env, int(seed))
    w0 = time.perf_counter()
    while True:
        obs, _, term, trunc, info = env.step(navigator.act(obs, env))
        if term or trunc:
            break
    m = env.nav.metrics()
    m.update(navigator=navigator.name, seed=int(seed),
             wall_s=round(time.perf_counter() - w0, 3))
    if "sim_error" in info:
        m["sim_error"] = info["sim_error"]
    if trace:
        m["trace"] = np.round(np.asarray(env.nav.trace), 6).tolist()
    return m


def plan_trials(cfg: NavigateConfig, tree: Any, scope_radius_m: float,
                mesh: Any = None) -> list[tuple]:
    """(navigator, target, seed) for every trial, in a fixed order; the targets: every branch
    the scope can reach (``room.env.task.reachable_branches``, on the scene's collision
    ``mesh`` when given) of each generation and of ``cfg.difficulty``, unless ``cfg.targets``
    names them."""
    if cfg.targets:
        targets = [int(t) for t in cfg.targets]
    else:
        rc = cfg.robot
        ok = reachable_branches(tree, scope_radius_m, mesh=mesh,
                                link_length_m=rc.bending_length_m / rc.bending_links,
                                success_fraction=cfg.task.success_fraction)
        if cfg.difficulty != "all":
            turns = target_turns(tree, ok, rc.bending_length_m,
                                 rc.bending_length_m / rc.bending_links,
                                 cfg.task.success_fraction)
            ok = [b for b in ok if difficulty(turns[b], cfg.task.hard_turn_deg) ==
                  cfg.difficulty]
        rng = np.random.default_rng(cfg.seed)
        targets = []
        for g in cfg.generations:
            ids = [b for b in ok if tree[b].generation == int(g)]
            if cfg.max_targets and len(ids) > cfg.max_targets:
                ids = sorted(rng.choice(ids, cfg.max_targets, replace=False).tolist())
            targets += ids
    return [(n, t, cfg.seed + k) for n in cfg.navigators for t in targets
            for k in range(cfg.seeds)]


def _run_group(cfg: NavigateConfig, name: str, trials: list[tuple]) -> list[dict]:
    """Trials of one navigator in this process (one env, one renderer)."""
    nav = make_navigator(name, cfg)
    env = make_env(cfg, nav.observation)
    try:
        return [run_trial(env, nav, t, s, cfg.trace) for _, t, s in trials]
    finally:
        env.close()


def summarize(trials: list[dict]) -> dict[str, Any]:
    """Per navigator: trials and successes per generation and per difficulty, the trials."""
    out: dict[str, Any] = {}
    for m in trials:
        nav = out.setdefault(m["navigator"], {"per_generation": {}, "per_difficulty": {},
                                              "trials": []})
        for key, group in ((str(m["generation"]), "per_generation"),
                           (m["difficulty"], "per_difficulty")):
            g = nav[group].setdefault(key, {"trials": 0, "successes": 0})
            g["trials"] += 1
            g["successes"] += int(m["success"])
        nav["trials"].append(m)
    for nav in out.values():
        for g in (*nav["per_generation"].values(), *nav["per_difficulty"].values()):
            g["success_rate"] = round(g["successes"] / g["trials"], 4)
        ok = [m for m in nav["trials"] if m["success"]]
        nav["mean_time_s_success"] = round(float(np.mean([m["time_s"] for m in ok])), 3) \
            if ok else None
    return out


def run_suite(cfg: NavigateConfig) -> dict[str, Any]:
    """Run every trial, write ``cfg.out/results.json`` and return the results."""
    from room.anatomy.load import load_scene

    scene = load_scene(Path(cfg.scene_dir) if cfg.scene_dir else cfg.scene, on_disk=True)
    plan = plan_trials(cfg, scene.tree, cfg.robot.radius_m, scene.collision_mesh)
    if not plan:
        raise ConfigError(f"no targets: no reachable branch of generations "
                          f"{list(cfg.generations)} (difficulty {cfg.difficulty}) in this scene")
    groups: list[tuple[str, list]] = []
    chunks = max(1, cfg.jobs)
    for name in cfg.navigators:
        mine = [p for p in plan if p[0] == name]
        for k in range(min(chunks, len(mine))):
            groups.append((name, mine[k::chunks]))
    w0 = time.perf_counter()
    if cfg.jobs > 1:
        from joblib import Parallel, delayed

        parts = Parallel(n_jobs=cfg.jobs)(delayed(_run_group)(cfg, n, g) for n, g in groups)
    else:
        parts = [_run_group(cfg, n, g) for n, g in groups]
    order = {p: i for i, p in enumerate(plan)}
    trials = sorted((m for part in parts for m in part),
                    key=lambda m: order[(m["navigator"], m["target"], m["seed"])])
    conf = _jsonable(asdict(cfg) if dataclasses.is_dataclass(cfg.scene) else
                     {**{k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
                      "scene": str(cfg.scene), "task": asdict(cfg.task),
                      "robot": asdict(cfg.robot), "render": asdict(cfg.render)})
    results = {"format": FORMAT, "scene": str(scene.path or cfg.scene), "config": conf,
               "wall_s": round(time.perf_counter() - w0, 2), "navigators": summarize(trials)}
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    from room.fileio import write_atomic

    write_atomic(out / "results.json", json.dumps(results, indent=1))
    write_atomic(out / "results.png", _figure_png(results))
    return results


def _figure_png(results: dict[str, Any]) -> bytes:
    """``room.viz.navplot.results_figure`` as PNG bytes (every trial at its target's turn)."""
    import io

    from room.viz.navplot import results_figure

    buf = io.BytesIO()
    results_figure(results).savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x


def _cell(g: dict | None) -> str:
    if g is None:
        return f"{'-':>13}"
    return f"{g['successes']:>5}/{g['trials']:<3}{100 * g['success_rate']:>3.0f}%"


def table(results: dict[str, Any]) -> str:
    """Success per navigator, per generation and per difficulty (normal | hard), with mean
    metrics over all trials."""
    navs = results["navigators"]
    gens = sorted({int(g) for n in navs.values() for g in n["per_generation"]})
    head = f"{'navigator':<12}" + "".join(f"{'gen ' + str(g):>13}" for g in gens) + \
        f"{'normal':>13}{'hard':>13}{'all':>6}{'time s':>8}{'path m':>8}{'mean N':>8}" \
        f"{'peak N':>8}{'contacts':>9}"
    rows = [head]
    for name, n in navs.items():
        pd = n.get("per_difficulty", {})
        cells = "".join(_cell(n["per_generation"].get(str(g))) for g in gens) + \
            _cell(pd.get("normal")) + _cell(pd.get("hard"))
        tr = n["trials"]
        k = sum(m["success"] for m in tr)
        mean = {key: float(np.mean([m[key] for m in tr])) for key in (
            "time_s", "path_length_m", "mean_force_N", "peak_force_N", "wall_contacts")}.get
        rows.append(f"{name:<12}{cells}{100 * k / len(tr):>5.0f}%{mean('time_s'):>8.1f}"
                    f"{mean('path_length_m'):>8.3f}{mean('mean_force_N'):>8.3f}"
                    f"{mean('peak_force_N'):>8.3f}{mean('wall_contacts'):>9.1f}")
    return "\n".join(rows)
