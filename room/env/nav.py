"""Gymnasium environment ``room/BronchoscopyNav-v0``: steer the scope to a target branch.

Registered when ``room.env`` is imported (``import room.env``; or
``gymnasium.make("room.env:room/BronchoscopyNav-v0")``, which imports it). The env lives above
the render stage (it observes rendered tip images), in its own stage between sensor and data.

``scene``: anything :func:`room.anatomy.load_scene` accepts (default ``"y"``).

- Action: ``Box(-1, 1, (n_q,), float32)``, joint RATES in the joint order (bending q1[, q1b],
  roll q2, insertion q3), scaled by the robot's speed limits (``RobotConfig.*_speed_max``).
- Observation (``Dict``): ``rgb`` uint8 (H, W, 3) and ``depth`` float32 (H, W) metres (0 = no
  hit) from the tip camera (room.render); ``joints`` float32 ``(q, qdot)`` (2 n_q,); ``tip_pose``
  float32 (7,) = position (m, world) + quaternion (x, y, z, w) when ``include_pose``.
- Reward per step: ``progress_reward_per_m`` x (advance of the tip along the centerline path to
  the target, metres) - ``force_penalty_per_N`` x (largest wall force during the step, N);
  ``+success_reward`` on reaching the target, ``-failure_penalty`` on excessive force or a
  simulation failure.
- Termination: tip within ``goal_margin_m`` of the target branch's end, wall force above
  ``force_limit_N``, or an unstable simulation (``info["sim_error"]``). Truncation after
  ``max_steps``.

Determinism: ``reset(seed=s)`` reloads the physics, and the target (when not fixed) is drawn from
the seeded ``np_random``; same seed and actions give identical observations.
"""

from __future__ import annotations

import atexit
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from scipy.spatial.transform import Rotation

from _room_gymnasium import register_all
from room.anatomy.load import load_scene
from room.anatomy.path import CenterlinePath
from room.errors import ConfigError, SimulationError
from room.render import CameraConfig, RenderConfig, make_renderer
from room.robot.config import RobotConfig
from room.robot.interface import JointCommand
from room.sim.config import SimConfig
from room.sim.simulator import Simulator

ENV_ID = "room/BronchoscopyNav-v0"  # one of _room_gymnasium.ENVS
OBS_BOUND = 100.0


@dataclass(frozen=True)
class EnvConfig:
    """Task settings (SI units)."""

    target_branch: int | None = None  # None: a leaf drawn from the reset seed
    image_size: int = 64  # square tip image, pixels
    control_steps_per_action: int = 2  # 60 Hz control / 2 = 30 Hz actions
    max_steps: int = 600
    progress_reward_per_m: float = 100.0  # +1 per centimetre of progress
    force_penalty_per_N: float = 0.5
    force_limit_N: float = 1.5
    success_reward: float = 10.0
    failure_penalty: float = 10.0
    goal_margin_m: float = 0.005
    include_pose: bool = True

    def __post_init__(self) -> None:
        if self.image_size < 8 or self.control_steps_per_action < 1 or self.max_steps < 1:
            raise ConfigError("EnvConfig: image_size >= 8, control_steps_per_action >= 1 and "
                              "max_steps >= 1 are required")
        for k in ("progress_reward_per_m", "force_penalty_per_N", "force_limit_N",
                  "success_reward", "failure_penalty", "goal_margin_m"):
            v = getattr(self, k)
            if not (np.isfinite(v) and v >= 0):
                raise ConfigError(f"EnvConfig.{k} must be finite and >= 0, got {v!r}")


# ------------------------------------------------------------ per-process renderer cache
_RENDERERS: dict[tuple, Any] = {}


def _get_renderer(scene, camera, render):
    """One renderer (GL context) per (scene, camera, look) per process, shared by every env
    and kept until exit: creating one costs seconds, rendering is stateless per call (so
    sharing keeps vectorised envs deterministic), and closing one EGL context must not take
    the others' display down."""
    key = (str(scene.path), repr(camera), repr(render))
    if key not in _RENDERERS:
        _RENDERERS[key] = make_renderer(scene, camera, render)
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
                 render_mode: str | None = None, scene_dir: str | None = None) -> None:
        """``scene``: anything :func:`room.anatomy.load_scene` takes; ``scene_dir``: a folder
        written by room-prepare (as ``room-generate scene_dir=DIR``; overrides ``scene``)."""
        self.task = task or EnvConfig()
        self._needs_reset = True
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
        rc = self.sim.robot_cfg
        n = self.task.image_size
        self.camera = camera or CameraConfig(width=n, height=n)
        h, w = self.camera.height, self.camera.width
        self.renderer = _get_renderer(self.scene, self.camera, render_config or RenderConfig())
        self._vmax = np.array(rc.qdot_max)
        self.action_space = spaces.Box(-1.0, 1.0, (rc.n_q,), np.float32)
        obs = {
            "rgb": spaces.Box(0, 255, (h, w, 3), np.uint8),
            "depth": spaces.Box(0.0, float(self.camera.far), (h, w), np.float32),
            # joint values and rates (rad, m, rad/s, m/s) are far inside +-OBS_BOUND
            "joints": spaces.Box(-OBS_BOUND, OBS_BOUND, (2 * rc.n_q,), np.float32),
        }
        if self.task.include_pose:  # metres in the CT frame, unit quaternion
            obs["tip_pose"] = spaces.Box(-OBS_BOUND, OBS_BOUND, (7,), np.float32)
        self.observation_space = spaces.Dict(obs)
        leaves = sorted(b.id for b in self.scene.tree.leaves())
        if self.task.target_branch is not None and \
                self.task.target_branch not in self.scene.tree.branches:
            raise ConfigError(f"target_branch {self.task.target_branch} is not in the scene "
                              f"(leaves: {leaves})")
        self._leaves = leaves
        self._last_rgb: np.ndarray | None = None

    # ------------------------------------------------------------------------ helpers
    def _observe(self, state) -> dict[str, np.ndarray]:
        rgb, depth = self.renderer.render_rgbd(state.T_world_cam)  # only what obs needs
        self._last_rgb = rgb
        obs = {"rgb": rgb, "depth": depth,
               "joints": np.clip(np.concatenate([state.q, state.qdot]), -OBS_BOUND,
                                 OBS_BOUND).astype(np.float32)}
        if self.task.include_pose:
            T = state.T_world_cam
            q = Rotation.from_matrix(T[:3, :3]).as_quat()
            obs["tip_pose"] = np.concatenate([T[:3, 3], q]).astype(np.float32)
        return obs

    def _info(self, state, s_tip: float) -> dict[str, Any]:
        return {"target": self.target, "progress_m": s_tip, "path_length_m": self.path.length,
                "wall_force_N": state.max_force_N, "penetration_m": state.max_penetration_m,
                "time_s": state.time_s}

    # --------------------------------------------------------------------------- API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        target = options.get("target_branch", self.task.target_branch)
        if target is None:
            target = int(self._leaves[int(self.np_random.integers(len(self._leaves)))])
        self.target = int(target)
        self.path = CenterlinePath(self.scene.tree, self.target)
        self._check_open("reset")
        state = self.sim.reset()
        self._needs_reset = False
        self._s_tip = self.path.project(state.T_world_tip[:3, 3])[0]
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
        s_tip = self.path.project(state.T_world_tip[:3, 3])[0]
        reward = task.progress_reward_per_m * (s_tip - self._s_tip) \
            - task.force_penalty_per_N * force
        self._s_tip = s_tip
        success = s_tip >= self.path.length - task.goal_margin_m
        failed = error is not None or force > task.force_limit_N
        if success:
            reward += task.success_reward
        if failed:
            reward -= task.failure_penalty
        truncated = self._steps >= task.max_steps and not (success or failed)
        self._needs_reset = bool(success or failed or truncated)
        info = self._info(state, s_tip)
        info.update(success=bool(success), wall_force_step_N=force)
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
        self.renderer = None  # the shared renderer stays cached (see close_renderers)


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
