"""Endoscope lighting: LEDs at the scope tip beside the lens (camera frame, OpenCV axes).

Irradiance from light i at a surface point p with unit normal n (all camera frame, metres):
``E = I * spot(angle from +z) * max(n . l, 0) / |L_i - p|^2``, the inverse-square law of a
point source, so the far lumen goes dark as in real bronchoscopy. ``I`` is scaled so that a wall
10 mm straight ahead receives ``intensity`` (the exposure maps radiance to pixel values).
"""

from __future__ import annotations

import numpy as np

from room.render.config import LightConfig

REFERENCE_DISTANCE_M = 0.01


def light_positions(cfg: LightConfig) -> np.ndarray:
    """(count, 3) LED positions in the camera frame: a ring of radius ``offset_m`` in z = 0."""
    a = np.deg2rad(cfg.angle_deg) + 2.0 * np.pi * np.arange(cfg.count) / cfg.count
    return np.stack([cfg.offset_m * np.cos(a), cfg.offset_m * np.sin(a), np.zeros(cfg.count)],
                    axis=1)


def light_uniforms(cfg: LightConfig) -> dict[str, object]:
    """Shader uniforms of the lights."""
    pos = np.zeros((4, 3))
    pos[: cfg.count] = light_positions(cfg)
    scale = cfg.intensity * REFERENCE_DISTANCE_M**2 / cfg.count
    return {
        "u_n_lights": np.int32(cfg.count),
        "u_light_pos": pos,
        "u_light_color": scale * np.asarray(cfg.color, float),
        "u_cos_inner": float(np.cos(np.deg2rad(cfg.inner_cone_deg))),
        "u_cos_outer": float(np.cos(np.deg2rad(cfg.outer_cone_deg))),
        "u_ambient": float(cfg.ambient * cfg.intensity),  # float even for whole numbers
    }
