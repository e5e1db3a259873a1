"""Exceptions raised by room, one family per stage.

Every error message says what is wrong and what to do about it; the CLIs print the message and
exit non-zero. Catch :class:`RoomError` to handle any of them.
"""

from __future__ import annotations


class RoomError(Exception):
    """Base class of every error room raises on purpose (bad input, impossible settings)."""

    exit_code = 2


class ConfigError(RoomError, ValueError):
    """A setting is impossible or inconsistent (negative size, near >= far, ...)."""


class InputFileError(RoomError):
    """A file or folder is missing, unreadable, or not what it claims to be."""


class NotCTError(InputFileError):
    """A volume that is not a CT in Hounsfield units (8-bit export, MR, ...)."""


class SegmentationError(RoomError):
    """Airway segmentation failed (no trachea found, empty or leaking result)."""


class MeshError(RoomError):
    """A surface or collision mesh is broken (not watertight, empty, degenerate)."""


class SceneError(RoomError):
    """A scene folder is incomplete or inconsistent."""


class RenderError(RoomError):
    """Rendering is impossible (no GL platform, bad pose, bad intrinsics)."""


class SimulationError(RoomError):
    """The physics simulation is unstable or was given impossible commands."""


class DatasetError(RoomError):
    """A dataset on disk is incomplete, invalid, or cannot be written."""


class InstallError(RoomError):
    """room's installation is incomplete (its packaged configs or assets are missing)."""
