"""Headless OpenGL: choose the platform once per process, create contexts, report what ran.

PyOpenGL binds its platform (EGL, OSMesa, GLX) when ``OpenGL`` is first imported, so the choice
is made here, lazily, before that import: ``PYOPENGL_PLATFORM`` when set, else EGL when libEGL is
present (a GPU through its vendor's EGL, or Mesa llvmpipe on CPU), else OSMesa. Nothing happens
at import time of this module.

OSMesa with the pinned PyOpenGL 3.1.0: pyrender's OSMesa platform needs
``OSMesaCreateContextAttribs``, which that PyOpenGL lacks, and PyOpenGL 3.1.0's OSMesa context
lookup returns an unhashable pointer. Both are worked around here (ctypes calls into libOSMesa,
``restype`` fixed to ``c_void_p``), which gives an OpenGL 3.3+ core context.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from typing import Any

from room.errors import RenderError

EGL_PACKAGES = "libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 libopengl0"
OSMESA_PACKAGES = "libosmesa6"
_INSTALL_HINT = (
    f"install the headless OpenGL system libraries, e.g. `apt-get install {EGL_PACKAGES}` for "
    f"EGL or `apt-get install {OSMESA_PACKAGES}` for OSMesa (or run `make system-deps`)"
)

_platform: str | None = None


def _have_lib(*names: str) -> bool:
    for n in names:
        try:
            ctypes.CDLL(n)
            return True
        except OSError:
            continue
    return False


def is_software(info: dict[str, str]) -> bool:
    """Whether a context's ``info`` (Context.info) names a CPU rasterizer (Mesa llvmpipe,
    softpipe or swrast), where full-screen fragment passes cost more than numpy/numba loops."""
    name = info.get("renderer", "").lower()
    return any(k in name for k in ("llvmpipe", "softpipe", "swrast"))


def limit_software_threads(n: int = 1) -> None:
    """Cap Mesa llvmpipe's rasterizer threads for GL contexts created after this call.

    One llvmpipe context already keeps more than one core busy; when several worker processes
    render side by side (``room-generate -m hydra/launcher=joblib``) those threads oversubscribe
    the cores, and one thread per worker gives more frames per second in total. No effect on a
    GPU driver. An explicit ``LP_NUM_THREADS`` in the environment wins.
    """
    os.environ.setdefault("LP_NUM_THREADS", str(int(n)))


def platform() -> str:
    """The GL platform of this process (``egl`` or ``osmesa``), chosen on first call."""
    global _platform
    if _platform is not None:
        return _platform
    env = os.environ.get("PYOPENGL_PLATFORM", "").strip().lower()
    if "OpenGL" in sys.modules and not env:
        raise RenderError(
            "PyOpenGL was imported before room chose a GL platform; set PYOPENGL_PLATFORM=egl "
            "(or osmesa) in the environment, or import room.render before OpenGL"
        )
    if env:
        if env not in ("egl", "osmesa"):
            raise RenderError(
                f"PYOPENGL_PLATFORM={env!r} is not headless; use 'egl' or 'osmesa' (unset it to "
                "let room choose)"
            )
        choice = env
    elif _have_lib("libEGL.so.1", "libEGL.so", ctypes.util.find_library("EGL") or "libEGL.so.1"):
        choice = "egl"
    elif _have_lib("libOSMesa.so.8", "libOSMesa.so.6", "libOSMesa.so"):
        choice = "osmesa"
    else:
        raise RenderError(f"no headless OpenGL platform found (neither EGL nor OSMesa): "
                          f"{_INSTALL_HINT}")
    os.environ["PYOPENGL_PLATFORM"] = choice
    _platform = choice
    return choice


class Context:
    """One offscreen OpenGL (>= 3.3 core) context; rendering goes to our own framebuffers."""

    def __init__(self) -> None:
        self.platform = platform()
        self._impl: Any = None
        try:
            if self.platform == "egl":
                self._impl = _EGLContext()
            else:
                self._impl = _OSMesaContext()
            self.make_current()
            from OpenGL import GL

            def s(name: int) -> str:
                v = GL.glGetString(name)
                return v.decode() if isinstance(v, bytes) else str(v)

            self.info = {
                "platform": self.platform,
                "vendor": s(GL.GL_VENDOR),
                "renderer": s(GL.GL_RENDERER),
                "version": s(GL.GL_VERSION),
            }
        except RenderError:
            raise
        except Exception as e:  # library present but unusable: say what to do
            raise RenderError(
                f"could not create a headless OpenGL context with {self.platform!r} ({e}); "
                f"{_INSTALL_HINT}; or try PYOPENGL_PLATFORM=osmesa"
            ) from e

    def make_current(self) -> None:
        self._impl.make_current()

    def close(self) -> None:
        if self._impl is not None:
            self._impl.close()
            self._impl = None


class _EGLContext:
    def __init__(self) -> None:
        from pyrender.platforms.egl import EGLPlatform, get_device_by_index

        dev = int(os.environ.get("ROOM_EGL_DEVICE", "0"))
        self._p = EGLPlatform(16, 16, device=get_device_by_index(dev))
        self._p.init_context()

    def make_current(self) -> None:
        self._p.make_current()

    def close(self) -> None:
        """Destroy our context only: pyrender's delete_context also calls eglTerminate on the
        display, which is shared by every context of the process and would kill the others."""
        from OpenGL.EGL import EGL_NO_CONTEXT, EGL_NO_SURFACE, eglDestroyContext, eglMakeCurrent

        p = self._p
        if p._egl_context is not None:
            eglMakeCurrent(p._egl_display, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT)
            eglDestroyContext(p._egl_display, p._egl_context)
            p._egl_context = None
        p._egl_display = None  # else pyrender's __del__ would eglTerminate the shared display


class _OSMesaContext:
    _FORMAT, _RGBA, _DEPTH_BITS, _PROFILE, _CORE = 0x22, 0x1908, 0x30, 0x33, 0x34
    _MAJOR, _MINOR = 0x36, 0x37

    def __init__(self) -> None:
        import OpenGL.platform as glp

        glp.PLATFORM.GetCurrentContext.restype = ctypes.c_void_p  # PyOpenGL 3.1.0 bug
        lib = None
        for name in ("libOSMesa.so.8", "libOSMesa.so.6", "libOSMesa.so"):
            try:
                lib = ctypes.CDLL(name)
                break
            except OSError:
                continue
        if lib is None:
            raise RenderError(f"libOSMesa not found: {_INSTALL_HINT}")
        create = lib.OSMesaCreateContextAttribs
        create.restype = ctypes.c_void_p
        create.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.c_void_p]
        attrs = (ctypes.c_int * 11)(self._FORMAT, self._RGBA, self._DEPTH_BITS, 24,
                                    self._PROFILE, self._CORE, self._MAJOR, 3, self._MINOR, 3, 0)
        self._ctx = create(attrs, None)
        if not self._ctx:
            raise RenderError("OSMesaCreateContextAttribs failed (need Mesa with GL 3.3 core)")
        self._lib = lib
        self._lib.OSMesaMakeCurrent.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint,
                                                ctypes.c_int, ctypes.c_int]
        self._lib.OSMesaDestroyContext.argtypes = [ctypes.c_void_p]
        self._buf = (ctypes.c_ubyte * (16 * 16 * 4))()

    def make_current(self) -> None:
        GL_UNSIGNED_BYTE = 0x1401
        if not self._lib.OSMesaMakeCurrent(self._ctx, self._buf, GL_UNSIGNED_BYTE, 16, 16):
            raise RenderError("OSMesaMakeCurrent failed")

    def close(self) -> None:
        if self._ctx:
            self._lib.OSMesaDestroyContext(self._ctx)
            self._ctx = None
