"""Pure-numpy half of the Cycles backend: the raster's look and camera in Blender's terms.

- :func:`vertex_look`: the raster shader's mucosa (3D-texture mottling, vessels, capillaries,
  cartilage rings, bump height; :data:`room.render.shaders.SHADE_COMMON`) evaluated at mesh
  vertices, the same formulas and the same seeded texture (:func:`make_textures`), sampled
  trilinearly with wrap-around as GL does. Cycles interpolates them over each triangle.
- :func:`subdivide`: midpoint subdivision that keeps every triangle on its own plane.
- :func:`blender_camera`: the pinhole intrinsics as a Blender camera (lens, sensor shift).
- :func:`spot_settings`: an LED of :mod:`room.render.light` as a Cycles spot light.

No bpy here, so all of it is tested without Blender.
"""

from __future__ import annotations

import math

import numpy as np

from room.errors import RenderError
from room.render.config import LightConfig, RenderConfig
from room.render.light import REFERENCE_DISTANCE_M
from room.render.material import TILE_M, make_textures, material_uniforms
from room.types import Intrinsics

SENSOR_MM = 36.0
"""Blender sensor size (mm) used for the camera; only lens / sensor matters."""


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    if e1 <= e0:  # a zero-width edge (vessel_density = 0): no vessels
        return np.zeros_like(x)
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def sample_texture(tex: np.ndarray, p: np.ndarray) -> np.ndarray:
    """GL's trilinear, repeat-wrapped lookup of an RGBA8 3D texture ``tex`` (z, y, x, 4) at
    texture coordinates ``p`` (N, 3: s, t, r; one tile per unit). Returns (N, 4) in [0, 1]."""
    n = np.array(tex.shape[2::-1], dtype=np.float64)  # sizes along s (x), t (y), r (z)
    c = p * n - 0.5  # texel centres sit at (i + 0.5) / n
    i0 = np.floor(c).astype(np.int64)
    f = c - i0
    out = np.zeros((len(p), 4))
    t = tex.astype(np.float64) / 255.0
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                w = ((f[:, 0] if dx else 1 - f[:, 0]) * (f[:, 1] if dy else 1 - f[:, 1])
                     * (f[:, 2] if dz else 1 - f[:, 2]))
                ix = (i0[:, 0] + dx) % tex.shape[2]
                iy = (i0[:, 1] + dy) % tex.shape[1]
                iz = (i0[:, 2] + dz) % tex.shape[0]
                out += w[:, None] * t[iz, iy, ix]
    return out


def vertex_look(pos: np.ndarray, tree: np.ndarray, branches: np.ndarray,
                cfg: RenderConfig) -> tuple[np.ndarray, np.ndarray]:
    """Linear albedo (V, 3) and bump height (V,) in metres at vertices ``pos`` (world minus the
    renderer's origin, m) with tree coordinates ``tree`` (V, 2: arclength m, branch row) and
    the branch table ``branches`` (see room.render.meshprep). The raster shader's formulas
    without its pixel-footprint fades (the path tracer filters over its samples instead)."""
    u = material_uniforms(cfg.material)
    tx = sample_texture(make_textures(cfg)["u_tex"], pos * (1.0 / TILE_M))
    base = np.asarray(u["u_base"], float)
    albedo = base * (1.0 + u["u_var"] * (tx[:, :1] - 0.5) * np.array([0.6, 1.4, 1.2]))
    vw = float(u["u_vessel_width"])
    vessel = np.maximum(_smoothstep(1.0 - vw, 1.0, tx[:, 1]),
                        0.6 * _smoothstep(1.0 - 0.7 * vw, 1.0, tx[:, 2]))
    albedo *= 1.0 - u["u_vessel_contrast"] * vessel[:, None] * np.array([0.25, 0.75, 0.65])
    s = tree[:, 0].astype(np.float64)
    br = branches[np.clip(tree[:, 1].astype(np.int64), 0, len(branches) - 1)].astype(np.float64)
    fade_in = np.where(br[:, 0] > 1.5, 1.0, np.clip(s / br[:, 1] - 0.5, 0.0, 1.0))
    w = np.mod(br[:, 0], 2.0) * fade_in * np.clip((br[:, 2] - s) / br[:, 1] - 1.0, 0.0, 1.0)
    c = 0.5 + 0.5 * np.cos(s * u["u_ring_freq"])
    ring = w * c**4
    a = (u["u_ring_contrast"] * ring)[:, None]
    albedo = albedo * (1.0 - a) + np.asarray(u["u_ring_color"], float) * a
    height = u["u_bump_height"] * tx[:, 3] + u["u_ring_height"] * ring
    return np.clip(albedo, 0.0, 1.0), height


def subdivide(pos: np.ndarray, faces: np.ndarray, attrs: dict[str, np.ndarray],
              times: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Split every triangle into 4 at its edge midpoints, ``times`` times. New vertices lie on
    the old triangles' planes (the surface is unchanged) and take the mean of the edge's two
    vertex attributes (what barycentric interpolation gives there)."""
    from trimesh.remesh import subdivide as tm_subdivide

    for _ in range(times):
        pos, faces, attrs = tm_subdivide(pos, faces, vertex_attributes=attrs)
    return np.asarray(pos), np.asarray(faces), {k: np.asarray(v) for k, v in attrs.items()}


def blender_camera(intr: Intrinsics) -> dict[str, float | int | str]:
    """Blender camera settings with the pinhole projection of ``intr`` (OpenCV convention:
    pixel centres at integer coordinates, so the optical axis is ``cx + 0.5`` px from the left
    edge). Sensor fit and shift refer to the larger image side. Square pixels only."""
    if not math.isclose(intr.fx, intr.fy, rel_tol=1e-9):
        raise RenderError(f"render.backend=cycles needs square pixels (fx = fy); got fx={intr.fx},"
                          f" fy={intr.fy}: set camera.fy equal to camera.fx or use the raster")
    w, h = intr.width, intr.height
    m = max(w, h)
    return {"resolution_x": w, "resolution_y": h, "sensor_fit": "HORIZONTAL" if w >= h
            else "VERTICAL", "sensor_width": SENSOR_MM, "sensor_height": SENSOR_MM,
            "lens": intr.fx * SENSOR_MM / m, "shift_x": (0.5 * w - intr.cx - 0.5) / m,
            "shift_y": (intr.cy + 0.5 - 0.5 * h) / m, "clip_start": intr.near,
            "clip_end": intr.far}


WATTS_PER_INTENSITY = 4.0 * math.pi
"""Cycles gives a point or spot light of power P (W) the radiant intensity P / (4 pi) W/sr;
the raster's light colour is that intensity (irradiance at 1 m)."""


def spot_settings(cfg: LightConfig) -> dict[str, object]:
    """One LED as a Cycles spot light: same smooth cone (Cycles' ``smoothstep((cos a - cos
    half) / ((1 - cos half) * blend))`` equals the raster's ``smoothstep(cos outer, cos inner,
    cos a)`` with half = outer and blend = (cos inner - cos outer) / (1 - cos outer)), zero
    radius (a point source, inverse-square falloff), the same power per LED."""
    cos_in, cos_out = math.cos(math.radians(cfg.inner_cone_deg)), math.cos(
        math.radians(cfg.outer_cone_deg))
    per_led = cfg.intensity * REFERENCE_DISTANCE_M**2 / cfg.count
    return {"spot_size": 2.0 * math.radians(cfg.outer_cone_deg),
            "spot_blend": (cos_in - cos_out) / (1.0 - cos_out),
            "shadow_soft_size": 0.0, "energy": WATTS_PER_INTENSITY * per_led,
            "color": tuple(float(c) for c in cfg.color)}
