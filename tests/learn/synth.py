"""Analytic test frames: a camera inside a textured, light-attenuated straight tube.

The tube is the infinite cylinder x^2 + y^2 = R^2 (R = 9 mm, as room.anatomy.synthetic.tube_scene)
closed by a plane at z = L; depth is exact ray-surface intersection; the image is a procedural
texture times an endoscope light at the camera (1/r^2 falloff and cosine), so depth can be
learned from shading. Used where the renderer is not needed (or not available).
"""

from __future__ import annotations

import numpy as np

from room.transforms import make_T
from room.types import Intrinsics

R_TUBE = 0.009
L_TUBE = 0.12


def intrinsics(size: int = 64, fov_deg: float = 90.0) -> Intrinsics:
    f = 0.5 * size / np.tan(np.radians(fov_deg) / 2)
    return Intrinsics(width=size, height=size, fx=f, fy=f, cx=(size - 1) / 2, cy=(size - 1) / 2)


def _texture(theta: np.ndarray, z: np.ndarray, phase: float) -> np.ndarray:
    t = (0.55 + 0.2 * np.sin(7 * theta + 300 * z + phase) * np.sin(11 * theta - 170 * z)
         + 0.15 * np.sin(23 * theta + 900 * z + 2 * phase))
    return np.clip(t, 0.05, 1.0)


def render(T_world_cam: np.ndarray, intr: Intrinsics, phase: float = 0.0):
    """(rgb uint8 HxWx3, depth float32 HxW metres) of the analytic tube seen from T_world_cam."""
    h, w = intr.height, intr.width
    u, v = np.meshgrid(np.arange(w), np.arange(h))
    rays = np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones_like(u, float)], -1)
    R, p = T_world_cam[:3, :3], T_world_cam[:3, 3]
    d = rays @ R.T  # world direction per pixel, scaled so the camera-z component is 1
    a = d[..., 0] ** 2 + d[..., 1] ** 2
    b = 2 * (p[0] * d[..., 0] + p[1] * d[..., 1])
    c = p[0] ** 2 + p[1] ** 2 - R_TUBE**2  # < 0 inside
    with np.errstate(divide="ignore", invalid="ignore"):
        s_wall = (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)
        s_cap = np.where(d[..., 2] > 0, (L_TUBE - p[2]) / d[..., 2], np.inf)
    s = np.fmin(np.where(a > 1e-12, s_wall, np.inf), s_cap)
    hit = p + s[..., None] * d
    theta = np.arctan2(hit[..., 1], hit[..., 0])
    albedo = _texture(theta, hit[..., 2], phase)
    wall = s_wall <= s_cap
    normal = np.where(wall[..., None], -np.stack([hit[..., 0], hit[..., 1], 0 * s], -1) / R_TUBE,
                      np.array([0.0, 0.0, -1.0]))
    ray_len = s * np.linalg.norm(d, axis=-1)
    cosang = np.clip(-(normal * d).sum(-1) / np.linalg.norm(d, axis=-1), 0, 1)
    light = np.clip(cosang * (0.012 / ray_len) ** 2, 0, 1)
    rgb = np.stack([albedo * light, 0.7 * albedo * light, 0.6 * albedo * light], -1)
    rgb = (255 * np.clip(rgb, 0, 1) ** (1 / 2.2)).round().astype(np.uint8)
    return rgb, s.astype(np.float32)


def pose(z: float, x: float = 0.0, y: float = 0.0, yaw: float = 0.0, pitch: float = 0.0):
    """T_world_cam of a camera at (x, y, z) looking down +z, turned by yaw (about y) / pitch."""
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return make_T(Ry @ Rx, [x, y, z])


class TubeSequence:
    """A source for room.learn.data.DepthFrames: n random poses in the tube (seeded)."""

    def __init__(self, n: int, seed: int, size: int = 64, name: str | None = None) -> None:
        rng = np.random.default_rng(seed)
        self.K = intrinsics(size).K.astype(np.float32)
        self.intr = intrinsics(size)
        self.name = name or f"tube/seed{seed}"
        self.poses = [pose(rng.uniform(0.0, 0.08), *rng.uniform(-0.004, 0.004, 2),
                           *rng.uniform(-0.4, 0.4, 2)) for _ in range(n)]
        self.phase = rng.uniform(0, 6.28, n)

    def __len__(self) -> int:
        return len(self.poses)

    def read(self, i: int):
        rgb, depth = render(self.poses[i], self.intr, self.phase[i])
        return rgb, depth, self.K


def straight_run(n: int, step: float = 0.001, z0: float = 0.01):
    """GT poses of a straight run down the tube axis (slightly off-centre, slightly tilted)."""
    return np.stack([pose(z0 + step * i, 0.001, -0.0005, 0.05, 0.02) for i in range(n)])


def write_dataset(root, n_sequences: int, n_frames: int, seed: int, size: int = 48,
                  straight: bool = False) -> list:
    """Tube sequences written with room's own dataset writer (rgb + depth), read back by
    room.data.reader: ``<root>/tube/seq_XXX``. Random poses, or a straight run."""
    from pathlib import Path

    from room.data import schema
    from room.data.writer import SequenceWriter
    from room.types import Frame

    intr = intrinsics(size)
    paths = []
    for s in range(n_sequences):
        src = TubeSequence(n_frames, seed * 1000 + s, size)
        poses = straight_run(n_frames) if straight else src.poses
        path = Path(root) / "tube" / f"seq_{s:03d}"
        info = {"format_version": schema.FORMAT_VERSION, "intrinsics": intr.to_dict()}
        w = SequenceWriter(path, info, f"seed: {seed}\n", n_frames, ("rgb", "depth"))
        w.open()
        for i, T in enumerate(poses):
            rgb, depth = render(T, intr, 0.0 if straight else src.phase[i])
            depth[depth > 0.2] = 0.0  # beyond the stored range: no ground truth
            h, w_ = depth.shape
            frame = Frame(rgb=rgb, rgb_clean=rgb, depth=depth,
                          normals=np.zeros((h, w_, 3), np.float32),
                          segmentation=np.zeros((h, w_), np.int32),
                          face_id=np.zeros((h, w_), np.int32), T_world_cam=T, intrinsics=intr,
                          index=i, time_s=i / 15.0)
            w.write_frame(schema.canonical_frame(frame))
        w.finish()
        paths.append(path)
    return paths
