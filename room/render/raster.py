"""Minimal OpenGL rasterizer: one mesh, one multi-target pass, no multisampling.

We drive OpenGL directly (through PyOpenGL, on a context from :mod:`room.render.gl`, which uses
pyrender's EGL platform) rather than through pyrender's scene renderer, because exact ground truth
needs things pyrender's renderer does not offer: multiple render targets (colour, 32-bit triangle
ids and float normals/depth in one pass), no forced 4x MSAA, and our own small shaders.
"""

from __future__ import annotations

import ctypes

import numpy as np

from room.errors import RenderError
from room.render import culling, shaders

GL_ANY_SAMPLES_PASSED = 0x8C2F


def _gl():
    from OpenGL import GL

    return GL


def _program(vs: str, fs: str) -> int:
    """Compile and link (no validation: it depends on texture bindings made at draw time)."""
    from OpenGL.GL import shaders as gls

    GL = _gl()
    prog = GL.glCreateProgram()
    for src, kind in ((vs, GL.GL_VERTEX_SHADER), (fs, GL.GL_FRAGMENT_SHADER)):
        GL.glAttachShader(prog, gls.compileShader(src, kind))
    GL.glLinkProgram(prog)
    if not GL.glGetProgramiv(prog, GL.GL_LINK_STATUS):
        raise RenderError(f"GLSL link failed: {GL.glGetProgramInfoLog(prog)!r}")
    return prog


class Raster:
    """GPU buffers of one mesh plus offscreen framebuffers of a fixed size (see
    :mod:`room.render.shaders`: geometry pass, then a deferred shading pass).

    ``attributes``: (V, k) float32 arrays bound to the shader locations 0..2 (position,
    normal, tree); ``faces`` (F, 3) vertex indices; ``branches`` the (B, 4) branch table;
    ``planes`` (F, 4): per scene face its world unit normal and plane offset n . (v0 - origin);
    ``textures``: uniform name -> RGBA8 3D texture. Call with the GL context current.

    Ids are face indices in the order of ``faces``. With ``chunks`` (faces given in chunk
    order, see :mod:`room.render.culling`) the geometry passes draw only chunks that can be
    seen; ``cull_back`` also skips back faces (exact only for a closed mesh seen from inside).
    """

    def __init__(self, width: int, height: int, attributes: list[np.ndarray], faces: np.ndarray,
                 branches: np.ndarray, planes: np.ndarray, textures: dict[str, np.ndarray],
                 lens_rays: np.ndarray | None = None, chunks: culling.Chunks | None = None,
                 near: float = 0.0, cull_back: bool = False) -> None:
        """``attributes``: [positions (V, 3), shading normals (V, 3), tree (V, 2): arclength,
        branch row]; only positions feed the rasterizer, the rest is read per pixel.
        ``lens_rays`` (H, W, 2): undistorted rays of a distorted camera's pixels; when given,
        :meth:`draw` resamples everything into that image (see shaders.LENS_FRAGMENT).
        ``near``: the projection's near plane (m), for the culling plan."""
        GL = _gl()
        self.width, self.height = int(width), int(height)
        self.n_index = int(faces.size)
        self.chunks, self.near, self.cull_back = chunks, float(near), bool(cull_back)
        self.stats = {"drawn_faces": 0, "queried_chunks": 0}
        self.program = _program(shaders.VERTEX, shaders.FRAGMENT)
        self._shade_programs: dict[tuple[int, bool], int] = {}
        self.depth_program = _program(shaders.DEPTH_VERTEX, shaders.DEPTH_FRAGMENT)
        self.vao = GL.glGenVertexArrays(1)
        self.empty_vao = GL.glGenVertexArrays(1)
        GL.glBindVertexArray(self.vao)
        self._buffers = []
        pos, nrm, tree = (np.ascontiguousarray(a, dtype=np.float32) for a in attributes)
        vbo = GL.glGenBuffers(1)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, vbo)
        GL.glBufferData(GL.GL_ARRAY_BUFFER, pos.nbytes, pos, GL.GL_STATIC_DRAW)
        GL.glEnableVertexAttribArray(0)
        GL.glVertexAttribPointer(0, 3, GL.GL_FLOAT, GL.GL_FALSE, 0, ctypes.c_void_p(0))
        self._buffers.append(vbo)
        idx = np.ascontiguousarray(faces, dtype=np.uint32)
        ebo = GL.glGenBuffers(1)
        GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, ebo)
        GL.glBufferData(GL.GL_ELEMENT_ARRAY_BUFFER, idx.nbytes, idx, GL.GL_STATIC_DRAW)
        self._buffers.append(ebo)
        GL.glBindVertexArray(0)
        self.box_vao = self.queries = None
        if chunks is not None:
            self._init_boxes(chunks)
        self._textures = [self._texture3d(t) for t in textures.values()]
        self._tex_names = list(textures)
        w, h = self.width, self.height
        self.t_id = self._texture2d(GL.GL_R32I, w, h, GL.GL_RED_INTEGER, GL.GL_INT)
        self.t_depth = self._texture2d(GL.GL_DEPTH_COMPONENT24, w, h, GL.GL_DEPTH_COMPONENT,
                                       GL.GL_FLOAT)
        tab = np.ascontiguousarray(branches, dtype=np.float32)
        self.t_branch = self._texture2d(GL.GL_RGBA32F, len(tab), 1, GL.GL_RGBA, GL.GL_FLOAT, tab)
        self.fbo = self._framebuffer([(GL.GL_COLOR_ATTACHMENT0, self.t_id),
                                      (GL.GL_DEPTH_ATTACHMENT, self.t_depth)])
        fv = np.column_stack([faces, tree[faces[:, 0], 1]]).astype(np.int32)
        zeros = np.zeros((len(pos), 1), np.float32)
        self._tbos = [self._buffer_texture(planes, GL.GL_RGBA32F),
                      self._buffer_texture(fv, GL.GL_RGBA32I),
                      self._buffer_texture(np.column_stack([pos, tree[:, :1]]), GL.GL_RGBA32F),
                      self._buffer_texture(np.column_stack([nrm, zeros]), GL.GL_RGBA32F)]
        self.lens = self.shade_fbo = None
        self._shade_tex: list[int] = []
        if lens_rays is None:  # a lens pass shades into its own targets instead
            self._shade_tex = [self._texture2d(GL.GL_RGBA16F, w, h, GL.GL_RGBA, GL.GL_FLOAT),
                               self._texture2d(GL.GL_RGBA32F, w, h, GL.GL_RGBA, GL.GL_FLOAT),
                               self._texture2d(GL.GL_R32F, w, h, GL.GL_RED, GL.GL_FLOAT)]
            self.shade_fbo = self._framebuffer([(GL.GL_COLOR_ATTACHMENT0 + k, t)
                                                for k, t in enumerate(self._shade_tex)])
        else:
            lh, lw = lens_rays.shape[:2]
            rays = np.ascontiguousarray(lens_rays, dtype=np.float32)
            tex = [self._texture2d(GL.GL_RG32F, lw, lh, GL.GL_RG, GL.GL_FLOAT, rays),
                   self._texture2d(GL.GL_RGBA16F, lw, lh, GL.GL_RGBA, GL.GL_FLOAT),
                   self._texture2d(GL.GL_RG32I, lw, lh, GL.GL_RG_INTEGER, GL.GL_INT),
                   self._texture2d(GL.GL_RGBA32F, lw, lh, GL.GL_RGBA, GL.GL_FLOAT),
                   self._texture2d(GL.GL_R32F, lw, lh, GL.GL_RED, GL.GL_FLOAT)]
            fbo = self._framebuffer([(GL.GL_COLOR_ATTACHMENT0 + k, t)
                                     for k, t in enumerate(tex[1:])])
            self.lens = {"size": (lw, lh), "tex": tex, "fbo": fbo}
        self._locs: dict[tuple[int, str], int] = {}

    def _init_boxes(self, chunks: culling.Chunks) -> None:
        """Vertex and index buffers of the chunks' boxes (12 triangles each) and one occlusion
        query object per chunk."""
        GL = _gl()
        n = len(chunks.start)
        corners = np.ascontiguousarray(chunks.corners.reshape(-1, 3), dtype=np.float32)
        idx = (culling.BOX_INDICES[None, :] + 8 * np.arange(n, dtype=np.uint32)[:, None])
        self.box_vao = GL.glGenVertexArrays(1)
        GL.glBindVertexArray(self.box_vao)
        for target, data in ((GL.GL_ARRAY_BUFFER, corners),
                             (GL.GL_ELEMENT_ARRAY_BUFFER, np.ascontiguousarray(idx.ravel()))):
            buf = GL.glGenBuffers(1)
            GL.glBindBuffer(target, buf)
            GL.glBufferData(target, data.nbytes, data, GL.GL_STATIC_DRAW)
            self._buffers.append(buf)
        GL.glEnableVertexAttribArray(0)
        GL.glVertexAttribPointer(0, 3, GL.GL_FLOAT, GL.GL_FALSE, 0, ctypes.c_void_p(0))
        GL.glBindVertexArray(0)
        self.queries = np.atleast_1d(GL.glGenQueries(n)).astype(np.uint32)

    def update_geometry(self, positions: np.ndarray, normals: np.ndarray, arclength: np.ndarray,
                        planes: np.ndarray, chunks: culling.Chunks | None = None) -> None:
        """Move the mesh (tissue motion): new vertex ``positions`` (V, 3) and shading
        ``normals`` (V, 3) in the upload frame, the per-vertex ``arclength`` (V,) unchanged,
        ``planes`` (F, 4) in the order of ``faces``, and the refitted chunk boxes. Same counts
        and connectivity as at construction."""
        pos = np.ascontiguousarray(positions, dtype=np.float32)
        self.upload_geometry(pos, np.column_stack([pos, arclength]),
                             np.column_stack([normals, np.zeros(len(pos))]), planes, chunks)

    def upload_geometry(self, pos: np.ndarray, pos_arc: np.ndarray, normals4: np.ndarray,
                        planes: np.ndarray, chunks: culling.Chunks | None = None) -> None:
        """:meth:`update_geometry` with the arrays already in their GL layouts (float32, the
        others are converted): positions (V, 3), positions and arclength (V, 4), normals padded
        with 0 (V, 4), planes (F, 4)."""
        GL = _gl()
        updates = [(self._buffers[0], GL.GL_ARRAY_BUFFER, pos),
                   (self._tbos[0][0], GL.GL_TEXTURE_BUFFER, planes),
                   (self._tbos[2][0], GL.GL_TEXTURE_BUFFER, pos_arc),
                   (self._tbos[3][0], GL.GL_TEXTURE_BUFFER, normals4)]
        if chunks is not None and self.chunks is not None:
            self.chunks = chunks
            updates.append((self._buffers[2], GL.GL_ARRAY_BUFFER, chunks.corners.reshape(-1, 3)))
        for buf, target, data in updates:
            d = np.ascontiguousarray(data, dtype=np.float32)
            GL.glBindBuffer(target, buf)
            GL.glBufferSubData(target, 0, d.nbytes, d)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, 0)

    def shade_program(self, n_lights: int, lens: bool = False) -> int:
        """The shading (or, ``lens``, lens) program for ``n_lights`` LEDs (a compile-time
        constant: llvmpipe runs an unrolled loop about a quarter faster than one bounded by a
        uniform)."""
        key = (n_lights, lens)
        if key not in self._shade_programs:
            main = shaders.LENS_FRAGMENT if lens else shaders.SHADE_FRAGMENT
            fs = f"#version 330 core\n#define N_LIGHTS {n_lights}\n{shaders.SHADE_COMMON}{main}"
            self._shade_programs[key] = _program(shaders.SHADE_VERTEX, fs)
        return self._shade_programs[key]

    def set_textures(self, textures: dict[str, np.ndarray]) -> None:
        """Replace the 3D textures (same names; any size)."""
        if list(textures) != self._tex_names:
            raise RenderError(f"textures {list(textures)} do not match {self._tex_names}")
        _gl().glDeleteTextures(self._textures)
        self._textures = [self._texture3d(t) for t in textures.values()]

    @staticmethod
    def _texture3d(data: np.ndarray) -> int:
        """Tiling RGBA8 3D texture with trilinear filtering."""
        GL = _gl()
        tex = GL.glGenTextures(1)
        GL.glBindTexture(GL.GL_TEXTURE_3D, tex)
        for p in (GL.GL_TEXTURE_WRAP_S, GL.GL_TEXTURE_WRAP_T, GL.GL_TEXTURE_WRAP_R):
            GL.glTexParameteri(GL.GL_TEXTURE_3D, p, GL.GL_REPEAT)
        GL.glTexParameteri(GL.GL_TEXTURE_3D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR)
        GL.glTexParameteri(GL.GL_TEXTURE_3D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR)
        d = np.ascontiguousarray(data, dtype=np.uint8)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        GL.glTexImage3D(GL.GL_TEXTURE_3D, 0, GL.GL_RGBA8, d.shape[2], d.shape[1], d.shape[0], 0,
                        GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, d)
        return tex

    @staticmethod
    def _buffer_texture(data: np.ndarray, fmt: int) -> tuple[int, int]:
        """(buffer, texture) of a 4-channel buffer texture read with texelFetch."""
        GL = _gl()
        d = np.ascontiguousarray(data, dtype=np.int32 if fmt == GL.GL_RGBA32I else np.float32)
        buf = GL.glGenBuffers(1)
        GL.glBindBuffer(GL.GL_TEXTURE_BUFFER, buf)
        GL.glBufferData(GL.GL_TEXTURE_BUFFER, d.nbytes, d, GL.GL_STATIC_DRAW)
        tex = GL.glGenTextures(1)
        GL.glBindTexture(GL.GL_TEXTURE_BUFFER, tex)
        GL.glTexBuffer(GL.GL_TEXTURE_BUFFER, fmt, buf)
        return buf, tex

    @staticmethod
    def _texture2d(fmt: int, w: int, h: int, ext: int, typ: int, data=None,
                   linear: bool = False) -> int:
        """2D texture (nearest for texelFetch, or bilinear; clamped; no mipmaps)."""
        GL = _gl()
        tex = GL.glGenTextures(1)
        GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
        filt = GL.GL_LINEAR if linear else GL.GL_NEAREST
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, filt)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, filt)
        for p in (GL.GL_TEXTURE_WRAP_S, GL.GL_TEXTURE_WRAP_T):
            GL.glTexParameteri(GL.GL_TEXTURE_2D, p, GL.GL_CLAMP_TO_EDGE)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, fmt, w, h, 0, ext, typ, data)
        return tex

    @staticmethod
    def _framebuffer(attachments) -> int:
        GL = _gl()
        fbo = GL.glGenFramebuffers(1)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
        for att, tex in attachments:
            GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, att, GL.GL_TEXTURE_2D, tex, 0)
        status = GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER)
        if status != GL.GL_FRAMEBUFFER_COMPLETE:
            raise RenderError(f"offscreen framebuffer incomplete (status {status:#x}); the GL "
                              "driver lacks float/integer render targets")
        return fbo

    def _loc(self, program: int, name: str) -> int:
        key = (program, name)
        if key not in self._locs:
            self._locs[key] = _gl().glGetUniformLocation(program, name)
        return self._locs[key]

    def _set_uniforms(self, program: int, uniforms: dict) -> None:
        GL = _gl()
        for name, value in uniforms.items():
            loc = self._loc(program, name)
            if loc < 0:
                continue  # not used by this program
            v = np.asarray(value)
            if v.dtype.kind in "iu" and v.ndim == 0:
                GL.glUniform1i(loc, int(v))
            elif v.shape == (4, 4):
                GL.glUniformMatrix4fv(loc, 1, GL.GL_TRUE, v.astype(np.float32))
            elif v.ndim == 0:
                GL.glUniform1f(loc, float(v))
            elif v.ndim == 1 and v.shape[0] in (2, 3, 4):
                getattr(GL, f"glUniform{v.shape[0]}f")(loc, *v.astype(float))
            elif v.ndim == 2 and v.shape[1] == 3:
                GL.glUniform3fv(loc, v.shape[0], v.astype(np.float32))
            else:
                raise ValueError(f"uniform {name}: unsupported value shape {v.shape}")

    def _geometry_pass(self, program: int, uniforms: dict, targets: list[int]) -> None:
        GL = _gl()
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.fbo)
        GL.glViewport(0, 0, self.width, self.height)
        GL.glDisable(GL.GL_MULTISAMPLE)
        GL.glDisable(GL.GL_BLEND)
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glDepthFunc(GL.GL_LESS)
        # camera.gl_projection flips image rows, which mirrors winding: with GL_CW, triangles
        # whose normal faces the camera (the wall seen from inside the lumen) are front-facing.
        GL.glFrontFace(GL.GL_CW)
        (GL.glEnable if self.cull_back else GL.glDisable)(GL.GL_CULL_FACE)
        GL.glCullFace(GL.GL_BACK)
        GL.glUseProgram(program)
        self._set_uniforms(program, uniforms)
        GL.glDrawBuffers(len(targets), targets)
        if targets[0] != GL.GL_NONE:
            GL.glClearBufferiv(GL.GL_COLOR, 0, np.array([-1, 0, 0, 0], np.int32))
        GL.glClearBufferfv(GL.GL_DEPTH, 0, np.ones(1, np.float32))
        base = self._loc(program, "u_first")
        if self.chunks is None:
            self._draw_ranges(base, [(0, self.n_index // 3)])
            return
        rounds = culling.plan(self.chunks, uniforms["u_cam_world"], uniforms["u_proj"],
                              self.near)
        drawn = list(rounds[0])
        self._draw_ranges(base, culling.ranges(self.chunks, rounds[0]))
        for ids in rounds[1:]:
            if ids.size:
                seen = ids[self._occlusion_query(ids, uniforms)]
                GL.glUseProgram(program)
                self._draw_ranges(base, culling.ranges(self.chunks, seen))
                drawn += list(seen)
        self.stats = {"drawn_faces": int(self.chunks.count[drawn].sum()),
                      "queried_chunks": int(sum(len(r) for r in rounds[1:]))}

    def _draw_ranges(self, base_loc: int, ranges: list[tuple[int, int]]) -> None:
        """Draw face ranges (first face, count) of the mesh; ``u_first`` = first face so that
        ids stay mesh face indices (gl_PrimitiveID restarts at 0 in every draw)."""
        from OpenGL.raw.GL.VERSION.GL_1_1 import glDrawElements
        from OpenGL.raw.GL.VERSION.GL_2_0 import glUniform1i

        _gl().glBindVertexArray(self.vao)
        for first, count in ranges:
            if base_loc >= 0:
                glUniform1i(base_loc, first)
            glDrawElements(0x0004, 3 * count, 0x1405, ctypes.c_void_p(12 * first))

    def _occlusion_query(self, ids: np.ndarray, uniforms: dict) -> np.ndarray:
        """Whether any fragment of each chunk's box passes the depth test against what is drawn
        so far (no colour or depth writes). Waits for the results."""
        from OpenGL.raw.GL.VERSION.GL_1_1 import glDrawElements
        from OpenGL.raw.GL.VERSION.GL_1_5 import glBeginQuery, glEndQuery, glGetQueryObjectuiv

        GL = _gl()
        GL.glUseProgram(self.depth_program)
        self._set_uniforms(self.depth_program, uniforms)
        GL.glColorMask(GL.GL_FALSE, GL.GL_FALSE, GL.GL_FALSE, GL.GL_FALSE)
        GL.glDepthMask(GL.GL_FALSE)
        # Only the box faces turned to the camera: they lie in front of the far ones, so if any
        # fragment of the box passes, one of theirs does (the camera is outside every queried
        # box: boxes that reach the near plane are drawn, not queried). Half the pixels.
        GL.glEnable(GL.GL_CULL_FACE)
        GL.glDepthFunc(GL.GL_LEQUAL)
        GL.glBindVertexArray(self.box_vao)
        for c in ids:
            glBeginQuery(GL_ANY_SAMPLES_PASSED, int(self.queries[c]))
            glDrawElements(0x0004, 36, 0x1405, ctypes.c_void_p(144 * int(c)))
            glEndQuery(GL_ANY_SAMPLES_PASSED)
        res = ctypes.c_uint(0)
        seen = np.zeros(len(ids), bool)
        for k, c in enumerate(ids):
            glGetQueryObjectuiv(int(self.queries[c]), GL.GL_QUERY_RESULT, ctypes.byref(res))
            seen[k] = res.value != 0
        GL.glColorMask(GL.GL_TRUE, GL.GL_TRUE, GL.GL_TRUE, GL.GL_TRUE)
        GL.glDepthMask(GL.GL_TRUE)
        GL.glDepthFunc(GL.GL_LESS)
        (GL.glEnable if self.cull_back else GL.glDisable)(GL.GL_CULL_FACE)
        return seen

    def draw(self, uniforms: dict, normals: bool = True):
        """Render. Returns (radiance RGB float16 (H, W, 3), ids int32 (H, W, 1) pinhole or
        (H, W, 2) with a lens: triangle id (-1 nothing hit, -2 - id seen from outside), and with
        a lens a flag (1 = ask Embree, see LENS_FRAGMENT), the z-depth float32 (H, W) of each
        pixel's ray on its triangle's plane and the camera-frame triangle normals facing the
        camera float32 (H, W, 3) (None unless ``normals``), 0 where nothing was hit); row 0 =
        image top. Every array is read contiguous, straight from its target.

        Pinhole: the geometry pass, then the shading pass at each pixel. With a lens: the
        geometry pass of the covering pinhole image, then the lens pass, which finds each
        distorted pixel's triangle and shades it there (shading once per output pixel)."""
        GL = _gl()
        self._geometry_pass(self.program, uniforms, [GL.GL_COLOR_ATTACHMENT0])
        GL.glDisable(GL.GL_DEPTH_TEST)
        GL.glDisable(GL.GL_CULL_FACE)
        n_lights = int(uniforms["u_n_lights"])
        if self.lens is not None:
            w, h = self.lens["size"]
            prog = self.shade_program(n_lights, lens=True)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.lens["fbo"])
            GL.glViewport(0, 0, w, h)
            GL.glDrawBuffers(4, [GL.GL_COLOR_ATTACHMENT0 + k for k in range(4)])
            uniforms = {**uniforms, "u_wide": np.array([self.width, self.height], float)}
            extra = [("u_rays", GL.GL_TEXTURE_2D, self.lens["tex"][0])]
            fbo_ids, att_ids, att_geom = self.lens["fbo"], GL.GL_COLOR_ATTACHMENT1, 2
        else:
            w, h = self.width, self.height
            prog = self.shade_program(n_lights)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.shade_fbo)
            GL.glDrawBuffers(3, [GL.GL_COLOR_ATTACHMENT0 + k for k in range(3)])
            extra = []
            fbo_ids, att_ids, att_geom = self.fbo, GL.GL_COLOR_ATTACHMENT0, 1
        self._full_screen(prog, uniforms, extra)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0)
        color = self._read(GL.GL_RGB, GL.GL_HALF_FLOAT, np.float16, 3, w, h)
        GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0 + att_geom + 1)
        depth = self._read(GL.GL_RED, GL.GL_FLOAT, np.float32, 1, w, h)[..., 0]
        nrm = None
        if normals:
            GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0 + att_geom)
            nrm = self._read(GL.GL_RGB, GL.GL_FLOAT, np.float32, 3, w, h)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo_ids)
        GL.glReadBuffer(att_ids)
        if self.lens is not None:  # raw id and the Embree flag
            ids = self._read(GL.GL_RG_INTEGER, GL.GL_INT, np.int32, 2, w, h)
        else:
            ids = self._read(GL.GL_RED_INTEGER, GL.GL_INT, np.int32, 1, w, h)
        return color, ids, depth, nrm

    def _full_screen(self, prog: int, uniforms: dict, extra: list) -> None:
        """One full-screen pass of a shading program (``extra``: more (name, kind, texture)
        bindings) into the bound framebuffer."""
        GL = _gl()
        GL.glUseProgram(prog)
        self._set_uniforms(prog, uniforms)
        units = [("u_id", GL.GL_TEXTURE_2D, self.t_id),
                 ("u_branches", GL.GL_TEXTURE_2D, self.t_branch)]
        units += [(n, GL.GL_TEXTURE_BUFFER, t) for n, (_, t) in zip(
            ("u_planes", "u_faces", "u_verts", "u_vnormals"), self._tbos, strict=True)]
        units += [(n, GL.GL_TEXTURE_3D, t) for n, t in zip(self._tex_names, self._textures,
                                                             strict=True)]
        for unit, (name, kind, tex) in enumerate(units + extra):
            GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
            GL.glBindTexture(kind, tex)
            GL.glUniform1i(self._loc(prog, name), unit)
        GL.glBindVertexArray(self.empty_vao)
        GL.glDrawArrays(GL.GL_TRIANGLES, 0, 3)

    def draw_depth(self, uniforms: dict) -> np.ndarray:
        """Depth only (the rasterization floor): window depth in [0, 1], float32 (H, W)."""
        GL = _gl()
        self._geometry_pass(self.depth_program, uniforms, [GL.GL_NONE])
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        return self._read(GL.GL_DEPTH_COMPONENT, GL.GL_FLOAT, np.float32, 1)[..., 0]

    def _read(self, fmt: int, typ: int, dtype, channels: int, w: int | None = None,
              h: int | None = None) -> np.ndarray:
        from OpenGL.raw.GL.VERSION.GL_1_0 import glReadPixels  # raw: straight into our buffer

        w, h = w or self.width, h or self.height
        out = np.empty((h, w, channels), dtype=dtype)
        glReadPixels(0, 0, w, h, fmt, typ, out.ctypes.data_as(ctypes.c_void_p))
        return out

    def release(self) -> None:
        """Free the GL objects (context current); a context already gone is not an error."""
        from OpenGL.error import Error as GLError

        try:
            self.delete_objects()
        except GLError:  # context already gone: nothing left to free
            pass

    def delete_objects(self) -> None:
        """Delete every GL object this raster made (raises on a GL error)."""
        GL = _gl()
        GL.glDeleteFramebuffers(1, [self.fbo])
        if self.shade_fbo is not None:
            GL.glDeleteFramebuffers(1, [self.shade_fbo])
        if self.lens is not None:
            GL.glDeleteFramebuffers(1, [self.lens["fbo"]])
            GL.glDeleteTextures(self.lens["tex"])
        bufs = self._buffers + [b for b, _ in self._tbos]
        GL.glDeleteBuffers(len(bufs), bufs)
        GL.glDeleteTextures(self._textures + self._shade_tex
                            + [self.t_id, self.t_depth, self.t_branch]
                            + [t for _, t in self._tbos])
        GL.glDeleteVertexArrays(2, [self.vao, self.empty_vao])
        if self.box_vao is not None:
            GL.glDeleteVertexArrays(1, [self.box_vao])
            GL.glDeleteQueries(len(self.queries), self.queries)
        for p in (self.program, self.depth_program, *self._shade_programs.values()):
            GL.glDeleteProgram(p)
