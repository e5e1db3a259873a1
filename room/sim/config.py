"""`SimConfig`: physics and control-loop settings (SI units; see ``room.sim.world`` for how they
map onto the engine)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from room.errors import ConfigError


@dataclass(frozen=True)
class SimConfig:
    """Simulation settings. The control period is ``control_steps`` physics steps."""

    # physics step: 360 Hz. At 240 Hz the scope sweeping into phantom bronchi overlapped the
    # wall by up to 0.3-0.4 mm (engine contact distance); at 360 Hz 0.03-0.18 mm, and contacts
    # resolve sooner, so a control step costs about the same.
    time_step_s: float = 1.0 / 360.0
    control_steps: int = 6  # physics steps per control step (360 Hz / 6 = 60 Hz control)
    solver_iterations: int = 30  # 20 leaves the force chain unconverged (0.74 N of a 1 N push)
    # gravity in the world frame, m/s^2 (LPS: a supine patient has gravity +y = posterior).
    # Off by default: the proximal scope outside the patient is carried by the robot's
    # feeder, but here it is a free chain behind the entry that would sag and lever the tip.
    gravity_m_s2: tuple[float, float, float] = (0.0, 0.0, 0.0)
    friction: float = 0.1  # scope on mucus-covered airway wall (lubricated, low)
    erp: float = 0.2  # joint-constraint error reduction
    contact_erp: float = 0.5  # contact error reduction (0.2 left 0.1 mm more overlap)
    contact_threshold_m: float = 2e-5  # contacts kept within this gap (Bullet default 0.02 mm)
    # tip distance past the airway entry at q3 = 0 (negative: start outside, in free space)
    start_depth_m: float = 0.015
    # instability detection: raise SimulationError beyond these
    max_penetration_m: float = 0.0015
    max_speed_m_s: float = 1.0

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise ConfigError(f"SimConfig: {msg}")

        for name in ("time_step_s", "solver_iterations", "contact_threshold_m",
                     "max_penetration_m", "max_speed_m_s", "control_steps"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                bad(f"{name} must be a finite positive number, got {v!r}")
        if not math.isfinite(self.start_depth_m):
            bad(f"start_depth_m must be finite, got {self.start_depth_m!r}")
        if self.time_step_s > 1.0 / 100.0:
            bad(f"time_step_s = {self.time_step_s} s is too coarse for millimetre contacts; "
                "use <= 1/240 s")
        if not isinstance(self.control_steps, int):
            bad(f"control_steps must be an integer number of physics steps, got "
                f"{self.control_steps!r}")
        for name in ("friction", "erp", "contact_erp"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0 <= v <= (10 if name == "friction" else 1)):
                bad(f"{name} out of range: {v!r}")
        if len(self.gravity_m_s2) != 3 or not all(math.isfinite(g) for g in self.gravity_m_s2):
            bad(f"gravity_m_s2 must be three finite numbers, got {self.gravity_m_s2!r}")

    @property
    def control_period_s(self) -> float:
        return self.time_step_s * self.control_steps
