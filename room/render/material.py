"""Procedural wet-mucosa material: seeded 3D noise textures and per-vertex tree coordinates.

The textures tile in world space (indexed by world position in the shader), so any airway mesh is
textured without UV unwrapping. Each channel is white noise band-passed in the Fourier domain,
which makes it periodic by construction:

- colour r: low-frequency mottling (pale <-> red);
- colour g, b: "vessels", ridges ``1 - |n| / (3 sigma)`` of band-passed noise, whose zero sets cut
  the wall surface along thin branching curves (g large vessels, b capillaries, 3x finer);
- alpha: a band-passed bump height field (the shader perturbs normals by its gradient).
"""

from __future__ import annotations

import numpy as np

from room.render.config import MaterialConfig, RenderConfig


def _bandpass(rng: np.random.Generator, n: int, f_lo: float, f_hi: float) -> np.ndarray:
    """Periodic noise with spectrum in [f_lo, f_hi] cycles per tile, zero mean, unit std."""
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
    return field / s


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


TILE_M = 0.024
"""World size of one texture tile (m); with 64 texels, 0.375 mm per texel."""


def make_textures(cfg: RenderConfig) -> dict[str, np.ndarray]:
    """The RGBA8 3D texture (z, y, x, 4) for ``cfg.seed``, ``cfg.texture_size`` and the
    material's length scales (bands in cycles per tile, at least one cycle)."""
    n, m = cfg.texture_size, cfg.material
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x6D75636F]))
    nyq = 0.4 * n

    def band(scale_m: float, lo: float = 0.7, hi: float = 1.4) -> tuple[float, float]:
        f = max(TILE_M / scale_m, 1.0)
        return min(lo * f, nyq / 2), min(hi * f, nyq)

    mott = _bandpass(rng, n, *band(m.color_scale_m, 0.5, 1.5))
    ves = _bandpass(rng, n, *band(m.vessel_scale_m))
    cap = _bandpass(rng, n, *band(m.vessel_scale_m / 3.0))
    height = _bandpass(rng, n, *band(m.bump_scale_m))
    tex = np.stack([
        0.5 + 0.18 * mott,
        1.0 - np.abs(ves) / 3.0,
        1.0 - np.abs(cap) / 3.0,
        0.5 + 0.15 * height,
    ], axis=-1)
    return {"u_tex": _u8(tex)}


def material_uniforms(mat: MaterialConfig) -> dict[str, object]:
    """Shader uniforms of the material (frequencies in 1/m)."""
    alpha = mat.roughness**2
    u = {
        "u_base": np.asarray(mat.base_color, float),
        "u_var": mat.color_variation,
        "u_var_dir": np.asarray(mat.color_variation_rgb, float),
        "u_tex_freq": 1.0 / TILE_M,
        "u_vessel_width": 0.06 * mat.vessel_density,
        "u_vessel_contrast": mat.vessel_contrast,
        "u_ring_freq": 2.0 * np.pi / mat.ring_pitch_m,
        "u_ring_contrast": mat.ring_contrast,
        "u_ring_color": np.asarray(mat.ring_color, float),
        "u_bump_height": mat.bump_strength * mat.bump_scale_m * 0.15,
        "u_bump_scale": mat.bump_scale_m,
        "u_ring_height": mat.ring_bump * mat.ring_pitch_m,
        "u_shininess": min(2.0 / (alpha * alpha) - 2.0, 4096.0),
        "u_f0": mat.specular,
    }
    # float uniforms even for whole-number settings (MaterialConfig(color_variation=0)): the
    # raster sends Python/numpy ints with glUniform1i, which a float uniform rejects
    return {k: np.asarray(v, float) for k, v in u.items()}
