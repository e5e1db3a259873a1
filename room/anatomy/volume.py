"""`Volume`: a 3D image (CT in HU, or a mask) with its geometry in the world frame (LPS, metres).

Array order is SimpleITK's numpy order, ``array[z, y, x]``; spacing, origin and index vectors are
in (x, y, z) order as SimpleITK reports them, but in metres (CT files store millimetres; the
loader converts once). ``direction`` is the 3 x 3 matrix whose columns are the world directions of
the x, y, z index axes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

MM = 1e-3


@dataclass
class Volume:
    """Voxel array plus geometry. World point of voxel index (i, j, k) = (x, y, z index):
    ``origin + direction @ (spacing * [i, j, k])``."""

    array: np.ndarray  # [z, y, x]
    spacing: np.ndarray  # (3,) metres, x y z
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))  # (3,) metres, LPS
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    """What the loader found questionable but accepted (thick slices, coarse resampling): one
    sentence each, to be shown to the user and recorded with the result (scene.json)."""

    def __post_init__(self) -> None:
        self.spacing = np.asarray(self.spacing, dtype=float).reshape(3)
        self.origin = np.asarray(self.origin, dtype=float).reshape(3)
        self.direction = np.asarray(self.direction, dtype=float).reshape(3, 3)
        if self.array.ndim != 3:
            raise ValueError(f"volume must be 3D, got shape {self.array.shape}")

    @property
    def shape_xyz(self) -> tuple[int, int, int]:
        z, y, x = self.array.shape
        return (x, y, z)

    @property
    def voxel_volume_m3(self) -> float:
        return float(np.prod(self.spacing))

    def index_to_world(self, ijk: np.ndarray) -> np.ndarray:
        """(N, 3) continuous voxel indices in (x, y, z) order -> world points (N, 3), metres."""
        ijk = np.asarray(ijk, dtype=float)
        return self.origin + (ijk * self.spacing) @ self.direction.T

    def zyx_to_world(self, zyx: np.ndarray) -> np.ndarray:
        """Indices in numpy array order (z, y, x) -> world points, metres."""
        return self.index_to_world(np.asarray(zyx, dtype=float)[..., ::-1])

    def world_to_index(self, points: np.ndarray) -> np.ndarray:
        """World points (N, 3) -> continuous voxel indices in (x, y, z) order."""
        p = np.asarray(points, dtype=float) - self.origin
        return (p @ np.linalg.inv(self.direction).T) / self.spacing

    def with_array(self, array: np.ndarray, **meta: Any) -> Volume:
        """Same geometry, another voxel array (a mask, a filtered image)."""
        if array.shape != self.array.shape:
            raise ValueError(f"shape {array.shape} differs from {self.array.shape}")
        return replace(self, array=array, metadata={**self.metadata, **meta})

    def to_sitk(self):
        """SimpleITK image in millimetres (the unit ITK files and filters expect)."""
        import SimpleITK as sitk

        arr = self.array.astype(np.uint8) if self.array.dtype == bool else self.array
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing(tuple(float(s / MM) for s in self.spacing))
        img.SetOrigin(tuple(float(o / MM) for o in self.origin))
        img.SetDirection(tuple(float(d) for d in self.direction.ravel()))
        return img

    @classmethod
    def from_sitk(cls, img, **metadata: Any) -> Volume:
        """From a SimpleITK image (millimetre geometry) to metres."""
        import SimpleITK as sitk

        return cls(
            array=sitk.GetArrayFromImage(img),
            spacing=np.array(img.GetSpacing()) * MM,
            origin=np.array(img.GetOrigin()) * MM,
            direction=np.array(img.GetDirection()).reshape(3, 3),
            metadata=dict(metadata),
        )
