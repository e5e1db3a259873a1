"""The robot as a PyBullet multibody: link layout and a generated URDF.

Chain (PyBullet link index = joint index)::

    base (fixed, at the proximal end, z along the entry direction)
    0  slider      prismatic z        q3 insertion (driven base, no collision shape)
    1  shaft_0     revolute z         q2 roll (capsule)
    2..ns          shaft_i            spherical, passive (held straight by a yielding motor)
    ns+1..ns+nb    bend_j             revolute about x, actuated: q1 / nb each; with two
                                      tendon planes alternately about x and y (the hinges of
                                      a 4-way section's vertebrae): q1a / (nb/2), q1b / (nb/2)

Link frames sit at their proximal joint with +z distal. The bending joints are at the arc
positions ``(j - 1/2) * l`` of the bending section (see ``kinematics.discrete_transform``): the
last shaft link is extended by half a bending link and the last bending link is half a link long.

The URDF is written in the simulator's internal length unit (``units_per_m`` units = 1 m; masses
in kg, so inertias are kg unit^2, forces kg unit / s^2). It is a function of the config only,
cached by content hash.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from room.config import asdict
from room.fileio import write_atomic
from room.paths import cache_dir
from room.robot.config import RobotConfig


@dataclass(frozen=True)
class LinkSpec:
    """One link: name, kind (slider|shaft|bend), joint type, length in metres, and the arc
    position of its proximal joint measured from the robot's proximal end (m)."""

    name: str
    kind: str
    joint: str
    length_m: float
    s_m: float


def link_layout(cfg: RobotConfig) -> list[LinkSpec]:
    """The links in PyBullet index order."""
    ls = cfg.shaft_length_m / cfg.shaft_links
    lb = cfg.bending_length_m / cfg.bending_links
    links = [LinkSpec("slider", "slider", "prismatic", 0.0, 0.0)]
    for i in range(cfg.shaft_links):
        extra = 0.5 * lb if i == cfg.shaft_links - 1 else 0.0
        joint = "revolute" if i == 0 else ("revolute_x" if i % 2 else "revolute_y")
        links.append(LinkSpec(f"shaft_{i}", "shaft", joint, ls + extra, i * ls))
    for j in range(cfg.bending_links):
        length = lb if j < cfg.bending_links - 1 else 0.5 * lb
        joint = "revolute_x" if cfg.bending_planes == 1 or j % 2 == 0 else "revolute_y"
        links.append(LinkSpec(f"bend_{j}", "bend", joint, length,
                              cfg.shaft_length_m + (j + 0.5) * lb))
    return links


def _inertial(mass: float, r: float, length: float, S: float) -> str:
    """Solid-cylinder inertia about the centre of mass, internal units."""
    ixx = mass * (3 * r * r + length * length) / 12.0 * S * S
    izz = 0.5 * mass * r * r * S * S
    return (f'<inertial><origin xyz="0 0 {0.5 * length * S:.9g}"/><mass value="{mass:.9g}"/>'
            f'<inertia ixx="{ixx:.9g}" iyy="{ixx:.9g}" izz="{izz:.9g}" ixy="0" ixz="0" iyz="0"/>'
            "</inertial>")


def _capsule(r: float, length: float, tip: bool, S: float) -> str:
    """Capsule along +z covering [0, length] (the distal cap of the tip link ends exactly at
    the tip face; inner caps overlap the neighbours, self-collision is off)."""
    if tip:
        h = max(length - r, 0.05 * r)
        zc = 0.5 * h
    else:
        h, zc = length, 0.5 * length
    return (f'<collision><origin xyz="0 0 {zc * S:.9g}"/><geometry>'
            f'<capsule radius="{r * S:.9g}" length="{h * S:.9g}"/></geometry></collision>')


def urdf_text(cfg: RobotConfig, units_per_m: float) -> str:
    """URDF of the robot in internal units (see module docstring)."""
    S = units_per_m
    r = cfg.radius_m
    links = link_layout(cfg)
    area = math.pi * r * r
    out = ['<?xml version="1.0"?>', '<robot name="room_bronchoscope">',
           '<link name="base"><inertial><mass value="0"/>'
           '<inertia ixx="0" iyy="0" izz="0" ixy="0" ixz="0" iyz="0"/></inertial></link>']
    prev, prev_len = "base", 0.0
    for k, spec in enumerate(links):
        if spec.kind == "slider":
            mass = cfg.density_kg_m3 * area * cfg.shaft_length_m / cfg.shaft_links
            out.append(f'<link name="slider">{_inertial(mass, r, r, S)}</link>')
            out.append(
                '<joint name="insertion" type="prismatic"><parent link="base"/>'
                '<child link="slider"/><origin xyz="0 0 0"/><axis xyz="0 0 1"/>'
                f'<limit lower="0" upper="{cfg.insertion_max_m * S:.9g}" '
                f'effort="{cfg.insertion_force_limit_N * S:.9g}" velocity="1e9"/></joint>')
            prev, prev_len = "slider", 0.0
            continue
        mass = cfg.density_kg_m3 * area * spec.length_m
        tip = k == len(links) - 1
        out.append(f'<link name="{spec.name}">{_inertial(mass, r, spec.length_m, S)}'
                   f'{_capsule(r, spec.length_m, tip, S)}</link>')
        limit = ""
        if spec.joint == "revolute":
            limit = (f'<limit lower="{-cfg.roll_limit_rad:.9g}" upper="{cfg.roll_limit_rad:.9g}"'
                     f' effort="{cfg.roll_torque_limit_Nm * S * S:.9g}" velocity="1e9"/>')
        jtype, axis = spec.joint, "0 0 1"
        if spec.joint in ("revolute_x", "revolute_y"):
            jtype, axis = "continuous", ("1 0 0" if spec.joint == "revolute_x" else "0 1 0")
        out.append(
            f'<joint name="j_{spec.name}" type="{jtype}"><parent link="{prev}"/>'
            f'<child link="{spec.name}"/><origin xyz="0 0 {prev_len * S:.9g}"/>'
            f'<axis xyz="{axis}"/>{limit}</joint>')
        prev, prev_len = spec.name, spec.length_m
    out.append("</robot>")
    return "\n".join(out)


def write_urdf(cfg: RobotConfig, units_per_m: float) -> Path:
    """Write (once) and return the URDF file for ``cfg`` under the room cache."""
    text = urdf_text(cfg, units_per_m)
    key = hashlib.sha1(text.encode()).hexdigest()[:16]
    folder = cache_dir() / "robots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bronchoscope_{key}.urdf"
    if not path.is_file():
        write_atomic(path, text)
    return path


def describe(cfg: RobotConfig) -> dict:
    """Plain-dict description (config + layout) for metadata files."""
    return {"config": asdict(cfg),
            "links": [vars(s) for s in link_layout(cfg)]}
