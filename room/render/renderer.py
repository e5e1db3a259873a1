"""The renderer: an :class:`AirwayScene` and a camera pose in, one fixed-shape :class:`Frame` out.

OpenGL (see :mod:`room.render.shaders`) gives linear radiance, exact triangle ids, and for each
pixel the camera-frame normal of its triangle and the z-depth of the pixel's own ray on that
triangle's plane (float32, camera-relative; ``_depth_normals`` is the float64 numpy reference
the tests compare against).

With lens distortion GL renders a wider pinhole image covering the distorted field of view; a
last pass gives each distorted pixel its own ray (inverse lens model, cached), finds the
triangle that ray really hits among the triangles at the nearest and the 2 x 2 surrounding
pinhole pixels (ray-triangle test), and shades it there, with depth and normal from that
triangle and that ray. Rays that hit none of them (sub-pixel triangles far down the lumen,
occlusion edges) are cast with Embree and solved in float64 (their colour comes from the plane
of the nearest pixel's triangle). Every ground-truth modality is thus exact for the distorted
pixel's own ray, in the same image space as the RGB.

Culling (``cull=True``, the default) sends the rasterizer only triangles that can be seen:
chunks inside the view frustum that pass an occlusion test (:mod:`room.render.culling`), and,
when the mesh is closed and its normals face the lumen, only front faces. Frustum and occlusion
culling leave the frame bit for bit as it was; back-face culling changes at most a few pixels,
where the unculled rasterizer let a back face through at a silhouette or two surfaces tie in
depth (tests/render/test_culling.py). For a closed mesh ``meta['outside']`` then comes from
whether the camera centre lies inside the mesh (a ray cast) instead of counting pixels that see
the wall's outer side, because back faces are no longer drawn.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from room.anatomy.scene import AirwayScene
from room.errors import ConfigError, RenderError
from room.render import camera as cam
from room.render import culling, meshprep
from room.render.config import RenderConfig
from room.render.light import light_uniforms
from room.render.material import make_textures, material_uniforms
from room.transforms import check_rigid, invert
from room.types import BACKGROUND_ID, Frame, Intrinsics

SF_CACHE = 2
"""Scene flows kept (the last pairs): a generated frame asks for its forward flow (a -> next),
its backward flow (a -> previous) and its scene flow (a -> next again), so two are needed for
the third to find the first."""

OUTSIDE_FRACTION = 0.5
"""A frame whose hit pixels mostly see the outer side of the wall was taken from outside."""


def _srgb_encode(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.nan_to_num(x, nan=0.0, posinf=1.0), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def _srgb_decode(y: float) -> float:
    return y / 12.92 if y <= 0.04045 else ((y + 0.055) / 1.055) ** 2.4


_F16_VALUES = np.nan_to_num(
    np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32),
    nan=0.0, posinf=1e4, neginf=0.0)
"""Every float16 bit pattern as float32: a per-frame 64k-entry table maps radiance to sRGB."""


def _closed_inward(mesh) -> bool:
    """Closed, consistently wound, normals into the enclosed volume (the lumen): then a camera
    inside sees front faces only and back faces may be culled."""
    return bool(mesh.is_watertight and mesh.is_winding_consistent and mesh.volume < 0)


class _IdMaps(NamedTuple):
    """What Renderer._draw derives from the face ids besides them: the segmentation (H, W)
    (BACKGROUND_ID where nothing was hit), and the numbers of hit pixels and of pixels that
    see the wall from outside."""

    segmentation: np.ndarray
    n_hit: int
    n_outside: int


class Renderer:
    """Offscreen renderer of one scene with one camera and one look (see module docstring).

    Use as a context manager or call :meth:`close`. Not thread-safe; one per process is typical,
    several are fine (each owns a GL context).
    """

    def __init__(self, scene: AirwayScene, camera: cam.CameraConfig | None = None,
                 render: RenderConfig | None = None, cull: bool = True,
                 motion: Any = None) -> None:
        """``motion``: a :class:`room.anatomy.motion.BreathingMotion` of this scene (the mesh
        moves with each frame's ``time_s``, see :meth:`set_time`), or None (rigid)."""
        from room.render import gl

        self.scene = scene
        self.camera_config = camera or cam.CameraConfig()
        self.config = render or RenderConfig()
        self.intrinsics: Intrinsics = self.camera_config.intrinsics()
        mesh = scene.mesh
        if mesh is None or len(mesh.faces) == 0:
            raise RenderError("the scene's visual mesh is empty; rebuild the scene")
        if len(scene.face_branch) != len(mesh.faces):
            raise RenderError("scene.face_branch does not match the mesh faces; rebuild the scene")
        self._gl_intr = self._pinhole_cover(self.intrinsics)
        self._vertices = np.asarray(mesh.vertices, dtype=np.float64)
        self._faces = np.asarray(mesh.faces, dtype=np.int64)
        fnormals = np.asarray(mesh.face_normals, dtype=np.float64)
        self._origin = self._vertices.mean(axis=0)
        # the current shape's float64 face planes (unit normals, n . (v0 - origin)): None after
        # a move until the CPU side needs them (_face_planes); with a -1 sentinel row (_ext)
        self._planes: tuple[np.ndarray, np.ndarray] | None = (fnormals, np.einsum(
            "ij,ij->i", fnormals, self._vertices[self._faces[:, 0]] - self._origin))
        self._planes_ext: tuple[np.ndarray, np.ndarray] | None = None
        self._branch = np.append(np.asarray(scene.face_branch), BACKGROUND_ID).astype(np.int32)
        self._ctx = gl.Context()
        self.gl_info: dict[str, str] = dict(self._ctx.info)
        #: where optical_flow runs: "cpu" (numba) on a software rasterizer, else "gl"
        self.flow_backend = "cpu" if gl.is_software(self.gl_info) else "gl"
        from room.render.raster import Raster

        gm = meshprep.prepare(mesh, scene.face_branch, scene.tree,
                              ring_max_generation=self.config.material.ring_max_generation)
        pos = gm.positions - self._origin
        chunks = culling.make_chunks(pos, gm.faces) if cull else None
        self._moving: Any = None
        self._gm, self._chunks0, self._chunk_vertices = gm, chunks, None
        self._gm_normals = np.ascontiguousarray(gm.normals, np.float64)
        self._arclength: np.ndarray | None = None
        self._ref_vertices = self._vertices
        self._time: float | None = None
        order = chunks.order if cull else np.arange(len(gm.faces))
        self._order = order
        self._closed = bool(cull and _closed_inward(mesh))
        n = len(order)  # GL face k is scene face order[k]; raw ids -2 - k map likewise
        self._id_lut = np.concatenate([-2 - order[::-1], [-1], order]).astype(np.int32)
        self._raster = Raster(
            self._gl_intr.width, self._gl_intr.height,
            [pos.astype(np.float32), gm.normals.astype(np.float32), gm.tree],
            gm.faces[order], gm.branches,
            np.column_stack(self._planes)[order],
            make_textures(self.config),
            lens_rays=cam._pixel_rays(self.intrinsics) if self.intrinsics.is_distorted else None,
            chunks=chunks, near=self._gl_intr.near, cull_back=self._closed,
        )
        self._n_faces = n
        self._proj = cam.gl_projection(self._gl_intr)
        self._static = {**light_uniforms(self.config.light),
                        **material_uniforms(self.config.material)}
        self._embree_ref: Any = None  # the reference mesh's, for the inside test under motion
        self._bvh: Any = None  # the moving mesh's ray caster (room.render.bvh)
        self._bvh_vertices: np.ndarray | None = None
        self._bvh_field: Any = None  # the MeshMotion whose field the tree's bounds are of
        self._fnormals_ref, self._plane_ref = self._planes
        self._chunk_field: Any = None  # culling.ChunkField of the motion (boxes per frame)
        self._rays: np.ndarray | None = None
        self._lut: tuple[float, np.ndarray] | None = None
        self._flow: Any = None
        self._sf_cache: list[tuple] = []  # the last SF_CACHE (key, scene flow) pairs
        if motion is not None:
            self.set_motion(motion)

    def set_look(self, render: RenderConfig) -> None:
        """Switch lights, material and texture pattern to ``render`` without rebuilding the GL
        scene (per-sequence appearance randomization). Light and material settings are shader
        uniforms; a new texture seed, size or pattern scale re-bakes the 3D texture (~0.2 s).
        Only ``material.ring_max_generation`` (baked into the mesh's branch table) cannot
        change: that raises ConfigError."""
        old = self.config
        if render.material.ring_max_generation != old.material.ring_max_generation:
            raise ConfigError("set_look cannot change material.ring_max_generation: make a new "
                              "renderer")
        pattern = ("color_scale_m", "vessel_scale_m", "bump_scale_m")
        if (render.seed, render.texture_size) != (old.seed, old.texture_size) or any(
                getattr(old.material, k) != getattr(render.material, k) for k in pattern):
            self._ctx.make_current()
            self._raster.set_textures(make_textures(render))
        self.config = render
        self._static = {**light_uniforms(render.light), **material_uniforms(render.material)}

    @property
    def motion(self) -> Any:
        """The motion field (None: a rigid scene)."""
        return None if self._moving is None else self._moving.motion

    def vertices_at(self, time_s: float) -> np.ndarray:
        """The scene's vertices (V, 3) at ``time_s`` (the reference ones for a rigid scene)."""
        if self._moving is None:
            return self._vertices
        return self._moving.at(time_s)

    def set_motion(self, motion: Any) -> None:
        """Switch the scene's motion field (a per-sequence draw of its parameters) or, with
        None, back to the rigid reference mesh; the next frame takes its shape from it."""
        from room.render.deform import MeshMotion

        was = self._moving is not None
        self._moving = None if motion is None else MeshMotion(motion, self._ref_vertices)
        self._sf_cache = []
        self._chunk_field = None
        if was != (motion is not None) and self._flow is not None:
            self._ctx.make_current()
            self._flow.release()
            self._flow = None
        if motion is None and was:
            self._upload(self._ref_vertices, None, None)
        self._time = None

    def set_time(self, time_s: float) -> None:
        """Move the mesh to its shape at ``time_s`` (s): vertices, face planes, shading
        normals and culling boxes, on the CPU side and on the GPU. A no-op for a rigid scene
        or the current time. :meth:`render` calls it with the frame's time."""
        if self._moving is None or self._time == float(time_s):
            return
        t = float(time_s)
        self._upload(self._moving.at(t), (*self._moving.jacobian_parts(self._gm.source),
                                          *self._moving.signals(t)), t)

    def _upload(self, v: np.ndarray, jac: tuple | None, t: float | None) -> None:
        """Vertices ``v`` (V, 3) of the scene mesh, shading normals carried by the gradient
        ``jac`` = (grad F_b, grad F_c, b, k) at the GPU vertices (None: the reference
        normals), to the CPU side and GL. A moved shape goes to GL in one pass per table
        (room.render.kernels.gl_vertices, gl_planes: float64 computed, float32 stored, in the
        GL layouts), chunk boxes bounded from the field (culling.refit_field), and its float64
        face planes wait until the CPU side asks for them (:meth:`_face_planes`)."""
        from room.render import kernels

        gm = self._gm
        self._ctx.make_current()
        if jac is None:  # the reference mesh: its own normals, planes and boxes, bit for bit
            planes = (self._fnormals_ref, self._plane_ref)
            self._raster.update_geometry(v[gm.source] - self._origin, gm.normals, gm.tree[:, 0],
                                         np.column_stack(planes)[self._order], self._chunks0)
        else:
            planes = None
            if self._arclength is None:
                self._arclength = np.ascontiguousarray(gm.tree[:, 0], np.float64)
            pos, pos_arc, nrm = kernels.gl_vertices(v, gm.source, self._origin, self._arclength,
                                                    self._gm_normals, *jac)
            self._raster.upload_geometry(pos, pos_arc, nrm, kernels.gl_planes(
                v, self._faces, self._origin, self._order), self._moved_chunks(*jac[2:]))
        self._vertices, self._planes, self._planes_ext = v, planes, None
        self._time = t

    def _moved_chunks(self, b: float, k: float) -> Any:
        """The culling boxes of the mesh moved by the field at signals (b, k) (None without
        culling): bounded from each chunk's extents of the field's parts (computed once per
        field), O(chunks) per frame."""
        if self._chunks0 is None:
            return None
        if self._chunk_field is None:
            gm, src = self._gm, self._gm.source
            if self._chunk_vertices is None:
                self._chunk_vertices = culling.chunk_vertices(self._chunks0, gm.faces)
            self._chunk_field = culling.chunk_field(
                self._chunks0, self._chunk_vertices, self._ref_vertices[src] - self._origin,
                self._moving.fb[src], self._moving.fc[src])
        return culling.refit_field(self._chunks0, self._chunk_field, b, k)

    def _face_planes(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit face normals (F, 3) and plane offsets n . (v0 - origin) (F,), float64, of the
        current shape (computed on first use after a move: GL has its own float32 copy)."""
        if self._planes is None:
            from room.render import kernels

            self._planes = kernels.face_planes(self._vertices, self._faces, self._origin)
        return self._planes

    @property
    def _fnormals(self) -> np.ndarray:
        return self._face_planes()[0]

    def _ext(self) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_face_planes` with a zero sentinel row (face id -1 picks it)."""
        if self._planes_ext is None:
            fn, off = self._face_planes()
            self._planes_ext = (np.vstack([fn, np.zeros((1, 3))]), np.append(off, 0.0))
        return self._planes_ext

    def _motion_meta(self, time_s: float) -> dict:
        b, k = self._moving.signals(float(time_s))
        return {"breath": b, "cardiac": k}

    # ----------------------------------------------------------------------------------------
    @staticmethod
    def _pinhole_cover(intr: Intrinsics) -> Intrinsics:
        """The pinhole camera rendered by GL: ``intr`` itself, or one covering its distorted
        field of view with the same focal length (reduced if the cover would exceed 2x)."""
        if not intr.is_distorted:
            return intr
        rays = cam._pixel_rays(intr)
        xmin, ymin = rays[..., 0].min(), rays[..., 1].min()
        xmax, ymax = rays[..., 0].max(), rays[..., 1].max()
        if not np.all(np.isfinite(rays)) or max(abs(xmin), abs(xmax), abs(ymin), abs(ymax)) > 6:
            raise RenderError(
                "the lens model sees beyond ~80 degrees off axis, which a pinhole render cannot "
                "cover; reduce the field of view or the distortion coefficients")
        s = min(1.0, 2 * intr.width / ((xmax - xmin) * intr.fx + 4),
                2 * intr.height / ((ymax - ymin) * intr.fy + 4))
        fx, fy = intr.fx * s, intr.fy * s
        w = int(math.ceil((xmax - xmin) * fx)) + 4
        h = int(math.ceil((ymax - ymin) * fy)) + 4
        return Intrinsics(width=w, height=h, fx=fx, fy=fy, cx=-xmin * fx + 1.5,
                          cy=-ymin * fy + 1.5, near=intr.near, far=intr.far)

    def _cam_world(self, T_world_cam: np.ndarray) -> np.ndarray:
        T = invert(T_world_cam)
        T[:3, 3] += T[:3, :3] @ self._origin  # vertices are uploaded relative to the origin
        return T

    def render(self, T_world_cam: np.ndarray, index: int = 0, time_s: float = 0.0) -> Frame:
        """Render every modality at the camera pose ``T_world_cam`` (OpenCV camera axes, m).

        Raises ConfigError for a pose that is not a rigid transform. A camera outside the airway
        or looking at nothing still gets a frame; ``meta['empty']`` / ``meta['outside']`` say so.
        """
        T = check_rigid(T_world_cam, "T_world_cam")
        self.set_time(time_s)
        color, face, depth, normals, ids = self._draw(T)
        outside = self._outside(T, ids.n_outside, ids.n_hit)
        gain = self._gain(color, face, hit_is_id=True)
        rgb = self._encode(color, gain)
        meta = {
            "empty": ids.n_hit == 0,
            "outside": bool(outside),
            "valid_fraction": ids.n_hit / face.size,
            "exposure_gain": float(gain),
            "renderer": "room.render (OpenGL deferred, no MSAA)",
            "gl": dict(self.gl_info),
            "render_seed": int(self.config.seed),
        }
        if self._moving is not None:
            meta["motion"] = self._motion_meta(time_s)
        return Frame(rgb=rgb.copy(), rgb_clean=rgb, depth=depth, normals=normals,
                     segmentation=ids.segmentation, face_id=face, T_world_cam=T.copy(),
                     intrinsics=self.intrinsics, index=int(index), time_s=float(time_s),
                     meta=meta)

    def render_rgbd(self, T_world_cam: np.ndarray,
                    time_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """RGB (H, W, 3) uint8 and z-depth (H, W) float32 m (0 = no hit) at ``T_world_cam``:
        exactly ``frame.rgb`` and ``frame.depth`` of :meth:`render` (same GL passes, same lens
        correction and exposure), without building the other modalities (normals, segmentation,
        face ids, metadata). The fast path for observations that need only RGB and depth.
        ``time_s``: the moving scene's time (None: the shape of the last frame)."""
        T = check_rigid(T_world_cam, "T_world_cam")
        if time_s is not None:
            self.set_time(time_s)
        color, face, depth, _, _ = self._draw(T, face_ids=False)
        rgb = self._encode(color, self._gain(color, face, hit_is_id=True))
        return rgb, depth

    def _draw(self, T: np.ndarray, face_ids: bool = True):
        """GL passes at the (checked) pose T: linear radiance float16 (H, W, 3), face ids
        (-1 none), z-depth float32 m, normals float32 (H, W, 3) camera frame, and the
        :class:`_IdMaps` (segmentation, hit and outside pixel counts); lens-corrected (Embree
        fallback) if distorted. ``face_ids=False`` (the RGB + depth path) skips the normals
        and, pinhole only, mapping GL ids to scene face ids: ``face`` is then only good for
        ``face != -1`` and the id maps are None."""
        from room.render import kernels

        self._ctx.make_current()
        cw = self._cam_world(T)
        g = self._gl_intr
        uniforms = {**self._static, "u_cam_world": cw, "u_world_cam": invert(cw),
                    "u_proj": self._proj, "u_intr": np.array([g.fx, g.fy, g.cx, g.cy]),
                    "u_cam_pos": T[:3, 3] - self._origin}
        color, ids, depth, normals = self._raster.draw(uniforms, normals=face_ids)
        distorted = self.intrinsics.is_distorted
        if not (face_ids or distorted):
            return color, ids[..., 0], depth, normals, None
        # GL (chunk) order -> scene face ids, the outside coding folded back, and (pinhole)
        # the segmentation, in one loop
        face, seg, n_hit, n_out = kernels.map_ids(ids[..., 0], self._id_lut, self._n_faces + 1,
                                                  self._branch, not distorted)
        if distorted:
            self._lens_fallback(ids[..., 1] == 1, face, depth, normals, T)
            seg, n_hit = kernels.segment(face, self._branch)
        return color, face, depth, normals, _IdMaps(seg, int(n_hit), int(n_out))

    def _outside(self, T: np.ndarray, n_outside: int, n_hit: int) -> bool:
        """Whether the camera is outside the airway: for a closed mesh (back faces culled), its
        centre is outside the mesh (majority of three ray casts: the first wall hit faces away
        from the camera); else most hit pixels see the wall from outside."""
        if not self._closed:
            return n_hit > 0 and n_outside > OUTSIDE_FRACTION * n_hit
        d = np.array([[0.0, 0.0, 1.0], [0.6, -0.3, 1.0], [-0.4, 0.7, -1.0]])
        if self._moving is not None:
            # phi_t is a homeomorphism: the camera is inside the moved mesh exactly when its
            # preimage is inside the reference mesh (whose ray caster is built once)
            T = T.copy()
            T[:3, 3] = self._moving.motion.inverse(T[None, :3, 3], self._time)[0]
            f = self._cast(d, T, reference=True)
        else:
            f = self._cast(d, T)
        dw = d @ T[:3, :3].T
        fnormals = self._fnormals_ref if self._moving is not None else self._fnormals
        facing = np.einsum("ij,ij->i", fnormals[np.maximum(f, 0)], dw) < 0
        return int(np.sum((f >= 0) & facing)) < 2

    def _encode(self, color: np.ndarray, gain: float) -> np.ndarray:
        """sRGB uint8 (H, W, 3) of linear float16 radiance times ``gain``: one 64k-entry table
        over every float16 bit pattern (cached per gain; fixed exposure reuses it)."""
        if self._lut is None or self._lut[0] != gain:
            self._lut = (gain, np.round(255.0 * _srgb_encode(_F16_VALUES * gain))
                         .astype(np.uint8))
        return np.take(self._lut[1], color.view(np.uint16))

    def _depth_normals(self, face: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reference (tests) for the shader's ground truth: exact z-depth (each pixel's ray
        intersected with the plane of its triangle) and
        camera-frame unit triangle normals facing the camera; 0 where nothing was hit.

        float64 throughout: with float32 normals, n . ray loses ~6e-8 absolute, i.e. 1e-6
        relative depth at grazing incidence. (No BLAS: multithreaded BLAS on a busy 2-core
        machine is 10x slower than plain numpy for these thin matrices.)"""
        R = T[:3, :3]
        t = T[:3, 3] - self._origin
        idx = face.ravel()
        fn_ext, plane_ext = self._ext()
        nw = np.take(fn_ext, idx, axis=0)  # face -1 picks the zero sentinel row
        e = np.take(plane_ext, idx) - (nw[:, 0] * t[0] + nw[:, 1] * t[1] + nw[:, 2] * t[2])
        n = np.einsum("ij,jk->ik", nw, R)  # n_c = R^T n_w, row-vector form
        rays = self._pinhole_rays().reshape(-1, 2)
        nd = n[:, 0] * rays[:, 0] + n[:, 1] * rays[:, 1] + n[:, 2]
        depth = np.zeros(idx.shape)
        np.divide(e, nd, out=depth, where=nd != 0)
        np.maximum(depth, 0.0, out=depth)
        n *= np.where(nd > 0, -1.0, 1.0)[:, None]
        return (depth.astype(np.float32).reshape(face.shape),
                n.astype(np.float32).reshape(face.shape + (3,)))

    def _pinhole_rays(self) -> np.ndarray:
        if self._rays is None:
            i = self.intrinsics
            v, u = np.mgrid[0 : i.height, 0 : i.width].astype(np.float64)
            self._rays = np.stack([(u - i.cx) / i.fx, (v - i.cy) / i.fy], axis=-1)
        return self._rays

    def _gain(self, color: np.ndarray, hit: np.ndarray, hit_is_id: bool = False) -> float:
        """Exposure gain on linear radiance: fixed, or auto (median lit luminance -> target,
        capped so the ``highlight_percentile`` of the lit pixels' brightest channel is white).
        ``hit``: the hit mask, or with ``hit_is_id`` face ids (-1 none), compared only at the
        sampled pixels."""
        cfg = self.config
        if cfg.exposure == "fixed":
            return float(cfg.gain)
        step = max(1, min(color.shape[:2]) // 96)  # ~100 x 100 samples are plenty for a median
        sub, hit = color[::step, ::step, :3].astype(np.float32), hit[::step, ::step]
        if hit_is_id:
            hit = hit != -1
        if not hit.any():
            return float(cfg.gain)
        px = sub[hit]
        lum = 0.2126 * px[:, 0] + 0.7152 * px[:, 1] + 0.0722 * px[:, 2]
        med = float(np.median(lum))
        if med <= 0:
            return float(cfg.max_gain)
        gain = min(_srgb_decode(cfg.target_gray) / med, cfg.max_gain)
        if cfg.highlight_percentile < 100:  # highlight protection: keep near walls unclipped
            peak = float(np.percentile(px.max(axis=1), cfg.highlight_percentile))
            gain = min(gain, 1.0 / peak) if peak > 0 else gain
        return float(gain)

    def _lens_fallback(self, ask: np.ndarray, face: np.ndarray, depth: np.ndarray,
                       normals: np.ndarray, T: np.ndarray) -> None:
        """Distorted pixels whose ray missed every nearby triangle of the covering render
        (sub-pixel triangles, occlusion edges): cast with Embree, solve in float64, in place."""
        idx = np.flatnonzero(ask)
        if idx.size == 0:
            return
        rays = cam._pixel_rays(self.intrinsics).reshape(-1, 2)[idx]
        d = np.concatenate([rays, np.ones((idx.size, 1))], axis=1)
        f = self._cast(d, T)
        z, _ = self._intersect(np.maximum(f, 0), d, T)
        ok = (f >= 0) & (z > 0)
        n = np.einsum("ij,jk->ik", self._hit_normals(np.maximum(f, 0)), T[:3, :3])
        n *= np.where(np.einsum("ij,ij->i", n, d) > 0, -1.0, 1.0)[:, None]
        face.ravel()[idx] = np.where(ok, f, BACKGROUND_ID)
        depth.ravel()[idx] = np.where(ok, z, 0.0)
        if normals is not None:  # None on the RGB + depth path
            normals.reshape(-1, 3)[idx] = n * ok[:, None]

    def _hit_normals(self, f: np.ndarray) -> np.ndarray:
        """Unit normals (N, 3) of faces ``f``: from the float64 face planes when they are at
        hand, else only these faces' (the same kernel, so the same values)."""
        if self._planes is not None:
            return self._planes[0][f]
        from room.render import kernels

        return kernels.face_planes(self._vertices, np.ascontiguousarray(self._faces[f]),
                                   self._origin)[0]

    def _intersect(self, f: np.ndarray, d: np.ndarray, T: np.ndarray):
        """Rays from the camera centre along d (d_z = 1, camera frame) against triangles f,
        float64 (Moller-Trumbore; only these triangles' vertices are moved to the camera
        frame). Returns the z-depth (= ray parameter) and whether the ray passes inside the
        triangle (1e-7 slack)."""
        tri = self._faces[f]
        v0, v1, v2 = (np.einsum("ij,jk->ik", np.take(self._vertices, tri[:, k], axis=0)
                                - T[:3, 3], T[:3, :3]) for k in range(3))
        e1, e2 = v1 - v0, v2 - v0
        pvec = np.cross(d, e2)
        det = np.einsum("ij,ij->i", e1, pvec)
        det = np.where(np.abs(det) < 1e-30, 1e-30, det)
        u = -np.einsum("ij,ij->i", v0, pvec) / det
        qvec = np.cross(e1, v0)  # = cross(tvec, e1) with tvec = -v0
        v = np.einsum("ij,ij->i", d, qvec) / det
        z = np.einsum("ij,ij->i", e2, qvec) / det
        eps = 1e-7
        return z, (u >= -eps) & (v >= -eps) & (u + v <= 1 + eps) & (z > 0)

    def _cast(self, d: np.ndarray, T: np.ndarray, reference: bool = False) -> np.ndarray:
        """First triangle hit by camera rays d, -1 where none: on the mesh as it is now
        (Embree for a rigid scene; a moved mesh (:meth:`set_time`) with the refitted tree of
        :mod:`room.render.bvh`), or with ``reference`` on the scene's reference mesh."""
        from trimesh.ray.ray_pyembree import RayMeshIntersector

        if reference or self._moving is None:
            if self._embree_ref is None:
                self._embree_ref = RayMeshIntersector(self.scene.mesh)
            caster = self._embree_ref
        else:  # the moving mesh: a tree built once, its boxes refitted per shape (bvh.py)
            if self._bvh is None:
                from room.render.bvh import MovingBVH

                self._bvh = MovingBVH(self._ref_vertices, self._faces)
            if self._bvh_vertices is not self._vertices:  # a new shape since the last refit
                if self._time is None:  # a shape not (yet) of this field: boxes from it
                    self._bvh.refit(self._vertices)
                else:  # boxes bounded from the field
                    if self._bvh_field is not self._moving:
                        self._bvh.set_field(self._moving.fb, self._moving.fc)
                        self._bvh_field = self._moving
                    self._bvh.refit_field(self._vertices, *self._moving.signals(self._time))
                self._bvh_vertices = self._vertices
            return self._bvh.first_hit(T[:3, 3], np.einsum("ij,kj->ik", d, T[:3, :3]))
        dirs = np.einsum("ij,kj->ik", d, T[:3, :3])
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        org = np.broadcast_to(T[:3, 3], dirs.shape)
        return np.asarray(caster.intersects_first(org, dirs), dtype=np.int64)

    def render_depth(self, T_world_cam: np.ndarray) -> np.ndarray:
        """Z-depth only (m, 0 = no hit) of the pinhole render: the rasterization floor used by
        the benchmarks. Not lens-corrected; use :meth:`render` for ground truth."""
        T = check_rigid(T_world_cam, "T_world_cam")
        self._ctx.make_current()
        zb = self._raster.draw_depth({"u_cam_world": self._cam_world(T), "u_proj": self._proj})
        n, f = self._gl_intr.near, self._gl_intr.far
        ndc = 2.0 * zb - 1.0
        z = (2.0 * f * n / ((f + n) - ndc * (f - n))).astype(np.float32)
        z[zb >= 1.0] = 0.0
        return z

    def optical_flow(self, frame_a: Frame, frame_b: Frame,
                     rel_tol: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Flow a -> b and its validity mask: the definition, occlusion test and image space of
        :func:`room.render.geometry.optical_flow` (the float64 reference), from the frames'
        depth maps and poses. ``self.flow_backend`` says where: ``"cpu"`` (the default on a
        software rasterizer, where it is ~2x faster) is a fused numba loop
        (:mod:`room.render.flowcpu`), bit-identical to the reference for a rigid scene;
        ``"gl"`` (the default on a GPU) the GL pass (:mod:`room.render.flowpass`), to float32
        rounding (~1e-4 px). Frames of another camera go to the numpy reference."""
        from room.render import geometry

        tol = geometry.FLOW_DEPTH_TOL if rel_tol is None else float(rel_tol)
        motion = self.scene_flow(frame_a, frame_b) if self._moving is not None else None
        if not (frame_a.intrinsics == frame_b.intrinsics == self.intrinsics):
            return geometry.optical_flow(frame_a, frame_b, tol, motion=motion)
        if self.flow_backend == "cpu":
            from room.render import flowcpu

            return flowcpu.optical_flow(frame_a.depth, frame_a.T_world_cam, self.intrinsics,
                                        frame_b.depth, frame_b.T_world_cam, self.intrinsics,
                                        tol, geometry._ray_columns(self.intrinsics), motion)
        self._ctx.make_current()
        if self._flow is None:
            from room.render.flowpass import FlowPass

            self._flow = FlowPass(self.intrinsics, motion=self._moving is not None)
        return self._flow(frame_a.depth, frame_a.T_world_cam, frame_b.depth,
                          frame_b.T_world_cam, tol, motion=motion)

    def scene_flow(self, frame_a: Frame, frame_b: Frame) -> np.ndarray:
        """Per pixel of ``frame_a``, the 3D motion (m) of the surface point it sees until
        ``frame_b``'s time, in camera-a axes, float32 (H, W, 3); 0 where nothing was hit, and
        0 everywhere for a rigid scene (:func:`room.render.geometry.surface_motion`: exact for
        the frames' meshes, from a's depth and face ids). The last SF_CACHE pairs are cached
        (forward flow and scene flow of one frame share it)."""
        from room.render import geometry

        key = (frame_a.index, frame_a.time_s, frame_b.index, frame_b.time_s,
               id(frame_a.depth), id(frame_a.face_id))
        for k, v in self._sf_cache:
            if k == key:
                return v
        if self._moving is None:
            out = np.zeros(frame_a.depth.shape + (3,), np.float32)
        else:
            from room.render import kernels

            R = np.ascontiguousarray(frame_a.T_world_cam[:3, :3])
            rx, ry = geometry._ray_columns(frame_a.intrinsics)
            out = kernels.surface_motion(
                frame_a.depth.ravel(), frame_a.face_id.ravel(), rx, ry, self._faces,
                self._moving.at(frame_a.time_s), self._moving.at(frame_b.time_s), R,
                np.ascontiguousarray(frame_a.T_world_cam[:3, 3])
            ).astype(np.float32).reshape(frame_a.depth.shape + (3,))
        self._sf_cache = [*self._sf_cache[-(SF_CACHE - 1):], (key, out)]
        return out

    def close(self) -> None:
        """Free the GL resources and the context (idempotent)."""
        if getattr(self, "_ctx", None) is not None:
            try:
                self._ctx.make_current()
                self._raster.release()
                if self._flow is not None:
                    self._flow.release()
                    self._flow = None
            finally:
                self._ctx.close()
                self._ctx = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        try:
            self.close()
        except Exception:
            pass
