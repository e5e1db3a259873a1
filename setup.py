"""Build script for the parts pyproject.toml cannot say. Metadata and dependencies:
pyproject.toml.

- The top-level folders ``conf/`` (Hydra configs), ``assets/`` (sensor profiles) and
  ``scenes/`` (scene recipes) ship inside the package as ``room.conf``, ``room.assets`` and
  ``room.scenes``, found the same way (room.paths) in a regular and an editable install.
- ``room-gymnasium.pth`` goes into site-packages beside the top-level module
  ``_room_gymnasium`` (Gymnasium 1.x has no plugin entry points; this makes
  ``gymnasium.make("room/...")`` work after a plain ``import gymnasium``).
  It is a data file placed at the platform's site-packages path relative to the install prefix,
  so editable installs (which skip build outputs) get it too.
"""

import os
import sys
import sysconfig

from setuptools import find_packages, setup
from setuptools.dist import Distribution

DATA = {"room.conf": "conf", "room.assets": "assets", "room.scenes": "scenes"}

SITE_PACKAGES = os.path.relpath(sysconfig.get_paths()["purelib"], sys.prefix)


class _Distribution(Distribution):
    """setuptools' editable_wheel installs data files only when ``has_data()`` exists and is
    true, a method Distribution lacks (it has ``has_data_files``): answer it, so editable
    installs get room-gymnasium.pth like regular ones."""

    def has_data(self) -> bool:
        return self.has_data_files()


setup(
    distclass=_Distribution,
    packages=[*find_packages(include=["room", "room.*"]), *DATA],
    py_modules=["_room_gymnasium"],
    package_dir=DATA,
    package_data={"room": ["py.typed"], "room.conf": ["*.yaml", "**/*.yaml"],
                  "room.assets": ["**/*.json"], "room.scenes": ["*.yaml"]},
    data_files=[(SITE_PACKAGES, ["room-gymnasium.pth"])],
)
