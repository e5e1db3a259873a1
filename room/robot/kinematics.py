"""Constant-curvature kinematics of the bending section and the straight-shaft robot.

Frames: every link frame has +z along the scope (distal direction); the tip frame sits on the
distal face, on the axis, with OpenCV camera axes (x right, y down, z forward). Bending about
the axis ``a = (cos phi, sin phi, 0)`` by ``theta`` turns the tip towards
``d = a x z = (sin phi, -cos phi, 0)``: with ``phi = 0`` a positive angle bends towards -y (the
top of the camera image). Two-plane bending ``(theta_a, theta_b)`` (towards -y and +x) is the
same arc with ``theta = hypot(theta_a, theta_b)`` in the plane ``phi = atan2(theta_b, theta_a)``
(the continuous model); the simulated two-plane section bends on hinges alternately about x and
y (:func:`hinge_transform`), which approaches that arc as the hinges get finer.

Lengths in metres, angles in radians, transforms 4 x 4 ``T_parent_child``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from room.robot.config import RobotConfig
from room.transforms import make_T


def _rot(axis: np.ndarray, angle: float) -> np.ndarray:
    return Rotation.from_rotvec(np.asarray(axis, float) * angle).as_matrix()


def two_plane_to_single(theta_a: float, theta_b: float) -> tuple[float, float]:
    """(theta, phi) of the single-plane arc equivalent to two-plane bending angles."""
    return float(np.hypot(theta_a, theta_b)), float(np.arctan2(theta_b, theta_a))


def cc_transform(theta: float, phi: float, length: float) -> np.ndarray:
    """``T_base_end`` of a constant-curvature arc of ``length`` bent by ``theta`` in the plane
    ``phi`` (continuous model)."""
    a = np.array([np.cos(phi), np.sin(phi), 0.0])
    d = np.array([np.sin(phi), -np.cos(phi), 0.0])
    z = np.array([0.0, 0.0, 1.0])
    if abs(theta) < 1e-9:
        p = length * z
    else:
        p = length / theta * ((1.0 - np.cos(theta)) * d + np.sin(theta) * z)
    return make_T(_rot(a, theta), p)


def discrete_transform(theta: float, phi: float, length: float, n: int) -> np.ndarray:
    """``T_base_end`` of the simulated bending section: ``n`` joints of ``theta / n`` each at
    arc positions ``(j - 1/2) * length / n`` (j = 1..n), straight links between them.

    Placing the joints at the segment midpoints makes the chain's heading the trapezoid rule
    of the arc's heading, so the tip orientation is exact and the tip position error is
    O(length * theta^2 / n^2): 0.44 mm for 30 mm bent 180 degrees with 6 links, 0.11 mm with
    12 (about ``length * theta^2 / (19 n^2)``)."""
    a = np.array([np.cos(phi), np.sin(phi), 0.0])
    seg = length / n
    step = make_T(_rot(a, theta / n))
    T = make_T(t=[0.0, 0.0, 0.5 * seg])
    for j in range(n):
        T = T @ step @ make_T(t=[0.0, 0.0, seg if j < n - 1 else 0.5 * seg])
    return T


def hinge_transform(theta_a: float, theta_b: float, length: float, n: int) -> np.ndarray:
    """``T_base_end`` of the simulated two-plane bending section: ``n`` (even) hinges at arc
    positions ``(j - 1/2) * length / n``, alternately about x (``theta_a / (n/2)`` each, towards
    -y) and about y (``theta_b / (n/2)`` each, towards +x), straight links between them. With
    one plane at zero it equals :func:`discrete_transform` of ``n/2`` double-length steps' sum;
    with both planes bent the finite rotations do not commute and its tip heading differs from
    the equivalent arc's by second order in the per-hinge angles (12 degrees for
    (1.2, -1.5) rad and 6 hinges; :func:`hinge_command` compensates)."""
    seg, half = length / n, n // 2
    T = make_T(t=[0.0, 0.0, 0.5 * seg])
    for j in range(n):
        step = make_T(_rot([1.0, 0.0, 0.0], theta_a / half) if j % 2 == 0
                      else _rot([0.0, 1.0, 0.0], theta_b / half))
        T = T @ step @ make_T(t=[0.0, 0.0, seg if j < n - 1 else 0.5 * seg])
    return T


def _hinge_rotations(theta_a: np.ndarray, theta_b: np.ndarray, n: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Rotations (..., 3, 3) of one x hinge and one y hinge of the alternating-hinge section
    of ``n`` links bent by total angles ``(theta_a, theta_b)`` (rad, shared by n // 2 hinges
    each), broadcast to one shape."""
    half = n // 2
    a, b = np.broadcast_arrays(np.asarray(theta_a, float) / half,
                               np.asarray(theta_b, float) / half)
    ca, sa, cb, sb = np.cos(a), np.sin(a), np.cos(b), np.sin(b)
    o, z = np.ones_like(a), np.zeros_like(a)
    rx = np.stack([np.stack([o, z, z], -1), np.stack([z, ca, -sa], -1),
                   np.stack([z, sa, ca], -1)], -2)
    ry = np.stack([np.stack([cb, z, sb], -1), np.stack([z, o, z], -1),
                   np.stack([-sb, z, cb], -1)], -2)
    return rx, ry


def hinge_points(theta_a: np.ndarray, theta_b: np.ndarray, length: float, n: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`hinge_transform` vectorised over hinge angles of one shape (...): the positions
    (..., n, 3) of the ends of the ``n`` links (the last: the tip) and the tip axis (..., 3),
    base frame, metres."""
    seg = length / n
    rx, ry = _hinge_rotations(theta_a, theta_b, n)
    R = np.broadcast_to(np.eye(3), rx.shape)
    p = np.broadcast_to(np.array([0.0, 0.0, 0.5 * seg]), rx.shape[:-1])
    pts = []
    for j in range(n):
        R = R @ (rx if j % 2 == 0 else ry)
        p = p + R[..., :, 2] * (seg if j < n - 1 else 0.5 * seg)
        pts.append(p)
    return np.stack(pts, -2), R[..., :, 2]


def _hinge_axis(theta_a: float, theta_b: float, n: int) -> np.ndarray:
    """Tip axis (unit z of the end frame, base frame) of :func:`hinge_transform`."""
    half = n // 2
    ca, sa = np.cos(theta_a / half), np.sin(theta_a / half)
    cb, sb = np.cos(theta_b / half), np.sin(theta_b / half)
    rx = np.array([[1.0, 0.0, 0.0], [0.0, ca, -sa], [0.0, sa, ca]])
    ry = np.array([[cb, 0.0, sb], [0.0, 1.0, 0.0], [-sb, 0.0, cb]])
    R = np.eye(3)
    for j in range(n):
        R = R @ (rx if j % 2 == 0 else ry)
    return R[:, 2]


def hinge_arc(theta_a: np.ndarray, theta_b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(theta, phi) of the arc whose tip axis is that of the alternating-hinge section bent by
    hinge angles ``(theta_a, theta_b)`` (arrays of one shape): the inverse of
    :func:`hinge_command`, vectorised."""
    rx, ry = _hinge_rotations(theta_a, theta_b, n)
    v = np.broadcast_to(np.array([0.0, 0.0, 1.0]), rx.shape[:-1])
    for j in reversed(range(n)):  # R_0 R_1 ... R_n-1 z, applied from the right
        v = np.einsum("...ij,...j->...i", rx if j % 2 == 0 else ry, v)
    th = np.arccos(np.clip(v[..., 2], -1.0, 1.0))
    return th, np.arctan2(v[..., 0], -v[..., 1])


def axis_to_bend(axis: np.ndarray) -> np.ndarray:
    """The two-plane bend vector ``theta (cos phi, sin phi)`` of the arc whose tip axis (base
    frame) is ``axis``."""
    th = float(np.arccos(np.clip(axis[2], -1.0, 1.0)))
    ph = float(np.arctan2(axis[0], -axis[1]))
    return th * np.array([np.cos(ph), np.sin(ph)])


def hinge_command(theta_a: float, theta_b: float, n: int, limit: float = np.pi,
                  iterations: int = 20) -> np.ndarray:
    """Hinge angles (plane a, plane b) that point the tip of the alternating-hinge section
    (:func:`hinge_transform`, ``n`` hinges) along the tip axis of the arc bent by
    ``(theta_a, theta_b)``: damped fixed-point iteration on the bend-vector error, each plane
    within +-``limit``; the iterate whose tip axis is closest to the wanted one (angle) when
    it cannot be reached exactly."""
    want = np.array([theta_a, theta_b], float)
    th, ph = two_plane_to_single(theta_a, theta_b)
    target = np.array([np.sin(th) * np.sin(ph), -np.sin(th) * np.cos(ph), np.cos(th)])
    q, best, ang_best = want.copy(), want.copy(), np.inf
    for _ in range(iterations):
        axis = _hinge_axis(q[0], q[1], n)
        ang = float(np.arccos(np.clip(axis @ target, -1.0, 1.0)))
        if ang < ang_best:
            best, ang_best = q.copy(), ang
        if ang < 1e-6:
            break
        q = np.clip(q + 0.7 * (want - axis_to_bend(axis)), -limit, limit)
    return best


def bend_angles(q: np.ndarray, cfg: RobotConfig) -> tuple[float, float]:
    """(theta, phi) of the bending section from the joint vector."""
    q = np.asarray(q, float)
    if cfg.bending_planes == 1:
        return float(q[0]), 0.0
    return two_plane_to_single(q[0], q[1])


def tip_pose(q: np.ndarray, cfg: RobotConfig, T_world_start: np.ndarray,
             discrete: bool = True) -> np.ndarray:
    """``T_world_cam`` of the camera for joint vector ``q`` with a straight passive shaft.

    ``T_world_start`` is the tip frame at ``q = 0`` (straight scope, no roll, no insertion);
    insertion moves along its z axis and roll turns about it.
    """
    q = np.asarray(q, float)
    theta, phi = bend_angles(q, cfg)
    q2, q3 = q[-2], q[-1]
    L = cfg.bending_length_m
    T_start_bendbase = make_T(_rot([0, 0, 1], q2), [0.0, 0.0, q3]) @ make_T(t=[0, 0, -L])
    if not discrete:
        bend = cc_transform(theta, phi, L)
    elif cfg.bending_planes == 2:
        bend = hinge_transform(q[0], q[1], L, cfg.bending_links)
    else:
        bend = discrete_transform(theta, phi, L, cfg.bending_links)
    return T_world_start @ T_start_bendbase @ bend @ make_T(t=cfg.camera_offset_m)
