"""``software_versions``: what produced an artefact (recorded in scene.json and info.json).

Base module: imports nothing from room's stages.
"""

from __future__ import annotations

import importlib
import platform
from importlib.metadata import PackageNotFoundError, version


def software_versions(*packages: str) -> dict[str, str]:
    """room's and Python's versions and those of ``packages``. Each is a distribution name
    (``scikit-image``) or an importable module (``cv2``); its version comes from the installed
    distribution, else from the module's ``__version__``, else it is ``"absent"``."""
    from room._version import __version__

    out = {"room": __version__, "python": platform.python_version()}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
            continue
        except PackageNotFoundError:
            pass
        try:
            out[pkg] = str(importlib.import_module(pkg).__version__)
        except (ImportError, AttributeError):
            out[pkg] = "absent"
    return out
