"""Optical flow on the GL side: one full-screen pass per direction, the GPU twin of
:func:`room.render.geometry.optical_flow` (the numpy reference the tests compare against).

Each output pixel of frame a takes its z-depth (a float32 texture of ``frame_a.depth``) along
its own ray (the cached undistorted ray grid of the camera, a RG32F texture: exact pixel rays
for pinhole and distorted cameras alike), moves the point into camera b with the relative pose
(``R_b_a - I`` and ``t_b_a``, so float32 rounding applies to the small motion, not to the
point), projects it through camera b's lens model (radtan or fisheye, the formulas of
:func:`room.render.camera.distort`), and keeps it when it lies in front of b, inside b's image,
and agrees with b's depth map (bilinear over four hit pixels) within ``rel_tol`` relative:
the same occlusion test, in the same order, as the numpy reference. It writes the displacement
(RG32F, 0 where invalid) and the validity (R8UI); two reads of the (H, W) targets. The lens
model is a compile-time choice and b's four depth texels come from one ``textureGather``:
llvmpipe runs every branch of a fragment shader and gathers texels one by one (about 2x).

Inputs are the frames' own depth maps, so a dataset's flow is a function of the stored
(canonical) depth and poses alone: deterministic, identical on resume, and reproducible by
``room-validate``. Differences to the float64 reference are float32 rounding: ~1e-4 px on the
flow; validity flips only where a point lies within float32 rounding of the 1 % depth tolerance
or of the image border.
"""

from __future__ import annotations

import ctypes

import numpy as np

from room.render.camera import _pixel_rays
from room.transforms import invert
from room.types import Intrinsics

FLOW_FRAGMENT = """
uniform sampler2D u_depth_a;  // R32F z-depth of frame a (m, 0 = no hit)
uniform sampler2D u_depth_b;  // R32F z-depth of frame b
uniform sampler2D u_rays;     // RG32F undistorted ray (x, y; z = 1) of every pixel
uniform vec4 u_intr;          // fx, fy, cx, cy
uniform vec2 u_size;          // width, height
uniform mat3 u_dR;            // R_b_a - I
uniform vec3 u_t;             // t_b_a (m)
uniform float u_near;         // camera b's near plane (m)
uniform float u_rel_tol;      // occlusion test: relative depth tolerance
uniform float u_k[5];
#if MOTION
uniform sampler2D u_motion;   // RGB32F surface motion a -> b of each pixel, camera-a axes (m)
#endif
layout(location = 0) out vec2 o_flow;
layout(location = 1) out uint o_valid;

vec2 distort(vec2 p) {
#if MODEL == 1  // radtan: k1 k2 p1 p2 k3 (a compile-time choice: llvmpipe runs every branch)
        float r2 = dot(p, p);
        float radial = 1.0 + r2 * (u_k[0] + r2 * (u_k[1] + r2 * u_k[4]));
        return vec2(p.x * radial + 2.0 * u_k[2] * p.x * p.y + u_k[3] * (r2 + 2.0 * p.x * p.x),
                    p.y * radial + u_k[2] * (r2 + 2.0 * p.y * p.y) + 2.0 * u_k[3] * p.x * p.y);
#elif MODEL == 2  // fisheye (equidistant): k1..k4
        float r = length(p);
        float th = atan(r);
        float t2 = th * th;
        float thd = th * (1.0 + t2 * (u_k[0] + t2 * (u_k[1] + t2 * (u_k[2] + t2 * u_k[3]))));
        return r > 1e-12 ? p * (thd / r) : p;
#else
    return p;
#endif
}

void main() {
    ivec2 px = ivec2(gl_FragCoord.xy);  // (u, v): rows are image rows (textures and reads)
    o_flow = vec2(0.0);
    o_valid = 0u;
    float z = texelFetch(u_depth_a, px, 0).x;
    if (!(z > 0.0)) return;
    vec3 pa = z * vec3(texelFetch(u_rays, px, 0).xy, 1.0);
#if MOTION
    pa += texelFetch(u_motion, px, 0).xyz;  // the material point where it is at b
#endif
    vec3 pb = pa + (u_dR * pa + u_t);  // R p + t with the rounding on the motion only
    if (!(pb.z > u_near)) return;
    vec2 q = distort(pb.xy / pb.z) * u_intr.xy + u_intr.zw;  // pixel in b
    if (!(q.x >= 0.0 && q.x <= u_size.x - 1.0 && q.y >= 0.0 && q.y <= u_size.y - 1.0)) return;
    vec2 q0 = clamp(floor(q), vec2(0.0), u_size - 2.0);
    vec2 f = q - q0;
    // the 2 x 2 texels from q0 in one gather (x: (0, 1), y: (1, 1), z: (1, 0), w: (0, 0))
    vec4 d = textureGather(u_depth_b, (q0 + 1.0) / u_size);
    if (!(min(min(d.x, d.y), min(d.z, d.w)) > 0.0)) return;
    float zs = (d.w * (1.0 - f.x) + d.z * f.x) * (1.0 - f.y)
               + (d.x * (1.0 - f.x) + d.y * f.x) * f.y;
    if (!(abs(zs - pb.z) <= u_rel_tol * pb.z)) return;
    o_flow = q - vec2(px);
    o_valid = 1u;
}
"""

_MODELS = {"none": 0, "radtan": 1, "fisheye": 2}


class FlowPass:
    """GL objects of the flow pass for one camera (``intr``); create and use with the
    renderer's context current. ``motion``: the variant for a moving scene, which adds each
    pixel's surface motion (a -> b, camera-a axes, m) to its point before moving it into b."""

    def __init__(self, intr: Intrinsics, motion: bool = False) -> None:
        from OpenGL import GL

        from room.render import shaders
        from room.render.raster import Raster, _program

        self.intr = intr
        w, h = intr.width, intr.height
        tex = Raster._texture2d
        rays = np.ascontiguousarray(_pixel_rays(intr), dtype=np.float32)
        self.t_rays = tex(GL.GL_RG32F, w, h, GL.GL_RG, GL.GL_FLOAT, rays)
        self.t_depth = [tex(GL.GL_R32F, w, h, GL.GL_RED, GL.GL_FLOAT) for _ in range(2)]
        self.t_out = [tex(GL.GL_RG32F, w, h, GL.GL_RG, GL.GL_FLOAT),
                      tex(GL.GL_R8UI, w, h, GL.GL_RED_INTEGER, GL.GL_UNSIGNED_BYTE)]
        self.fbo = Raster._framebuffer([(GL.GL_COLOR_ATTACHMENT0 + k, t)
                                        for k, t in enumerate(self.t_out)])
        model = _MODELS[intr.distortion_model] if intr.is_distorted else 0
        self.program = _program(shaders.SHADE_VERTEX, "#version 330 core\n#extension "
                                "GL_ARB_texture_gather : require\n"
                                f"#define MODEL {model}\n#define MOTION {int(motion)}\n"
                                f"{FLOW_FRAGMENT}")
        self.t_motion = (tex(GL.GL_RGB32F, w, h, GL.GL_RGB, GL.GL_FLOAT) if motion else None)
        self.vao = GL.glGenVertexArrays(1)
        loc = lambda name: GL.glGetUniformLocation(self.program, name)  # noqa: E731
        GL.glUseProgram(self.program)
        for unit, name in enumerate(("u_depth_a", "u_depth_b", "u_rays", "u_motion")):
            if name != "u_motion" or motion:
                GL.glUniform1i(loc(name), unit)
        GL.glUniform4f(loc("u_intr"), intr.fx, intr.fy, intr.cx, intr.cy)
        GL.glUniform2f(loc("u_size"), w, h)
        GL.glUniform1f(loc("u_near"), intr.near)
        k = np.zeros(5, np.float32)
        if intr.is_distorted:
            c = np.asarray(intr.distortion_coeffs, np.float64).ravel()
            k[: len(c)] = c
        GL.glUniform1fv(loc("u_k"), 5, k)
        self._loc = {n: loc(n) for n in ("u_dR", "u_t", "u_rel_tol")}

    def __call__(self, depth_a: np.ndarray, T_world_a: np.ndarray, depth_b: np.ndarray,
                 T_world_b: np.ndarray, rel_tol: float,
                 motion: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Flow (H, W, 2) float32 px and validity (H, W) bool from a to b (module docstring);
        ``motion`` (H, W, 3): the surface motion of the motion variant."""
        from OpenGL import GL
        from OpenGL.raw.GL.VERSION.GL_1_0 import glReadPixels

        w, h = self.intr.width, self.intr.height
        T = invert(T_world_b) @ T_world_a  # float64; only R - I and t go to float32
        GL.glUseProgram(self.program)
        GL.glUniformMatrix3fv(self._loc["u_dR"], 1, GL.GL_TRUE,
                              (T[:3, :3] - np.eye(3)).astype(np.float32))
        GL.glUniform3f(self._loc["u_t"], *T[:3, 3])
        GL.glUniform1f(self._loc["u_rel_tol"], rel_tol)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        for unit, (t, d) in enumerate(zip(self.t_depth, (depth_a, depth_b), strict=True)):
            GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
            GL.glBindTexture(GL.GL_TEXTURE_2D, t)
            GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, GL.GL_RED, GL.GL_FLOAT,
                               np.ascontiguousarray(d, dtype=np.float32))
        GL.glActiveTexture(GL.GL_TEXTURE2)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.t_rays)
        if self.t_motion is not None:
            if motion is None:
                raise ValueError("the motion flow pass needs each pixel's surface motion")
            GL.glActiveTexture(GL.GL_TEXTURE3)
            GL.glBindTexture(GL.GL_TEXTURE_2D, self.t_motion)
            GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, GL.GL_RGB, GL.GL_FLOAT,
                               np.ascontiguousarray(motion, dtype=np.float32))
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.fbo)
        GL.glViewport(0, 0, w, h)
        GL.glDisable(GL.GL_DEPTH_TEST)
        GL.glDisable(GL.GL_CULL_FACE)
        GL.glDisable(GL.GL_BLEND)
        GL.glDrawBuffers(2, [GL.GL_COLOR_ATTACHMENT0, GL.GL_COLOR_ATTACHMENT1])
        GL.glBindVertexArray(self.vao)
        GL.glDrawArrays(GL.GL_TRIANGLES, 0, 3)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        flow = np.empty((h, w, 2), np.float32)
        valid = np.empty((h, w), np.uint8)
        GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0)
        glReadPixels(0, 0, w, h, GL.GL_RG, GL.GL_FLOAT, flow.ctypes.data_as(ctypes.c_void_p))
        GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT1)
        glReadPixels(0, 0, w, h, GL.GL_RED_INTEGER, GL.GL_UNSIGNED_BYTE,
                     valid.ctypes.data_as(ctypes.c_void_p))
        return flow, valid.view(bool)

    def release(self) -> None:
        from OpenGL import GL

        GL.glDeleteFramebuffers(1, [self.fbo])
        extra = [] if self.t_motion is None else [self.t_motion]
        GL.glDeleteTextures([self.t_rays, *self.t_depth, *self.t_out, *extra])
        GL.glDeleteVertexArrays(1, [self.vao])
        GL.glDeleteProgram(self.program)
