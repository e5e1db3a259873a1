"""Procedural wet-mucosa material: seeded 3D noise textures and per-vertex tree coordinates.

The textures tile in world space (indexed by world position in the shader), so any airway mesh is
textured without UV unwrapping. Each channel is white noise band-passed in the Fourier domain,
which makes it periodic by construction:

- colour r: low-frequency mottling (pale <-> red);
- colour g, b: "vessels", ridges ``1 - |n| / (3 sigma)`` of band-passed noise, whose zero sets cut
  the wall surface along thin branching curves (g large vessels, b capillaries, 3x finer);
- bump rgb: gradient of a band-passed height field (for normal perturbation), a: the height.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from room.anatomy.scene import AirwayScene
from room.render.config import MaterialConfig, RenderConfig


def _bandpass(rng: np.random.Generator, n: int, f_lo: float, f_hi: float,
              grad: bool = False) -> np.ndarray:
    """Periodic noise with spectrum in [f_lo, f_hi] cycles per tile, zero mean, unit std.
    With ``grad``, returns (field, gradient (3, n, n, n) in units of std per tile)."""
    white = rng.standard_normal((n, n, n))
    k = np.fft.fftfreq(n, d=1.0 / n)
    kz, ky, kx = np.meshgrid(k, k, k, indexing="ij")
    kr = np.sqrt(kx**2 + ky**2 + kz**2)
    sigma = 0.5 * (f_hi - f_lo) + 1e-9
    mid = 0.5 * (f_lo + f_hi)
    env = np.exp(-0.5 * ((kr - mid) / sigma) ** 2)
    env[0, 0, 0] = 0.0
    spec = np.fft.fftn(white) * env
    field = np.real(np.fft.ifftn(spec))
    s = field.std() + 1e-12
    field /= s
    if not grad:
        return field
    g = [np.real(np.fft.ifftn(spec * (2j * np.pi * kk))) / s for kk in (kz, ky, kx)]
    return field, np.stack(g[::-1])  # x, y, z order


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def make_textures(cfg: RenderConfig) -> dict[str, np.ndarray]:
    """The two RGBA8 3D textures (z, y, x, 4) for ``cfg.seed`` and ``cfg.texture_size``."""
    n = cfg.texture_size
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x6D75636F]))
    mott = _bandpass(rng, n, 1.0, 4.0)
    ves = _bandpass(rng, n, 3.0, 6.0)
    cap = _bandpass(rng, n, 9.0, 16.0)
    height, grad = _bandpass(rng, n, 4.0, 8.0, grad=True)
    color = np.stack([
        0.5 + 0.18 * mott,
        1.0 - np.abs(ves) / 3.0,
        1.0 - np.abs(cap) / 3.0,
        np.full_like(mott, 0.5),
    ], axis=-1)
    gmax = np.abs(grad).max() + 1e-12
    bump = np.concatenate([0.5 + 0.5 * np.moveaxis(grad, 0, -1) / gmax,
                           (0.5 + 0.15 * height)[..., None]], axis=-1)
    return {"u_tex_color": _u8(color), "u_tex_bump": _u8(bump)}


def tree_coordinates(scene: AirwayScene, vertices: np.ndarray,
                     mat: MaterialConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex (arclength along its branch in m, cartilage-ring weight 0..1) and the branch
    direction (unit, world), from the nearest centerline sample.

    The ring weight is 1 in generations <= ``ring_max_generation`` and fades to 0 within one
    radius of a branch's ends that meet a bifurcation (no rings across the carina).
    """
    pts, s_all, r_all, gen, dirs, length, is_root = [], [], [], [], [], [], []
    for b in scene.tree:
        s = b.arclength()
        n = max(2, int(np.ceil(s[-1] / max(0.25 * float(np.min(b.radii)), 1e-4))) + 1)
        t = np.linspace(0.0, s[-1], n)
        p = np.stack([np.interp(t, s, b.points[:, k]) for k in range(3)], axis=1)
        d = np.gradient(p, axis=0)
        d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-12
        pts.append(p)
        s_all.append(t)
        r_all.append(np.interp(t, s, b.radii))
        gen.append(np.full(n, b.generation))
        dirs.append(d)
        length.append(np.full(n, s[-1]))
        is_root.append(np.full(n, b.parent < 0))
    p, s, r = np.concatenate(pts), np.concatenate(s_all), np.concatenate(r_all)
    g, d, L, root = (np.concatenate(x) for x in (gen, dirs, length, is_root))
    _, i = cKDTree(p).query(vertices)
    start = np.where(root[i], 1.0, np.clip(s[i] / r[i] - 0.5, 0.0, 1.0))
    end = np.clip((L[i] - s[i]) / r[i] - 1.0, 0.0, 1.0)
    w = (g[i] <= mat.ring_max_generation) * start * end
    return np.stack([s[i], w], axis=1).astype(np.float32), d[i].astype(np.float32)


def material_uniforms(mat: MaterialConfig) -> dict[str, object]:
    """Shader uniforms of the material (frequencies in 1/m)."""
    alpha = mat.roughness**2
    return {
        "u_base": np.asarray(mat.base_color, float),
        "u_var": mat.color_variation,
        "u_color_freq": 1.0 / (4.0 * mat.color_scale_m),
        "u_vessel_freq": 1.0 / (4.5 * mat.vessel_scale_m),
        "u_vessel_width": 0.06 * mat.vessel_density,
        "u_vessel_contrast": mat.vessel_contrast,
        "u_ring_freq": 2.0 * np.pi / mat.ring_pitch_m,
        "u_ring_contrast": mat.ring_contrast,
        "u_ring_color": np.asarray(mat.ring_color, float),
        "u_bump": mat.bump_strength,
        "u_bump_freq": 1.0 / (6.0 * mat.bump_scale_m),
        "u_shininess": min(2.0 / (alpha * alpha) - 2.0, 4096.0),
        "u_f0": mat.specular,
    }
