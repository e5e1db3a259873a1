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
from room.render import shaders


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
    ``textures``: uniform name -> RGBA8 3D texture. Call with the GL context current.
    """

    def __init__(self, width: int, height: int, attributes: list[np.ndarray], faces: np.ndarray,
                 branches: np.ndarray, textures: dict[str, np.ndarray]) -> None:
        GL = _gl()
        self.width, self.height = int(width), int(height)
        self.n_index = int(faces.size)
        self.program = _program(shaders.VERTEX, shaders.FRAGMENT)
        self.shade_program = _program(shaders.SHADE_VERTEX, shaders.SHADE_FRAGMENT)
        self.depth_program = _program(shaders.DEPTH_VERTEX, shaders.DEPTH_FRAGMENT)
        self.vao = GL.glGenVertexArrays(1)
        self.empty_vao = GL.glGenVertexArrays(1)
        GL.glBindVertexArray(self.vao)
        self._buffers = []
        for loc, arr in enumerate(attributes):
            arr = np.ascontiguousarray(arr, dtype=np.float32)
            vbo = GL.glGenBuffers(1)
            GL.glBindBuffer(GL.GL_ARRAY_BUFFER, vbo)
            GL.glBufferData(GL.GL_ARRAY_BUFFER, arr.nbytes, arr, GL.GL_STATIC_DRAW)
            GL.glEnableVertexAttribArray(loc)
            GL.glVertexAttribPointer(loc, arr.shape[1], GL.GL_FLOAT, GL.GL_FALSE, 0,
                                     ctypes.c_void_p(0))
            self._buffers.append(vbo)
        idx = np.ascontiguousarray(faces, dtype=np.uint32)
        ebo = GL.glGenBuffers(1)
        GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, ebo)
        GL.glBufferData(GL.GL_ELEMENT_ARRAY_BUFFER, idx.nbytes, idx, GL.GL_STATIC_DRAW)
        self._buffers.append(ebo)
        GL.glBindVertexArray(0)
        self._textures = [self._texture3d(t) for t in textures.values()]
        self._tex_names = list(textures)
        w, h = self.width, self.height
        self.t_id = self._texture2d(GL.GL_RG32I, w, h, GL.GL_RG_INTEGER, GL.GL_INT)
        self.t_nrm = self._texture2d(GL.GL_RGBA32F, w, h, GL.GL_RGBA, GL.GL_FLOAT)
        self.t_depth = self._texture2d(GL.GL_DEPTH_COMPONENT24, w, h, GL.GL_DEPTH_COMPONENT,
                                       GL.GL_FLOAT)
        tab = np.ascontiguousarray(branches, dtype=np.float32)
        self.t_branch = self._texture2d(GL.GL_RGBA32F, len(tab), 1, GL.GL_RGBA, GL.GL_FLOAT, tab)
        self.fbo = self._framebuffer([(GL.GL_COLOR_ATTACHMENT0, self.t_id),
                                      (GL.GL_COLOR_ATTACHMENT1, self.t_nrm),
                                      (GL.GL_DEPTH_ATTACHMENT, self.t_depth)])
        self.rb_color = GL.glGenRenderbuffers(1)
        GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, self.rb_color)
        GL.glRenderbufferStorage(GL.GL_RENDERBUFFER, GL.GL_RGBA16F, w, h)
        self.shade_fbo = self._framebuffer([(GL.GL_COLOR_ATTACHMENT0, self.rb_color)],
                                           renderbuffer=True)
        self._locs: dict[tuple[int, str], int] = {}

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
    def _texture2d(fmt: int, w: int, h: int, ext: int, typ: int, data=None) -> int:
        """2D texture read with texelFetch (nearest, no mipmaps)."""
        GL = _gl()
        tex = GL.glGenTextures(1)
        GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_NEAREST)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_NEAREST)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, fmt, w, h, 0, ext, typ, data)
        return tex

    @staticmethod
    def _framebuffer(attachments, renderbuffer: bool = False) -> int:
        GL = _gl()
        fbo = GL.glGenFramebuffers(1)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
        for att, obj in attachments:
            if renderbuffer:
                GL.glFramebufferRenderbuffer(GL.GL_FRAMEBUFFER, att, GL.GL_RENDERBUFFER, obj)
            else:
                GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, att, GL.GL_TEXTURE_2D, obj, 0)
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
        GL.glDisable(GL.GL_CULL_FACE)
        GL.glDisable(GL.GL_MULTISAMPLE)
        GL.glDisable(GL.GL_BLEND)
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glDepthFunc(GL.GL_LESS)
        # camera.gl_projection flips image rows, which mirrors winding: with GL_CW, triangles
        # whose normal faces the camera (the wall seen from inside the lumen) are front-facing.
        GL.glFrontFace(GL.GL_CW)
        GL.glUseProgram(program)
        self._set_uniforms(program, uniforms)
        GL.glDrawBuffers(len(targets), targets)
        if targets[0] != GL.GL_NONE:
            GL.glClearBufferiv(GL.GL_COLOR, 0, np.array([-1, 0, 0, 0], np.int32))
            GL.glClearBufferfv(GL.GL_COLOR, 1, np.zeros(4, np.float32))
        GL.glClearBufferfv(GL.GL_DEPTH, 0, np.ones(1, np.float32))
        GL.glBindVertexArray(self.vao)
        GL.glDrawElements(GL.GL_TRIANGLES, self.n_index, GL.GL_UNSIGNED_INT, ctypes.c_void_p(0))

    def draw(self, uniforms: dict) -> tuple[np.ndarray, np.ndarray]:
        """Render. Returns (radiance RGBA float16 (H, W, 4), ids int32 (H, W, 2): triangle id
        (-1 nothing hit, -2 - id seen from outside) and branch row); row 0 = image top."""
        GL = _gl()
        self._geometry_pass(self.program, uniforms,
                            [GL.GL_COLOR_ATTACHMENT0, GL.GL_COLOR_ATTACHMENT1])
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.shade_fbo)
        GL.glDrawBuffers(1, [GL.GL_COLOR_ATTACHMENT0])
        GL.glDisable(GL.GL_DEPTH_TEST)
        GL.glUseProgram(self.shade_program)
        self._set_uniforms(self.shade_program, uniforms)
        units = [("u_id", GL.GL_TEXTURE_2D, self.t_id), ("u_nrm", GL.GL_TEXTURE_2D, self.t_nrm),
                 ("u_depth", GL.GL_TEXTURE_2D, self.t_depth),
                 ("u_branches", GL.GL_TEXTURE_2D, self.t_branch)]
        units += [(n, GL.GL_TEXTURE_3D, t) for n, t in zip(self._tex_names, self._textures,
                                                             strict=True)]
        for unit, (name, kind, tex) in enumerate(units):
            GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
            GL.glBindTexture(kind, tex)
            GL.glUniform1i(self._loc(self.shade_program, name), unit)
        GL.glBindVertexArray(self.empty_vao)
        GL.glDrawArrays(GL.GL_TRIANGLES, 0, 3)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0)
        color = self._read(GL.GL_RGBA, GL.GL_HALF_FLOAT, np.float16, 4)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.fbo)
        GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0)
        ids = self._read(GL.GL_RG_INTEGER, GL.GL_INT, np.int32, 2)
        return color, ids

    def draw_depth(self, uniforms: dict) -> np.ndarray:
        """Depth only (the rasterization floor): window depth in [0, 1], float32 (H, W)."""
        GL = _gl()
        self._geometry_pass(self.depth_program, uniforms, [GL.GL_NONE])
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        return self._read(GL.GL_DEPTH_COMPONENT, GL.GL_FLOAT, np.float32, 1)[..., 0]

    def _read(self, fmt: int, typ: int, dtype, channels: int) -> np.ndarray:
        from OpenGL.raw.GL.VERSION.GL_1_0 import glReadPixels  # raw: straight into our buffer

        out = np.empty((self.height, self.width, channels), dtype=dtype)
        glReadPixels(0, 0, self.width, self.height, fmt, typ, out.ctypes.data_as(ctypes.c_void_p))
        return out

    def release(self) -> None:
        GL = _gl()
        try:
            GL.glDeleteFramebuffers(2, [self.fbo, self.shade_fbo])
            GL.glDeleteRenderbuffers(1, [self.rb_color])
            GL.glDeleteBuffers(len(self._buffers), self._buffers)
            GL.glDeleteTextures(self._textures + [self.t_id, self.t_nrm, self.t_depth,
                                                  self.t_branch])
            GL.glDeleteVertexArrays(2, [self.vao, self.empty_vao])
            for p in (self.program, self.shade_program, self.depth_program):
                GL.glDeleteProgram(p)
        except Exception:  # context already gone: nothing left to free
            pass
