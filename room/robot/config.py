"""`RobotConfig`: the continuum bronchoscope's geometry, mass, actuation and joint limits.

All values in SI units (metres, radians, kilograms, newtons, seconds). Joint vector
``q = (q1, q2, q3)``: q1 bending angle of the distal bending section (rad, signed: positive
bends the tip towards camera -y, i.e. the top of the image), q2 axial roll of the whole scope
(rad), q3 insertion (m, 0 = the start pose). With ``bending_planes = 2`` the bending angle is
split in two orthogonal planes and ``q = (q1a, q1b, q2, q3)`` (q1a bends towards camera -y,
q1b towards camera +x).

The passive shaft and the bending section are chains of capsule links. Shaft joints are
revolute, alternating about the link x and y axes (two bending directions, torsionally stiff so
roll is transmitted); bending joints turn about x (``bending_planes = 1``) or alternately
about x and y (``bending_planes = 2``: the hinges of a 4-way section's vertebrae; spherical
joints were used before, but PyBullet's spherical joint motor ignores the torque limit and did
not hold the commanded bend in contact). Each joint is held by an implicit joint motor (see
``room.sim``): it
keeps the target shape (straight for the shaft, ``q1 / n`` per joint for the bending section) as
long as the torque needed stays below ``*_torque_limit_Nm`` and yields beyond it, with the
position and velocity gains setting how fast it relaxes back (the spring and the damper). An
explicit spring torque ``-k * angle`` is not used because a 20 mm link of this scope has a
transverse inertia of about 1e-8 kg m^2: any useful stiffness (>= 1e-3 N m/rad) puts the joint's
natural frequency above 260 rad/s (and a short bending link far higher), at or beyond the
stability limit of an explicit integrator at 240 Hz.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from room.errors import ConfigError


@dataclass(frozen=True)
class RobotConfig:
    """Continuum-robot (bronchoscope) parameters with realistic defaults (about a 4.2 mm
    therapeutic-size scope; robotic bronchoscopes range over 3-6 mm)."""

    outer_diameter_m: float = 0.0042
    bending_length_m: float = 0.030
    bending_links: int = 6
    max_bend_rad: float = math.pi  # 180 degrees, as on current robotic bronchoscopes
    bending_planes: int = 1  # 1: one plane set by roll; 2: two orthogonal tendon planes
    # simulated part of the passive insertion tube: reaches generation 6 of an adult airway
    shaft_length_m: float = 0.32
    shaft_links: int = 16  # 20 mm links: 10 mm links double the cost in contact
    density_kg_m3: float = 1500.0
    # camera pose in the tip frame (x right, y down, z forward), metres; the tip frame sits on
    # the distal face of the scope, on its axis
    camera_offset_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # passive shaft joints: restoring-torque limit, position gain (0-1, fraction of the shape
    # error corrected per physics step), velocity gain (damping, 0-1)
    shaft_torque_limit_Nm: float = 0.001
    shaft_position_gain: float = 0.3
    shaft_velocity_gain: float = 0.5
    # the robot's feeder (0: none): shaft joints whose link is still behind the airway entry
    # hold the straight shape up to this torque, as the feeder and the tube it runs in carry
    # the scope outside the patient; with none that part is a free chain, which buckles
    # sideways under the insertion push once the tip is caught
    feeder_torque_limit_Nm: float = 0.0
    # actuated bending-section joints (tendon drive)
    bend_torque_limit_Nm: float = 0.02
    bend_position_gain: float = 0.2
    bend_velocity_gain: float = 1.0
    # base actuators
    insertion_force_limit_N: float = 1.0
    roll_torque_limit_Nm: float = 0.05
    # joint limits
    insertion_max_m: float = 0.30
    roll_limit_rad: float = math.pi
    # actuator speed limits (velocity commands, the Gymnasium action scale)
    insertion_speed_max_m_s: float = 0.02
    roll_speed_max_rad_s: float = 1.0  # faster sweeps of a bent tip dig into the wall
    bend_speed_max_rad_s: float = 1.0

    def __post_init__(self) -> None:
        self.validate()

    # ----------------------------------------------------------------- derived quantities
    @property
    def radius_m(self) -> float:
        return 0.5 * self.outer_diameter_m

    @property
    def n_q(self) -> int:
        """Length of the joint vector: 3, or 4 with two-plane bending."""
        return 3 if self.bending_planes == 1 else 4

    @property
    def total_length_m(self) -> float:
        return self.shaft_length_m + self.bending_length_m

    @property
    def q_min(self) -> tuple[float, ...]:
        bend = (-self.max_bend_rad,) * self.bending_planes
        return (*bend, -self.roll_limit_rad, 0.0)

    @property
    def q_max(self) -> tuple[float, ...]:
        bend = (self.max_bend_rad,) * self.bending_planes
        return (*bend, self.roll_limit_rad, self.insertion_max_m)

    @property
    def qdot_max(self) -> tuple[float, ...]:
        bend = (self.bend_speed_max_rad_s,) * self.bending_planes
        return (*bend, self.roll_speed_max_rad_s, self.insertion_speed_max_m_s)

    # ---------------------------------------------------------------------- validation
    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first impossible setting."""
        def bad(msg: str) -> None:
            raise ConfigError(f"RobotConfig: {msg}")

        for name in ("outer_diameter_m", "bending_length_m", "shaft_length_m", "density_kg_m3",
                     "max_bend_rad", "insertion_max_m", "roll_limit_rad",
                     "insertion_speed_max_m_s", "roll_speed_max_rad_s", "bend_speed_max_rad_s",
                     "insertion_force_limit_N", "roll_torque_limit_Nm"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                bad(f"{name} must be a finite positive number, got {v!r}")
        for name in ("shaft_torque_limit_Nm", "shaft_position_gain", "shaft_velocity_gain",
                     "feeder_torque_limit_Nm", "bend_torque_limit_Nm", "bend_position_gain",
                     "bend_velocity_gain"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                bad(f"{name} (stiffness/damping) must be finite and >= 0, got {v!r}")
        for name in ("shaft_position_gain", "shaft_velocity_gain", "bend_position_gain",
                     "bend_velocity_gain"):
            if getattr(self, name) > 1.0:
                bad(f"{name} is a fraction per physics step and must be <= 1, got "
                    f"{getattr(self, name)}")
        if not 0.002 <= self.outer_diameter_m <= 0.008:
            bad(f"outer_diameter_m = {self.outer_diameter_m} m is outside 2-8 mm, the range of "
                "flexible bronchoscopes; give the diameter in metres (4.2 mm = 0.0042)")
        for name in ("bending_links", "shaft_links"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                bad(f"{name} must be an integer >= 1, got {v!r}")
        if self.bending_planes not in (1, 2):
            bad(f"bending_planes must be 1 or 2, got {self.bending_planes!r}")
        if self.bending_planes == 2 and (not isinstance(self.bending_links, int)
                                         or self.bending_links % 2):
            bad(f"bending_planes = 2 needs an even bending_links (hinges alternate between "
                f"the two planes), got {self.bending_links!r}")
        if self.max_bend_rad > math.radians(270):
            bad(f"max_bend_rad = {self.max_bend_rad} rad exceeds 270 degrees; real scopes bend "
                "120-210 degrees")
        if self.roll_limit_rad > 2 * math.pi:
            bad(f"roll_limit_rad must be <= 2 pi, got {self.roll_limit_rad}")
        if len(self.camera_offset_m) != 3 or not all(
                math.isfinite(float(c)) for c in self.camera_offset_m):
            bad(f"camera_offset_m must be three finite numbers (x, y, z metres), got "
                f"{self.camera_offset_m!r}")
        for name, n, length in (("bending", self.bending_links, self.bending_length_m),
                                ("shaft", self.shaft_links, self.shaft_length_m)):
            if length / n < 0.5 * self.outer_diameter_m:
                bad(f"{name} links are {1e3 * length / n:.2f} mm long, shorter than the scope "
                    f"radius; use fewer {name}_links or a longer section")
        if self.insertion_max_m > self.shaft_length_m - 0.01:
            bad(f"insertion_max_m = {self.insertion_max_m} m must be at least 10 mm shorter than "
                f"the simulated shaft ({self.shaft_length_m} m) so the driven base never enters "
                "the airway; lengthen shaft_length_m or lower insertion_max_m")
