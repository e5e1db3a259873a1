"""TrajectoryConfig: how camera paths cover the airway tree (group ``conf/trajectory``)."""

from __future__ import annotations

from dataclasses import dataclass

from room.errors import ConfigError

SOURCES = ("kinematic", "physical")
TARGETS = ("leaves", "all")


@dataclass(frozen=True)
class TrajectoryConfig:
    """Coverage paths from the trachea to airway branches, sampled as camera poses.

    Lengths in metres, angles in radians, times in seconds. Frames come at a fixed rate
    (``frame_rate_hz``); sampling density is how closely consecutive frames are spaced along the
    path, so denser sampling at bifurcations means the scope slows down there.
    """

    source: str = "kinematic"  # 'kinematic': splines along the centerline; 'physical': robot
    max_generation: int = 1  # deepest generation a path targets (trachea = 0)
    targets: str = "leaves"  # 'leaves': one path per deepest branch <= max_generation;
    # 'all': one path per branch of generation <= max_generation (including inner ones)
    n_sequences: int = 1  # how many of the targets (chosen with the seed); 0 = all of them
    spacing_m: float = 0.003  # baseline distance between consecutive frames
    frame_rate_hz: float = 15.0  # time stamp step between frames
    bifurcation_density: float = 3.0  # sampling density multiplier at a bifurcation
    bifurcation_extent: float = 1.5  # Gaussian half-width of that zone, in local radii
    curvature_density: float = 2.0  # extra density multiplier reached at curvature_ref
    curvature_ref_radius_m: float = 0.02  # bend radius at which the curvature boost saturates
    smoothing: float = 0.15  # centerline spline smoothing: RMS deviation in local radii
    lateral_offset: float = 0.3  # max lateral camera offset as a fraction of the local radius
    safe_fraction: float = 0.6  # hard bound: camera within safe_fraction * radius of the axis
    roll_jitter_rad: float = 0.3  # max roll about the optical axis
    view_jitter_rad: float = 0.08  # max tilt of the optical axis away from the path tangent
    speed_variation: float = 0.3  # frame spacing varies by up to +-30 % (speed changes)
    perturbation_length_m: float = 0.015  # correlation length of all perturbations
    start_m: float = 0.01  # skip this much of the trachea entrance
    end_margin: float = 1.5  # stop this many local radii before the target's distal end
    max_frames: int = 200  # frames per sequence cap (the path is truncated); 0 = no cap
    control_steps_per_frame: int = 8  # physical source: frame every N control steps

    def __post_init__(self) -> None:
        problems = []
        if self.source not in SOURCES:
            problems.append(f"source {self.source!r} not one of {SOURCES}")
        if self.targets not in TARGETS:
            problems.append(f"targets {self.targets!r} not one of {TARGETS}")
        if self.max_generation < 0 or self.n_sequences < 0 or self.max_frames < 0:
            problems.append("max_generation, n_sequences and max_frames must be >= 0")
        if not (self.spacing_m > 0 and self.frame_rate_hz > 0):
            problems.append("spacing_m and frame_rate_hz must be positive")
        if self.bifurcation_density < 1 or self.curvature_density < 0:
            problems.append("bifurcation_density must be >= 1 and curvature_density >= 0")
        if not (0 <= self.lateral_offset <= self.safe_fraction < 1):
            problems.append(f"need 0 <= lateral_offset <= safe_fraction < 1 (fractions of the "
                            f"local radius), got {self.lateral_offset}, {self.safe_fraction}")
        if not (0 <= self.speed_variation < 1):
            problems.append("speed_variation must be in [0, 1)")
        if self.control_steps_per_frame < 1:
            problems.append("control_steps_per_frame must be >= 1")
        if problems:
            raise ConfigError("TrajectoryConfig: " + "; ".join(problems))
