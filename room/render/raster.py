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
    from OpenGL.GL import shaders as gls

    GL = _gl()
    try:
        return gls.compileProgram(gls.compileShader(vs, GL.GL_VERTEX_SHADER),
                                  gls.compileShader(fs, GL.GL_FRAGMENT_SHADER), validate=False)
    except TypeError:  # older PyOpenGL without the validate keyword
        return gls.compileProgram(gls.compileShader(vs, GL.GL_VERTEX_SHADER),
                                  gls.compileShader(fs, GL.GL_FRAGMENT_SHADER))


class Raster:
    """GPU buffers of one mesh plus an offscreen framebuffer of a fixed size.

    ``attributes``: name -> (V, k) float32 arrays bound to the shader locations 0..3
    (position, normal, tree, axis); ``faces`` (F, 3) vertex indices. Call with the context
    current.
    """

    def __init__(self, width: int, height: int, attributes: list[np.ndarray], faces: np.ndarray,
                 textures: dict[str, np.ndarray]) -> None:
        GL = _gl()
        self.width, self.height = int(width), int(height)
        self.n_index = int(faces.size)
        self.program = _program(shaders.VERTEX, shaders.FRAGMENT)
        self.depth_program = _program(shaders.DEPTH_VERTEX, shaders.DEPTH_FRAGMENT)
        self.vao = GL.glGenVertexArrays(1)
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
        self.textures = {name: self._texture3d(t) for name, t in textures.items()}
        self._make_framebuffer()
        self._locs: dict[str, int] = {}

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

    def _make_framebuffer(self) -> None:
        GL = _gl()
        w, h = self.width, self.height
        self.fbo = GL.glGenFramebuffers(1)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.fbo)
        self._rbs = []
        formats = [(GL.GL_RGBA16F, GL.GL_COLOR_ATTACHMENT0), (GL.GL_R32I, GL.GL_COLOR_ATTACHMENT1),
                   (GL.GL_DEPTH_COMPONENT24, GL.GL_DEPTH_ATTACHMENT)]
        for fmt, att in formats:
            rb = GL.glGenRenderbuffers(1)
            GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, rb)
            GL.glRenderbufferStorage(GL.GL_RENDERBUFFER, fmt, w, h)
            GL.glFramebufferRenderbuffer(GL.GL_FRAMEBUFFER, att, GL.GL_RENDERBUFFER, rb)
            self._rbs.append(rb)
        status = GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER)
        if status != GL.GL_FRAMEBUFFER_COMPLETE:
            raise RenderError(f"offscreen framebuffer incomplete (status {status:#x}); the GL "
                              "driver lacks float/integer render targets")
        self._all_targets = [GL.GL_COLOR_ATTACHMENT0, GL.GL_COLOR_ATTACHMENT1]

    def _loc(self, program: int, name: str) -> int:
        key = f"{program}:{name}"
        if key not in self._locs:
            self._locs[key] = _gl().glGetUniformLocation(program, name)
        return self._locs[key]

    def _set_uniforms(self, program: int, uniforms: dict) -> None:
        GL = _gl()
        for name, value in uniforms.items():
            loc = self._loc(program, name)
            if loc < 0:
                continue  # optimized away by the GLSL compiler
            v = np.asarray(value)
            if v.dtype.kind in "iu" and v.ndim == 0:
                GL.glUniform1i(loc, int(v))
            elif v.shape == (4, 4):
                GL.glUniformMatrix4fv(loc, 1, GL.GL_TRUE, v.astype(np.float32))
            elif v.shape == (3, 3):
                GL.glUniformMatrix3fv(loc, 1, GL.GL_TRUE, v.astype(np.float32))
            elif v.ndim == 0:
                GL.glUniform1f(loc, float(v))
            elif v.ndim == 1 and v.shape[0] == 3:
                GL.glUniform3f(loc, *v.astype(float))
            elif v.ndim == 2 and v.shape[1] == 3:
                GL.glUniform3fv(loc, v.shape[0], v.astype(np.float32))
            else:
                raise ValueError(f"uniform {name}: unsupported value shape {v.shape}")

    def _begin(self, program: int, uniforms: dict) -> None:
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
        GL.glBindVertexArray(self.vao)

    def draw(self, uniforms: dict) -> tuple[np.ndarray, np.ndarray]:
        """Render every target. Returns (radiance RGBA float16 (H, W, 4), triangle id int32
        (H, W) with -1 where nothing was hit); row 0 = image top."""
        GL = _gl()
        self._begin(self.program, uniforms)
        GL.glDrawBuffers(2, self._all_targets)
        GL.glClearBufferfv(GL.GL_COLOR, 0, np.zeros(4, np.float32))
        GL.glClearBufferiv(GL.GL_COLOR, 1, np.full(4, -1, np.int32))
        GL.glClearBufferfv(GL.GL_DEPTH, 0, np.ones(1, np.float32))
        for unit, name in enumerate(("u_tex_color", "u_tex_bump")):
            GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
            GL.glBindTexture(GL.GL_TEXTURE_3D, self.textures[name])
            GL.glUniform1i(self._loc(self.program, name), unit)
        GL.glDrawElements(GL.GL_TRIANGLES, self.n_index, GL.GL_UNSIGNED_INT, ctypes.c_void_p(0))
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0)
        color = self._read(GL.GL_RGBA, GL.GL_HALF_FLOAT, np.float16, 4)
        GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT1)
        face = self._read(GL.GL_RED_INTEGER, GL.GL_INT, np.int32, 1)[..., 0]
        return color, face

    def draw_depth(self, uniforms: dict) -> np.ndarray:
        """Depth only (the rasterization floor): window depth in [0, 1], float32 (H, W)."""
        GL = _gl()
        self._begin(self.depth_program, uniforms)
        GL.glDrawBuffers(1, [GL.GL_NONE])
        GL.glClearBufferfv(GL.GL_DEPTH, 0, np.ones(1, np.float32))
        GL.glDrawElements(GL.GL_TRIANGLES, self.n_index, GL.GL_UNSIGNED_INT, ctypes.c_void_p(0))
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
            GL.glDeleteFramebuffers(1, [self.fbo])
            GL.glDeleteRenderbuffers(len(self._rbs), self._rbs)
            GL.glDeleteBuffers(len(self._buffers), self._buffers)
            GL.glDeleteTextures(list(self.textures.values()))
            GL.glDeleteVertexArrays(1, [self.vao])
            GL.glDeleteProgram(self.program)
            GL.glDeleteProgram(self.depth_program)
        except Exception:  # context already gone: nothing left to free
            pass
