"""Path-traced RGB with Blender Cycles (``render.backend=cycles``; extra ``[cycles]``: bpy).

:class:`CyclesRenderer` has the :class:`~room.render.renderer.Renderer` interface. Every
ground-truth modality (depth, normals, segmentation, face ids, flow) comes from the exact
raster pass it wraps; Cycles draws only the RGB, in the same image space:

- the same mesh (midpoint-subdivided on its own planes, ``render.cycles.subdivide``), with the
  raster's per-vertex shading normals and per-branch mucosa pattern (albedo and bump height
  from :func:`room.render.cycles_look.vertex_look`: same seeded texture, same formulas);
- mucosa as a Principled BSDF: that albedo, the raster's roughness and specular reflectance,
  subsurface scattering and a wet clear coat;
- the same pinhole camera (the covering pinhole image of a distorted lens, then remapped through
  the same lens model, bilinear, as the raster's lens pass does per pixel);
- the LEDs as zero-radius spot lights at the same positions with the same cone and power; no
  ambient term (Cycles traces the inter-reflections it stands in for); a black world;
- the same exposure (auto: median lit pixel -> target grey, over the raster's hit mask) and
  sRGB encoding, then the same sensor model downstream.

One Blender scene lives per process (bpy is a singleton): it is built once and each frame only
moves the camera (the LEDs are its children) and renders with persistent data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Any

import numpy as np

from room.anatomy.scene import AirwayScene
from room.errors import RenderError
from room.render import camera as cam
from room.render import cycles_look as look
from room.render import meshprep
from room.render.config import RenderConfig
from room.render.light import light_positions
from room.render.material import material_uniforms
from room.transforms import check_rigid
from room.types import Frame

BPY_VERSION = "4.5.15"
"""The bpy release this backend is written and tested against (Blender 4.5 LTS)."""

INSTALL_HINT = (f"pip install 'room[cycles]', or keep numpy 2: pip install --no-deps "
                f"bpy=={BPY_VERSION} (see docs/rendering.md)")

_LIVE: list[Any] = []  # the CyclesRenderer that owns the bpy scene, if any


@contextlib.contextmanager
def _quiet():
    """Silence file descriptors 1 and 2 (Blender prints render progress and, at import, a
    warning from its bundled OpenImageIO/OpenColorIO Python bindings, built for numpy 1.x,
    which room never imports)."""
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def import_bpy():
    """The bpy module, or RenderError naming the extra to install."""
    try:
        with _quiet():
            import bpy
    except ImportError as e:
        raise RenderError(f"render.backend=cycles needs Blender's bpy module, which is not "
                          f"installed ({e}): {INSTALL_HINT}") from None
    return bpy


def _principled(bpy, mat_cfg, cyc) -> Any:
    """The mucosa material: per-vertex albedo, shading normal and bump height into a
    Principled BSDF (subsurface, wet coat)."""
    mat = bpy.data.materials.new("mucosa")
    mat.use_nodes = True
    nt = mat.node_tree
    nt.nodes.clear()
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    bsdf = nt.nodes.new("ShaderNodeBsdfPrincipled")
    attr = {}
    for name in ("albedo", "nrm", "height"):
        attr[name] = nt.nodes.new("ShaderNodeAttribute")
        attr[name].attribute_name = name
    norm = nt.nodes.new("ShaderNodeVectorMath")
    norm.operation = "NORMALIZE"
    bump = nt.nodes.new("ShaderNodeBump")
    bump.inputs["Distance"].default_value = 1.0  # the height attribute is in metres
    bump.inputs["Strength"].default_value = 1.0
    nt.links.new(attr["nrm"].outputs["Vector"], norm.inputs[0])
    nt.links.new(norm.outputs["Vector"], bump.inputs["Normal"])
    nt.links.new(attr["height"].outputs["Fac"], bump.inputs["Height"])
    nt.links.new(attr["albedo"].outputs["Color"], bsdf.inputs["Base Color"])
    nt.links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    nt.links.new(bump.outputs["Normal"], bsdf.inputs["Coat Normal"])
    nt.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    f0 = float(material_uniforms(mat_cfg)["u_f0"])
    ior = (1.0 + f0**0.5) / (1.0 - f0**0.5)  # Fresnel at normal incidence = the raster's f0
    inputs = {"Roughness": mat_cfg.roughness, "IOR": ior, "Subsurface Weight": cyc.subsurface,
              "Subsurface Radius": tuple(cyc.subsurface_radius_m), "Subsurface Scale": 1.0,
              "Coat Weight": cyc.coat, "Coat Roughness": cyc.coat_roughness,
              "Coat IOR": cyc.coat_ior}
    for k, v in inputs.items():
        bsdf.inputs[k].default_value = v
    return mat


class _BlenderScene:
    """The bpy scene: mesh + material, camera with its LEDs, Cycles and compositor settings."""

    def __init__(self, bpy, gm, origin: np.ndarray, render: RenderConfig, intr) -> None:
        self.bpy = bpy
        with _quiet():
            bpy.ops.wm.read_factory_settings(use_empty=True)
        sc = self.sc = bpy.context.scene
        sc.render.engine = "CYCLES"
        sc.cycles.device = "CPU"
        sc.render.use_persistent_data = True  # keep the BVH between frames
        sc.render.compositor_device = "CPU"  # no Blender GL context beside the raster's
        world = bpy.data.worlds.new("black")
        world.use_nodes = False
        world.color = (0.0, 0.0, 0.0)
        sc.world = world
        sc.view_settings.view_transform = "Standard"
        self._mesh_gm, self._origin = gm, origin
        self.obj = self._mesh(render)
        self.cam = self._camera(intr)
        self.lights: list[Any] = []
        self._compositor()
        self.configure(render)

    def _mesh(self, render: RenderConfig):
        bpy, gm = self.bpy, self._mesh_gm
        pos, faces, attrs = look.subdivide(
            gm.positions - self._origin, gm.faces, {"n": gm.normals, "tree": gm.tree},
            render.cycles.subdivide)
        self.pos, self.tree, self.branches = pos, attrs["tree"], gm.branches
        me = bpy.data.meshes.new("airway")
        me.vertices.add(len(pos))
        me.vertices.foreach_set("co", pos.astype(np.float32).ravel())
        me.loops.add(faces.size)
        me.loops.foreach_set("vertex_index", faces.astype(np.int32).ravel())
        me.polygons.add(len(faces))
        me.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
        me.update()
        n = attrs["n"] / (np.linalg.norm(attrs["n"], axis=1, keepdims=True) + 1e-30)
        me.attributes.new("nrm", "FLOAT_VECTOR", "POINT").data.foreach_set(
            "vector", n.astype(np.float32).ravel())
        me.color_attributes.new("albedo", "FLOAT_COLOR", "POINT")
        me.attributes.new("height", "FLOAT", "POINT")
        obj = bpy.data.objects.new("airway", me)
        self.sc.collection.objects.link(obj)
        return obj

    def set_pattern(self, render: RenderConfig) -> None:
        """Per-vertex albedo and bump height of ``render``'s seed and material."""
        albedo, height = look.vertex_look(self.pos, self.tree, self.branches, render)
        rgba = np.concatenate([albedo, np.ones((len(albedo), 1))], axis=1)
        me = self.obj.data
        me.attributes["albedo"].data.foreach_set("color", rgba.astype(np.float32).ravel())
        me.attributes["height"].data.foreach_set("value", height.astype(np.float32))
        me.update()

    def _camera(self, intr):
        bpy = self.bpy
        data = bpy.data.cameras.new("tip")
        obj = bpy.data.objects.new("tip", data)
        self.sc.collection.objects.link(obj)
        self.sc.camera = obj
        s = look.blender_camera(intr)
        for k in ("sensor_fit", "sensor_width", "sensor_height", "lens", "shift_x", "shift_y",
                  "clip_start", "clip_end"):
            setattr(data, k, s[k])
        r = self.sc.render
        r.resolution_x, r.resolution_y, r.resolution_percentage = (
            s["resolution_x"], s["resolution_y"], 100)
        r.pixel_aspect_x = r.pixel_aspect_y = 1.0
        return obj

    def _compositor(self) -> None:
        """Render layer -> File Output: float32 OpenEXR of the radiance and of the depth pass,
        read back through bpy (exact floats; no colour management on linear EXR)."""
        import tempfile

        sc = self.sc
        sc.view_layers[0].use_pass_z = True
        sc.use_nodes = True
        nt = sc.node_tree
        nt.nodes.clear()
        rl = nt.nodes.new("CompositorNodeRLayers")
        comp = nt.nodes.new("CompositorNodeComposite")
        nt.links.new(rl.outputs["Image"], comp.inputs["Image"])
        self._dir = tempfile.TemporaryDirectory(prefix="room_cycles_")
        fo = nt.nodes.new("CompositorNodeOutputFile")
        fo.base_path = self._dir.name
        fo.format.file_format = "OPEN_EXR"
        fo.format.color_depth = "32"
        fo.format.color_mode = "RGB"
        fo.format.exr_codec = "NONE"
        fo.file_slots.clear()
        for name, socket in (("rgb_", "Image"), ("depth_", "Depth")):
            fo.file_slots.new(name)
            nt.links.new(rl.outputs[socket], fo.inputs[name])

    def _read(self, prefix: str) -> np.ndarray:
        """(H, W, 4) float32 of the EXR just written for ``prefix`` (top row first)."""
        path = os.path.join(self._dir.name, f"{prefix}{self.sc.frame_current:04d}.exr")
        if not os.path.exists(path):
            raise RenderError(f"Cycles wrote no {path}; is bpy {BPY_VERSION} installed?")
        img = self.bpy.data.images.load(path, check_existing=False)
        try:
            w, h = img.size
            buf = np.empty(w * h * 4, np.float32)
            img.pixels.foreach_get(buf)
        finally:
            self.bpy.data.images.remove(img)
            os.remove(path)
        return buf.reshape(h, w, 4)[::-1]

    def sampling(self, cyc) -> None:
        """Samples, denoiser, bounces, pixel filter and threads of ``render.cycles``."""
        sc = self.sc
        c = sc.cycles
        c.samples = cyc.samples
        c.use_adaptive_sampling = False
        c.use_denoising = cyc.denoise
        if cyc.denoise:
            c.denoiser = "OPENIMAGEDENOISE"
            c.denoising_input_passes = "RGB_ALBEDO_NORMAL"
            c.denoising_prefilter = "ACCURATE"
            c.denoising_use_gpu = False
        c.max_bounces = cyc.max_bounces
        c.caustics_reflective = c.caustics_refractive = False
        c.filter_width = cyc.filter_width_px
        c.use_animated_seed = False
        sc.render.threads_mode = "FIXED" if cyc.threads else "AUTO"
        if cyc.threads:
            sc.render.threads = cyc.threads

    def configure(self, render: RenderConfig) -> None:
        """Sampling, material, lights and pattern of ``render``."""
        bpy, cyc = self.bpy, render.cycles
        self.sampling(cyc)
        old = self.obj.data.materials
        old.clear()
        old.append(_principled(bpy, render.material, cyc))
        for lo in self.lights:
            bpy.data.objects.remove(lo, do_unlink=True)
        self.lights = []
        spot = look.spot_settings(render.light)
        for i, p in enumerate(light_positions(render.light)):
            data = bpy.data.lights.new(f"led{i}", "SPOT")
            for k, v in spot.items():
                setattr(data, k, v)
            lo = bpy.data.objects.new(f"led{i}", data)
            lo.parent = self.cam  # Blender camera axes: x right, y up, looking down -z
            lo.location = (float(p[0]), -float(p[1]), -float(p[2]))
            self.sc.collection.objects.link(lo)
            self.lights.append(lo)
        self.set_pattern(render)

    def draw(self, T_world_cam: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Linear radiance (H, W, 3) float32 and Cycles' z-depth (H, W) float32 m (0 = none) of
        the pinhole render at the OpenCV pose ``T_world_cam``."""
        from mathutils import Matrix

        T = T_world_cam.copy()
        T[:3, 3] -= self._origin
        self.cam.matrix_world = Matrix((T @ cam.T_GL_CV).tolist())
        self.sc.cycles.seed = int(seed) % (2**31)
        with _quiet():
            self.bpy.ops.render.render(write_still=False)
        rad = np.ascontiguousarray(self._read("rgb_")[..., :3])
        z = self._read("depth_")[..., 0]
        return rad, np.where(z < 1e9, z, 0.0).astype(np.float32)

    def close(self) -> None:
        with _quiet():
            self.bpy.ops.wm.read_factory_settings(use_empty=True)
        self._dir.cleanup()


class CyclesRenderer:
    """RGB from Blender Cycles, ground truth from the exact raster (see module docstring).

    Same interface as :class:`~room.render.renderer.Renderer`. One per process at a time (bpy
    holds a single scene): close it (or use ``with``) before making another.
    """

    rgb_backend = "cycles"

    def __init__(self, scene: AirwayScene, camera: cam.CameraConfig | None = None,
                 render: RenderConfig | None = None, cull: bool = True) -> None:
        from room.render.renderer import Renderer

        bpy = import_bpy()
        if _LIVE:
            raise RenderError("a CyclesRenderer is already open in this process (Blender holds "
                              "one scene): close it first")
        render = render or RenderConfig(backend="cycles")
        self.raster = Renderer(scene, camera, render, cull=cull)
        self.scene, self.config = scene, render
        self.camera_config, self.intrinsics = self.raster.camera_config, self.raster.intrinsics
        self.gl_info = self.raster.gl_info
        self.version = bpy.app.version_string
        cover = self.raster._gl_intr  # the covering pinhole image of a distorted lens
        self._map = None
        if self.intrinsics.is_distorted:
            rays = cam._pixel_rays(self.intrinsics).astype(np.float64)
            self._map = ((rays[..., 0] * cover.fx + cover.cx).astype(np.float32),
                         (rays[..., 1] * cover.fy + cover.cy).astype(np.float32))
        gm = meshprep.prepare(scene.mesh, scene.face_branch, scene.tree,
                              ring_max_generation=render.material.ring_max_generation)
        _LIVE.append(self)
        try:
            self._blender = _BlenderScene(bpy, gm, self.raster._origin, render, cover)
        except BaseException:
            self.close()
            raise

    @property
    def rgb_info(self) -> dict[str, Any]:
        """What drew the RGB (for info.json and frame metadata)."""
        c = self.config.cycles
        return {"backend": "cycles", "blender": self.version, "samples": c.samples,
                "denoise": "openimagedenoise" if c.denoise else "none",
                "max_bounces": c.max_bounces, "subdivide": c.subdivide}

    def set_look(self, render: RenderConfig) -> None:
        """Switch to another look (lights, material, pattern, Cycles settings) without rebuilding
        the scene; ``cycles.subdivide`` and ``material.ring_max_generation`` cannot change."""
        if render.cycles.subdivide != self.config.cycles.subdivide:
            raise RenderError("set_look cannot change render.cycles.subdivide: make a new "
                              "renderer")
        self.raster.set_look(render)
        sampling_only = ("samples", "denoise", "threads", "max_bounces", "filter_width_px",
                         "seed")
        old = dataclasses.replace(self.config, cycles=dataclasses.replace(
            self.config.cycles, **{k: getattr(render.cycles, k) for k in sampling_only}))
        if old == render:  # only sampling settings changed: keep material, lights, pattern
            self._blender.sampling(render.cycles)
        elif render != self.config:
            self._blender.configure(render)
        self.config = render

    def radiance(self, T_world_cam: np.ndarray, index: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Cycles' linear radiance (H, W, 3) float32 and its own z-depth pass (H, W) float32 m,
        in the output (distorted) image space: the covering pinhole render remapped through the
        lens model (radiance bilinear, depth nearest)."""
        import cv2

        T = check_rigid(T_world_cam, "T_world_cam")
        seed = self.config.cycles.seed + self.config.seed + int(index)
        rad, depth = self._blender.draw(T, seed)
        if self._map is not None:
            rad = cv2.remap(rad, *self._map, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            depth = cv2.remap(depth, np.round(self._map[0]), np.round(self._map[1]),
                              cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
        return rad, depth

    def _rgb(self, T: np.ndarray, index: int, hit: np.ndarray) -> tuple[np.ndarray, float]:
        rad, _ = self.radiance(T, index)
        color = np.minimum(rad, 6e4).astype(np.float16)
        gain = self.raster._gain(color, hit)
        return self.raster._encode(color, gain), gain

    def render(self, T_world_cam: np.ndarray, index: int = 0, time_s: float = 0.0) -> Frame:
        """Every modality at ``T_world_cam``: ground truth from the raster, RGB from Cycles."""
        f = self.raster.render(T_world_cam, index=index, time_s=time_s)
        rgb, gain = self._rgb(f.T_world_cam, index, f.face_id >= 0)
        meta = {**f.meta, "exposure_gain": float(gain), "rgb_backend": "cycles",
                "renderer": f"Blender Cycles {self.version} (RGB); room.render OpenGL (ground "
                            "truth)", "cycles": self.rgb_info}
        return dataclasses.replace(f, rgb=rgb.copy(), rgb_clean=rgb, meta=meta)

    def render_rgbd(self, T_world_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """RGB (Cycles) and z-depth (raster) at ``T_world_cam``."""
        T = check_rigid(T_world_cam, "T_world_cam")
        _, depth = self.raster.render_rgbd(T)
        return self._rgb(T, 0, depth > 0)[0], depth

    def optical_flow(self, frame_a: Frame, frame_b: Frame, rel_tol: float | None = None):
        """Flow from the raster's GL pass (see Renderer.optical_flow)."""
        return self.raster.optical_flow(frame_a, frame_b, rel_tol)

    def close(self) -> None:
        """Free the Blender scene and the raster (idempotent)."""
        if self in _LIVE:
            _LIVE.remove(self)
            b = getattr(self, "_blender", None)
            if b is not None:
                b.close()
                self._blender = None
        if getattr(self, "raster", None) is not None:
            self.raster.close()
            self.raster = None

    def __enter__(self) -> CyclesRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
