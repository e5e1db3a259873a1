"""The Cycles RGB backend (render.backend=cycles): geometry, camera, lens and lights agree with
the raster; a tiny render runs; without bpy the error names the extra.

The tests that render need bpy (the ``[cycles]`` extra, installed by ``make setup``) and GL;
without bpy they skip, except the error-message test, which needs neither.
"""

from __future__ import annotations

import importlib.util
import math
import sys

import numpy as np
import pytest

from room.errors import RenderError
from room.render import CameraConfig, LightConfig, MaterialConfig, RenderConfig, make_renderer
from room.render import cycles_look as look
from room.render.cycles_config import CyclesConfig
from room.types import Intrinsics

HAS_BPY = importlib.util.find_spec("bpy") is not None


def _cycles(samples: int = 4, **kw) -> RenderConfig:
    extra = {k: kw.pop(k) for k in list(kw) if k in RenderConfig.__dataclass_fields__}
    return RenderConfig(backend="cycles", cycles=CyclesConfig(samples=samples, denoise=False,
                                                              threads=2, **kw), **extra)


def _side_view(scene, tilt_deg: float = 50.0) -> np.ndarray:
    """A pose on the tube's axis (world z), half way along, looking ``tilt_deg`` off the axis
    towards +x: depth varies across the image and the whole view hits the wall."""
    pts = scene.tree.branches[scene.tree.root].points
    a = math.radians(tilt_deg)
    z = np.array([math.sin(a), 0.0, math.cos(a)])
    y = np.array([0.0, -1.0, 0.0])
    T = np.eye(4)
    T[:3, :3] = np.column_stack([np.cross(y, z), y, z])
    T[:3, 3] = pts[len(pts) // 2]
    return T


# ---------------------------------------------------------------------------- no bpy needed
def test_missing_extra_gives_error_naming_it(monkeypatch, tube):
    monkeypatch.setitem(sys.modules, "bpy", None)  # import bpy -> ImportError
    with pytest.raises(RenderError, match=r"room\[cycles\]") as e:
        make_renderer(tube, CameraConfig(width=32, height=32), _cycles())
    assert "render.backend=cycles" in str(e.value) and "bpy" in str(e.value)


def test_backend_name_is_checked():
    from room.errors import ConfigError

    with pytest.raises(ConfigError, match="render.backend"):
        RenderConfig(backend="blender")
    with pytest.raises(ConfigError, match="render.cycles"):
        CyclesConfig(samples=0)


def test_bpy_pin_is_the_same_everywhere():
    """The extra in pyproject.toml, the Makefile's --no-deps install and the version the
    backend names in its errors are one pin."""
    import re
    import tomllib
    from pathlib import Path

    from room.render.cycles import BPY_VERSION

    root = Path(__file__).resolve().parents[2]
    extra = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["cycles"]
    make = re.search(r"^BPY_VERSION := (\S+)$", (root / "Makefile").read_text(), re.M)
    assert extra == [f"bpy=={BPY_VERSION}"] and make and make.group(1) == BPY_VERSION


def test_texture_lookup_is_gl_trilinear_with_wrap():
    rng = np.random.default_rng(0)
    tex = rng.integers(0, 256, (4, 4, 4, 4), dtype=np.uint8)
    n = 4.0
    # at a texel centre: that texel exactly; half way between two texels along s: their mean
    # (also across the wrap from the last texel to the first)
    p = np.array([[(1 + 0.5) / n, (2 + 0.5) / n, (3 + 0.5) / n],
                  [(1 + 1.0) / n, (2 + 0.5) / n, (0 + 0.5) / n],
                  [(3 + 1.0) / n, (0 + 0.5) / n, (0 + 0.5) / n]])
    got = look.sample_texture(tex, p)
    t = tex.astype(float) / 255
    np.testing.assert_allclose(got[0], t[3, 2, 1], atol=1e-12)
    np.testing.assert_allclose(got[1], 0.5 * (t[0, 2, 1] + t[0, 2, 2]), atol=1e-12)
    np.testing.assert_allclose(got[2], 0.5 * (t[0, 0, 3] + t[0, 0, 0]), atol=1e-12)


def test_spot_cone_equals_raster_cone():
    """Cycles' spot attenuation smoothstep((cos a - cos half) / ((1 - cos half) * blend))
    (intern/cycles/kernel/light/spot.h) with our size and blend is the raster's
    smoothstep(cos outer, cos inner, cos a) at every angle."""
    cfg = LightConfig(inner_cone_deg=30.0, outer_cone_deg=70.0)
    s = look.spot_settings(cfg)
    cos_half = math.cos(s["spot_size"] / 2)
    a = np.linspace(0.0, math.radians(89.0), 500)
    t1 = np.clip((np.cos(a) - cos_half) / ((1 - cos_half) * s["spot_blend"]), 0, 1)
    co, ci = math.cos(math.radians(70.0)), math.cos(math.radians(30.0))
    t2 = np.clip((np.cos(a) - co) / (ci - co), 0, 1)
    np.testing.assert_allclose(t1 * t1 * (3 - 2 * t1), t2 * t2 * (3 - 2 * t2), atol=1e-12)


def test_camera_needs_square_pixels():
    intr = Intrinsics(width=64, height=48, fx=50.0, fy=51.0, cx=31.5, cy=23.5)
    with pytest.raises(RenderError, match="square pixels"):
        look.blender_camera(intr)


# ---------------------------------------------------------------------------- with Cycles
@pytest.mark.gl
@pytest.mark.skipif(not HAS_BPY, reason="bpy ([cycles]) absent")
def test_tube_depth_pass_equals_raster_depth(tube):
    """Cycles' own z-depth pass (point-sampled at pixel centres) against the raster's exact
    depth in a 9 mm tube: the same camera model, pose convention and mesh. Both intersect
    the same float32 triangles, so they agree to float32 rounding (~1e-7 m at 1-3 cm); the
    0.1 mm bound is the issue's."""
    cam = CameraConfig(width=64, height=64, distortion_model="none")
    T = _side_view(tube)
    with make_renderer(tube, cam, _cycles(samples=1, filter_width_px=0.01)) as r:
        _, z_cycles = r.radiance(T)
        z_raster = r.raster.render(T).depth
    hit = z_raster > 0
    assert hit.mean() == 1.0 and (z_cycles > 0).mean() == 1.0
    err = np.abs(z_cycles - z_raster)[hit]
    assert np.median(err) < 1e-4, np.median(err)
    assert np.percentile(err, 99) < 1e-5  # in fact: same surface to float32 rounding


@pytest.mark.gl
@pytest.mark.skipif(not HAS_BPY, reason="bpy ([cycles]) absent")
def test_bifurcation_edges_align_through_the_lens(yscene):
    """Occlusion edges of a bifurcation, seen through the default distorted lens at 128 x 128:
    Cycles' depth pass, rendered as the covering pinhole image and remapped through the lens
    like its RGB, against the raster's ground truth. Mean offset of the edges < 1 px."""
    from scipy.ndimage import distance_transform_edt

    from room.render.camera import bifurcation_view

    T = bifurcation_view(yscene.tree)
    with make_renderer(yscene, CameraConfig(width=128, height=128),
                       _cycles(samples=1, filter_width_px=0.01)) as r:
        _, z_c = r.radiance(T)
        z_r = r.raster.render(T).depth

    def edges(z):
        lz = np.log(np.maximum(z, 1e-4))
        e = np.zeros(z.shape, bool)
        e[:, 1:] |= np.abs(np.diff(lz, axis=1)) > 0.15  # a 15 % depth jump: an occlusion
        e[1:, :] |= np.abs(np.diff(lz, axis=0)) > 0.15
        return e

    ec, er = edges(z_c), edges(z_r)
    assert er.sum() > 50, "the view should show the carina and the two bronchi's rims"
    d_c2r = distance_transform_edt(~er)[ec].mean()
    d_r2c = distance_transform_edt(~ec)[er].mean()
    assert d_c2r < 1.0 and d_r2c < 1.0, (d_c2r, d_r2c)


@pytest.mark.gl
@pytest.mark.skipif(not HAS_BPY, reason="bpy ([cycles]) absent")
def test_led_power_matches_raster(tube):
    """Direct light only (no bounces, no subsurface, no coat, no specular, a uniform albedo,
    fixed exposure): Cycles' radiance of the wall equals the raster's (point LEDs of the same
    intensity, Lambert). Measured 0.3 % apart (pixel-area averaging); bound 2 %."""
    mat = MaterialConfig(specular=0.0, color_variation=0.0, vessel_density=0.0,
                         ring_contrast=0.0, bump_strength=0.0)
    rc = _cycles(samples=16, max_bounces=0, subsurface=0.0, coat=0.0, exposure="fixed",
                 light=LightConfig(ambient=0.0), material=mat)
    T = _side_view(tube, 90.0)
    with make_renderer(tube, CameraConfig(width=48, height=48, distortion_model="none"),
                       rc) as r:
        rad, _ = r.radiance(T)
        color = r.raster._draw(T)[0][..., :3].astype(np.float32)
    c = slice(16, 32)
    ratio = rad[c, c].mean(axis=(0, 1)) / color[c, c].mean(axis=(0, 1))
    np.testing.assert_allclose(ratio, 1.0, atol=0.02)


@pytest.mark.gl
@pytest.mark.skipif(not HAS_BPY, reason="bpy ([cycles]) absent")
def test_tiny_cycles_frame(yscene):
    """A 64 x 64 frame with a few samples and the denoiser: RGB from Cycles, every ground-truth
    modality the raster's, bit for bit; the same seed gives the same image; set_look works."""
    from room.render.camera import bifurcation_view

    T = bifurcation_view(yscene.tree)
    cam = CameraConfig(width=64, height=64)
    rc = RenderConfig(backend="cycles", cycles=CyclesConfig(samples=4, threads=2))
    with make_renderer(yscene, cam, RenderConfig()) as raster:
        ref = raster.render(T)
    with make_renderer(yscene, cam, rc) as r:
        f = r.render(T, index=3)
        again = r.render(T, index=3)
        r.set_look(RenderConfig(backend="cycles", seed=7, cycles=rc.cycles))
        other = r.render(T, index=3)
    assert f.meta["rgb_backend"] == "cycles" and f.meta["cycles"]["samples"] == 4
    for k in ("depth", "normals", "segmentation", "face_id"):
        np.testing.assert_array_equal(getattr(f, k), getattr(ref, k))
    assert f.rgb.shape == (64, 64, 3) and f.rgb.dtype == np.uint8
    lit = f.rgb[f.depth > 0].astype(float)
    assert 40 < lit.mean() < 220 and lit[:, 0].mean() > lit[:, 2].mean()  # lit, reddish
    np.testing.assert_array_equal(again.rgb, f.rgb)
    assert np.abs(other.rgb.astype(int) - f.rgb).mean() > 0.5  # another mucosa pattern
