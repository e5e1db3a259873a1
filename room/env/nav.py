"""Gymnasium environment ``room/BronchoscopyNav-v0``: steer the scope to a target branch.

Registered when ``room.env`` is imported (``import room.env``; or
``gymnasium.make("room.env:room/BronchoscopyNav-v0")``, which imports it). The env lives above
the render stage (it observes rendered tip images), in its own stage between sensor and data.

``scene``: anything :func:`room.anatomy.load_scene` accepts (default ``"y"``).

- Action: ``Box(-1, 1, (n_q,), float32)``, joint RATES in the joint order (bending q1[, q1b],
  roll q2, insertion q3), scaled by the robot's speed limits (``RobotConfig.*_speed_max``).
- Observation (``Dict``), by ``EnvConfig.observation``: ``rgbd`` (default), ``rgb``, ``depth``
  or ``none`` selects the images: ``rgb`` uint8 (H, W, 3) and/or ``depth`` float32 (H, W) metres
  (0 = no hit) from the tip camera (room.render; low resolution: ``image_size``); always
  ``joints`` float32 ``(q, qdot)`` (2 n_q,) and ``goal`` float32 (6,): the unit direction
  (camera frame: x right, y down, z forward) to the next waypoint of the planned path (the
  centerline point ``task.lookahead_m`` past the tip's projection on it), its distance (m), the
  path length left to the target branch's end (m) and the target's generation
  (:mod:`room.env.task`); ``tip_pose`` float32 (7,) = position (m, world) + quaternion
  (x, y, z, w) when ``include_pose``.
- Reward per step: ``progress_reward_per_m`` x (advance of the tip along the centerline path to
  the target, metres) - ``force_penalty_per_N`` x (largest wall force during the step, N);
  ``+success_reward`` on success, ``-failure_penalty`` on failure.
- Termination (:class:`room.env.task.NavTask`): success when the tip stays inside the target
  branch's last third for ``task.dwell_s``; failure on wall force above ``task.force_limit_N``,
  on no progress for ``task.no_progress_s``, or on an unstable simulation
  (``info["sim_error"]``); ``info["outcome"]`` names it. Truncation after ``max_steps`` (or the
  task's timeout). ``step()`` after the end raises: call ``reset()``.
- Reset: the seed draws the target (``target_branch`` None: a reachable branch of
  ``target_generation``, or the deepest reachable ones), and the start: insertion in
  ``[0, start_insertion_m]`` and roll in ``[-start_roll_rad, start_roll_rad]``, driven there
  before the first observation. ``info["difficulty"]``: the target's difficulty, "normal" or
  "hard" (its path turns more than ``task.hard_turn_deg`` within one bending length;
  :func:`room.env.task.path_turn`).

Images at ``image_size`` <= 128 px are rendered from the scene's collision mesh (the physics
mesh, 25-30k triangles) unless ``observation_mesh="visual"``: at that size the visual mesh's
detail is sub-pixel and costs 3-4x the render time.

Determinism: ``reset(seed=s)`` reloads the physics, and target and start are drawn from the
seeded ``np_random``; same seed and actions give identical observations.
"""

from __future__ import annotations

import atexit
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from _room_gymnasium import register_all
from room.anatomy.load import load_scene
from room.env.task import NavTask, TaskConfig, target_candidates
from room.errors import ConfigError, SimulationError
from room.render import CameraConfig, RenderConfig, make_renderer
from room.robot.config import RobotConfig
from room.robot.interface import JointCommand
from room.sim.config import SimConfig
from room.sim.simulator import Simulator

ENV_ID = "room/BronchoscopyNav-v0"  # one of _room_gymnasium.ENVS
OBS_BOUND = 100.0
OBSERVATIONS = ("rgbd", "rgb", "depth", "none")


@dataclass(frozen=True)
class EnvConfig:
    """Task settings (SI units)."""

    target_branch: int | None = None  # None: drawn from the reset seed (target_generation)
    target_generation: int | None = None  # None: the deepest branches the scope fits
    observation: str = "rgbd"  # rgbd | rgb | depth | none
    observation_mesh: str = "auto"  # auto (collision mesh up to 128 px) | visual | collision
    image_size: int = 64  # square tip image, pixels
    start_insertion_m: float = 0.01  # reset: insertion drawn in [0, this]
    start_roll_rad: float = 0.5  # reset: roll drawn in [-this, this]
    control_steps_per_action: int = 2  # 60 Hz control / 2 = 30 Hz actions
    max_steps: int = 600
    progress_reward_per_m: float = 100.0  # +1 per centimetre of progress
    force_penalty_per_N: float = 0.5
    success_reward: float = 10.0
    failure_penalty: float = 10.0
    include_pose: bool = True
    task: TaskConfig = field(default_factory=TaskConfig)

    def __post_init__(self) -> None:
        if self.image_size < 8 or self.control_steps_per_action < 1 or self.max_steps < 1:
            raise ConfigError("EnvConfig: image_size >= 8, control_steps_per_action >= 1 and "
                              "max_steps >= 1 are required")
        if self.observation not in OBSERVATIONS:
            raise ConfigError(f"EnvConfig.observation={self.observation!r}: use one of "
                              f"{OBSERVATIONS}")
        if self.observation_mesh not in ("auto", "visual", "collision"):
            raise ConfigError(f"EnvConfig.observation_mesh={self.observation_mesh!r}: use "
                              "auto, visual or collision")
        for k in ("progress_reward_per_m", "force_penalty_per_N",
                  "success_reward", "failure_penalty", "start_insertion_m", "start_roll_rad"):
            v = getattr(self, k)
            if not (np.isfinite(v) and v >= 0):
                raise ConfigError(f"EnvConfig.{k} must be finite and >= 0, got {v!r}")


def _quat_xyzw(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (x, y, z, w, w >= 0) of a rotation matrix (Shepperd's method; the
    scipy Rotation round trip costs more than the rest of an observation's assembly)."""
    t = R[0, 0] + R[1, 1] + R[2, 2]
    if t > 0:
        s = 2.0 * math.sqrt(1.0 + t)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, s / 4]
    else:
        i = int(np.argmax(np.diag(R)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(max(1.0 + R[i, i] - R[j, j] - R[k, k], 1e-12))
        q = [0.0, 0.0, 0.0, (R[k, j] - R[j, k]) / s]
        q[i], q[j], q[k] = s / 4, (R[j, i] + R[i, j]) / s, (R[k, i] + R[i, k]) / s
    q = np.asarray(q)
    return q / np.linalg.norm(q) * (1.0 if q[3] >= 0 else -1.0)


# ------------------------------------------------------------ per-process renderer cache
_RENDERERS: dict[tuple, Any] = {}


def observation_scene(scene):
    """``scene`` with its collision mesh as the render mesh (each face labelled with the branch
    of the nearest visual-mesh face): the fast mesh for low-resolution observations."""
    from scipy.spatial import cKDTree

    cm = scene.collision_mesh
    _, idx = cKDTree(scene.mesh.triangles_center).query(cm.triangles_center)
    return dataclasses.replace(scene, mesh=cm, face_branch=scene.face_branch[idx])


def _get_renderer(scene, camera, render, mesh: str = "visual", motion: Any = None):
    """One renderer (GL context) per (scene, camera, look) per process, shared by every env
    and kept until exit: creating one costs seconds, rendering is stateless per call (so
    sharing keeps vectorised envs deterministic), and closing one EGL context must not take
    the others' display down."""
    key = (str(scene.path), id(scene) if scene.path is None else 0, repr(camera),
           repr(render), mesh, None if motion is None else repr(motion.to_dict()))
    if key not in _RENDERERS:
        _RENDERERS[key] = make_renderer(
            observation_scene(scene) if mesh == "collision" else scene, camera, render,
            motion=motion)
    return _RENDERERS[key]


@atexit.register
def close_renderers() -> None:
    """Close the cached renderers (at exit; call it yourself to free GL memory earlier)."""
    while _RENDERERS:
        _, r = _RENDERERS.popitem()
        try:
            r.close()
        except Exception:  # noqa: BLE001 - best effort at shutdown
            pass


class BronchoscopyNavEnv(gym.Env):
    """See the module docstring."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, scene: Any = "y", robot: RobotConfig | None = None,
                 sim: SimConfig | None = None, task: EnvConfig | None = None,
                 camera: Any = None, render_config: Any = None,
                 render_mode: str | None = None, scene_dir: str | None = None,
                 motion: Any = None) -> None:
        """``scene``: anything :func:`room.anatomy.load_scene` takes; ``scene_dir``: a folder
        written by room-prepare (as ``room-generate scene_dir=DIR``; overrides ``scene``);
        ``motion``: a :class:`room.anatomy.motion.MotionConfig` (breathing airways: the
        robot is simulated in the reference anatomy and the camera carried by the tissue at
        the simulation time, docs/motion.md), None or static for a rigid airway."""
        self.task = task or EnvConfig()
        self._needs_reset = True
        self.sim = None
        if scene_dir is not None:
            if not (Path(scene_dir) / "scene.json").is_file():
                raise ConfigError(f"scene_dir={scene_dir} is not a scene folder (no scene.json):"
                                  " give a folder written by room-prepare out=DIR")
            scene = Path(scene_dir)
        if render_mode not in (None, "rgb_array"):
            raise ConfigError(f"render_mode {render_mode!r}: use None or 'rgb_array'")
        self.render_mode = render_mode
        self.scene = load_scene(scene, on_disk=True)
        self.sim = Simulator(self.scene, robot, sim)
        from room.anatomy.motion import make_motion

        self.motion = make_motion(motion, self.scene, 0)
        rc = self.sim.robot_cfg
        n = self.task.image_size
        self.camera = camera or CameraConfig(width=n, height=n)
        h, w = self.camera.height, self.camera.width
        mode = self.task.observation
        self._want_rgb = mode in ("rgbd", "rgb")
        self._want_depth = mode in ("rgbd", "depth")
        mesh = self.task.observation_mesh
        if mesh == "auto":
            mesh = "collision" if max(h, w) <= 128 else "visual"
        self._render_args = (self.camera, render_config or RenderConfig(), mesh, self.motion)
        self._renderer = None  # made on first use (mode "none" never needs one)
        self._vmax = np.array(rc.qdot_max)
        self.action_space = spaces.Box(-1.0, 1.0, (rc.n_q,), np.float32)
        obs: dict[str, spaces.Space] = {}
        if self._want_rgb:
            obs["rgb"] = spaces.Box(0, 255, (h, w, 3), np.uint8)
        if self._want_depth:
            obs["depth"] = spaces.Box(0.0, float(self.camera.far), (h, w), np.float32)
        # joint values and rates (rad, m, rad/s, m/s) are far inside +-OBS_BOUND
        obs["joints"] = spaces.Box(-OBS_BOUND, OBS_BOUND, (2 * rc.n_q,), np.float32)
        # direction (unit), waypoint distance and path left (m), target generation
        obs["goal"] = spaces.Box(-OBS_BOUND, OBS_BOUND, (6,), np.float32)
        if self.task.include_pose:  # metres in the CT frame, unit quaternion
            obs["tip_pose"] = spaces.Box(-OBS_BOUND, OBS_BOUND, (7,), np.float32)
        self.observation_space = spaces.Dict(obs)
        tree = self.scene.tree
        if self.task.target_branch is not None and self.task.target_branch not in tree.branches:
            raise ConfigError(f"target_branch {self.task.target_branch} is not in the scene "
                              f"(ids: {sorted(tree.branches)})")
        self._candidates = (target_candidates(
            tree, rc.radius_m, self.task.target_generation, mesh=self.scene.collision_mesh,
            link_length_m=rc.bending_length_m / rc.bending_links,
            success_fraction=self.task.task.success_fraction)
            if self.task.target_branch is None else [self.task.target_branch])
        self._last_rgb: np.ndarray | None = None
        self.nav: NavTask | None = None

    # ------------------------------------------------------------------------ helpers
    @property
    def renderer(self):
        """The (per-process shared) renderer of the observations."""
        if self._renderer is None and self.sim is not None:
            self._renderer = _get_renderer(self.scene, *self._render_args)
        return self._renderer

    def render_images(self, T_world_cam: np.ndarray, rgb: bool = True, depth: bool = True,
                      time_s: float = 0.0):
        """(rgb or None, depth or None) at a camera pose (planned in the reference anatomy),
        as the observations are rendered; ``time_s`` moves a breathing airway and carries the
        camera with it."""
        r = self.renderer
        if self.motion is not None:
            from room.anatomy.motion import move_pose

            T_world_cam = move_pose(self.motion, T_world_cam, time_s)
            r.set_time(time_s)
        if rgb:
            c, d = r.render_rgbd(T_world_cam)
            return c, (d if depth else None)
        if depth:
            if r.intrinsics.is_distorted:
                return None, r.render_rgbd(T_world_cam)[1]
            return None, r.render_depth(T_world_cam)
        return None, None

    def _observe(self, state) -> dict[str, np.ndarray]:
        rgb, depth = self.render_images(state.T_world_cam, self._want_rgb, self._want_depth,
                                        time_s=float(state.time_s))
        obs: dict[str, np.ndarray] = {}
        if rgb is not None:
            obs["rgb"] = rgb
            self._last_rgb = rgb
        if depth is not None:
            obs["depth"] = depth
        obs["joints"] = np.clip(np.concatenate([state.q, state.qdot]), -OBS_BOUND,
                                OBS_BOUND).astype(np.float32)
        obs["goal"] = self.nav.goal(state.T_world_cam)
        if self.task.include_pose:
            T = state.T_world_cam
            obs["tip_pose"] = np.concatenate([T[:3, 3], _quat_xyzw(T[:3, :3])]).astype(
                np.float32)
        return obs

    def _info(self, state, s_tip: float) -> dict[str, Any]:
        return {"target": self.target, "generation": self.nav.generation,
                "difficulty": self.nav.difficulty, "progress_m": s_tip,
                "path_length_m": self.path.length,
                "wall_force_N": state.max_force_N, "penetration_m": state.max_penetration_m,
                "time_s": state.time_s, "outcome": self.nav.outcome}

    def _drive_to_start(self, q2: float, q3: float):
        """Position the scope at roll ``q2`` and insertion ``q3`` (bending straight)."""
        rc, sim = self.sim.robot_cfg, self.sim
        state = sim.state
        if q2 == 0.0 and q3 == 0.0:
            return state
        q = np.zeros(rc.n_q)
        q[-2], q[-1] = q2, q3
        t = max(abs(q2) / rc.roll_speed_max_rad_s, q3 / rc.insertion_speed_max_m_s)
        for _ in range(int(math.ceil(t / sim.dt)) + 3):
            state = sim.step(JointCommand(q, "position"))
        return state

    # --------------------------------------------------------------------------- API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        self._check_open("reset")
        target = options.get("target_branch")
        if target is None:
            target = int(self._candidates[int(self.np_random.integers(len(self._candidates)))])
        ins = float(self.np_random.uniform(0.0, self.task.start_insertion_m))
        roll = float(self.np_random.uniform(-1.0, 1.0) * self.task.start_roll_rad)
        ins, roll = options.get("start_insertion_m", ins), options.get("start_roll_rad", roll)
        self.target = int(target)
        rc = self.sim.robot_cfg
        self.nav = NavTask(self.scene.tree, self.target, self.task.task,
                           rc.insertion_speed_max_m_s, rc.bending_length_m,
                           rc.bending_length_m / rc.bending_links)
        self.path = self.nav.path
        self.sim.reset()
        state = self._drive_to_start(roll, ins)
        self._needs_reset = False
        self._s_tip = self.nav.progress(state.T_world_tip[:3, 3])[0]
        self._steps = 0
        return self._observe(state), self._info(state, self._s_tip)

    def _check_open(self, call: str) -> None:
        if self.sim is None:
            raise SimulationError(f"{call}() after close(): this environment is closed; make a "
                                  "new one (gymnasium.make or room.make_env)")

    def step(self, action):
        self._check_open("step")
        if self._needs_reset:
            raise SimulationError("step() before reset() or after the episode ended "
                                  "(terminated or truncated): call reset() to start a new "
                                  "episode")
        a = np.asarray(action, dtype=float).reshape(-1)
        if a.shape != self.action_space.shape or not np.all(np.isfinite(a)):
            raise ConfigError(f"action must be {self.action_space.shape[0]} finite numbers in "
                              f"[-1, 1], got {np.asarray(action).tolist()}")
        cmd = JointCommand(np.clip(a, -1.0, 1.0) * self._vmax, "velocity")
        task = self.task
        force, error = 0.0, None
        state = self.sim.state
        try:
            for _ in range(task.control_steps_per_action):
                state = self.sim.step(cmd)
                force = max(force, state.max_force_N)
        except SimulationError as e:
            error = str(e)
        self._steps += 1
        outcome = self.nav.update(state, force, error)
        s_tip = self.nav.s_tip
        reward = task.progress_reward_per_m * (s_tip - self._s_tip) \
            - task.force_penalty_per_N * force
        self._s_tip = s_tip
        success = outcome == "success"
        failed = outcome in ("force", "no_progress", "sim_error")
        if success:
            reward += task.success_reward
        if failed:
            reward -= task.failure_penalty
        truncated = (self._steps >= task.max_steps or outcome == "timeout") and not (
            success or failed)
        self._needs_reset = bool(success or failed or truncated)
        info = self._info(state, s_tip)
        info.update(success=success, wall_force_step_N=force)
        if error:
            info["sim_error"] = error
        return (self._observe(state), float(reward), bool(success or failed), bool(truncated),
                info)

    def render(self):
        return None if self._last_rgb is None else self._last_rgb.copy()

    def close(self) -> None:
        """Free the physics client (idempotent); reset() and step() then raise."""
        if getattr(self, "sim", None) is not None:
            self.sim.close()
            self.sim = None
        self._renderer = None  # the shared renderer stays cached (see close_renderers)


def make_env(scene: Any = "y", **kwargs: Any) -> gym.Env:
    """``gymnasium.make("room/BronchoscopyNav-v0", scene=scene, **kwargs)``: the env with
    Gymnasium's standard wrappers. ``scene``: anything :func:`room.anatomy.load_scene` takes
    (default: the small synthetic Y), or ``scene_dir=DIR``; keyword arguments as
    :class:`BronchoscopyNavEnv`."""
    register()
    return gym.make(ENV_ID, scene=scene, **kwargs)


def register() -> None:
    """Register ``room/BronchoscopyNav-v0`` with Gymnasium (idempotent; an installed room
    already did when gymnasium was imported, see _room_gymnasium)."""
    register_all()


register()
