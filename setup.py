"""Build script for the parts pyproject.toml cannot say: the top-level folders ``conf/`` (Hydra
configs), ``assets/`` (sensor profiles) and ``scenes/`` (scene recipes) ship inside the package
as ``room.conf``, ``room.assets`` and ``room.scenes``, found the same way (room.paths) in a
regular and an editable install. Metadata and dependencies: pyproject.toml."""

from setuptools import find_packages, setup

DATA = {"room.conf": "conf", "room.assets": "assets", "room.scenes": "scenes"}

setup(
    packages=[*find_packages(include=["room", "room.*"]), *DATA],
    package_dir=DATA,
    package_data={"room": ["py.typed"], "room.conf": ["*.yaml", "**/*.yaml"],
                  "room.assets": ["**/*.json"], "room.scenes": ["*.yaml"]},
)
