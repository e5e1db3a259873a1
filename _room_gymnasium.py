"""Gymnasium registration of room's environments, without importing room.

Gymnasium 1.x dropped plugin entry points, so an installed package has no standard way to make
``gymnasium.make("room/BronchoscopyNav-v0")`` work after a plain ``import gymnasium``. room ships
``room-gymnasium.pth`` (setup.py), which runs :func:`install` at interpreter start: it puts a
one-shot finder on ``sys.meta_path`` that, when ``gymnasium.envs.registration`` is first
imported, registers :data:`ENVS` right after the module has run. This module is top-level (like
setuptools' ``_distutils_hack``) so that interpreter start imports nothing of ``room`` itself: the
environment class (PyBullet, OpenGL) loads only when ``gymnasium.make`` builds one, and which
``room`` a process imports is decided by its own ``sys.path``. ``import room.env`` registers the
same ids.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from typing import Any

# env id -> keyword arguments of gymnasium.register
ENVS: dict[str, dict[str, Any]] = {
    "room/BronchoscopyNav-v0": {"entry_point": "room.env.nav:BronchoscopyNavEnv"},
}
_REGISTRATION = "gymnasium.envs.registration"


def register_all(registration: Any = None) -> None:
    """Register every id of :data:`ENVS` not registered yet (``registration``: the module
    ``gymnasium.envs.registration``, imported when not given)."""
    if registration is None:
        import gymnasium.envs.registration as registration
    for env_id, kwargs in ENVS.items():
        if env_id not in registration.registry:
            registration.register(id=env_id, **kwargs)


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the loader of ``gymnasium.envs.registration`` so that
    :func:`register_all` runs once that module has executed, then leaves ``sys.meta_path``."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != _REGISTRATION:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: Any) -> None:
            run(module)
            try:
                register_all(module)
            except Exception as e:  # never break `import gymnasium` for another program
                print(f"room: could not register its Gymnasium environments: {e}",
                      file=sys.stderr)

        loader.exec_module = exec_module
        return spec


def install() -> None:
    """Called from ``room-gymnasium.pth`` at interpreter start (cheap: no imports)."""
    if _REGISTRATION in sys.modules:
        register_all(sys.modules[_REGISTRATION])
    elif not any(isinstance(f, _RegisterAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport())
