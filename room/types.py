"""Core types shared by every stage: camera intrinsics and the rendered :class:`Frame`.

Data contract (see DESIGN.md): metres, radians, seconds; camera frame is OpenCV (x right,
y down, z forward); pixel centres at integer coordinates; ground truth of every modality lives in
the same (distorted) image space as the RGB.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from room.errors import ConfigError

DISTORTION_MODELS = ("none", "radtan", "fisheye")
"""``radtan``: OpenCV's k1, k2, p1, p2, k3 (cv2.projectPoints). ``fisheye``: OpenCV's
equidistant k1..k4 (cv2.fisheye)."""

_N_COEFFS = {"none": 0, "radtan": 5, "fisheye": 4}


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics plus lens distortion, in pixels, with explicit clip planes in metres.

    ``cx, cy`` use the OpenCV convention: the centre of the top-left pixel is (0, 0), so the
    image centre of a W-pixel-wide image is (W - 1) / 2.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    near: float = 0.0005
    far: float = 0.25
    distortion_model: str = "none"
    distortion: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        if int(self.width) != self.width or int(self.height) != self.height:
            problems.append("width and height must be whole pixels")
        if not (8 <= self.width <= 8192 and 8 <= self.height <= 8192):
            problems.append(f"image size {self.width}x{self.height} outside 8..8192 px")
        if not (np.isfinite(self.fx) and np.isfinite(self.fy) and self.fx > 0 and self.fy > 0):
            problems.append(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        if not (-0.5 <= self.cx <= self.width - 0.5 and -0.5 <= self.cy <= self.height - 0.5):
            problems.append(f"principal point ({self.cx}, {self.cy}) lies outside the image")
        if not (0 < self.near < self.far and np.isfinite(self.far)):
            problems.append(f"need 0 < near < far (metres), got near={self.near}, far={self.far}")
        if self.distortion_model not in DISTORTION_MODELS:
            problems.append(
                f"distortion_model {self.distortion_model!r} not one of {DISTORTION_MODELS}"
            )
        else:
            want = _N_COEFFS[self.distortion_model]
            if len(self.distortion) not in (0, want) or (want == 0 and self.distortion):
                problems.append(
                    f"{self.distortion_model} distortion takes {want} coefficients, "
                    f"got {len(self.distortion)}"
                )
        if problems:
            raise ConfigError("impossible intrinsics: " + "; ".join(problems))
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "distortion", tuple(float(c) for c in self.distortion))

    @property
    def K(self) -> np.ndarray:
        """3 x 3 camera matrix (OpenCV)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width), the shape of every per-pixel array."""
        return (self.height, self.width)

    @property
    def distortion_coeffs(self) -> np.ndarray:
        """Coefficients as OpenCV expects them (zeros when the model has none given)."""
        n = _N_COEFFS[self.distortion_model]
        c = np.zeros(n)
        c[: len(self.distortion)] = self.distortion
        return c

    @property
    def is_distorted(self) -> bool:
        return self.distortion_model != "none" and bool(np.any(self.distortion_coeffs))

    def scaled(self, width: int, height: int) -> Intrinsics:
        """The same lens at another resolution (pixel-centre convention preserved)."""
        sx, sy = width / self.width, height / self.height
        return dataclasses.replace(
            self,
            width=width,
            height=height,
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5,
            cy=(self.cy + 0.5) * sy - 0.5,
        )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["distortion"] = list(self.distortion)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Intrinsics:
        d = dict(d)
        d["distortion"] = tuple(d.get("distortion", ()))
        return cls(**d)


BACKGROUND_ID = -1
"""Segmentation / face id of pixels where nothing was hit."""


@dataclass(frozen=True, eq=False)
class Frame:
    """One synchronized multi-modal observation from the tip camera. Fixed shape: every field
    is always present, whatever was asked of the renderer.

    Arrays are (H, W[, C]) in the distorted image space of ``intrinsics``:

    - ``rgb``: uint8 sRGB, the sensor image (noise, vignetting, ... when a sensor model ran;
      otherwise identical to ``rgb_clean``).
    - ``rgb_clean``: uint8 sRGB, the noiseless render.
    - ``depth``: float32 z-depth along the optical axis in metres, 0 where nothing was hit.
    - ``normals``: float32 unit normals in the camera frame, facing the camera; 0 where no hit.
    - ``segmentation``: int32 airway branch id per pixel, ``BACKGROUND_ID`` where no hit.
    - ``face_id``: int32 triangle index into the scene's visual mesh, ``BACKGROUND_ID``.
    - ``T_world_cam``: float64 4 x 4 camera pose (OpenCV camera axes).
    - ``meta``: facts about this frame (empty view, renderer, light settings, ...), JSON-able.
    """

    rgb: np.ndarray
    rgb_clean: np.ndarray
    depth: np.ndarray
    normals: np.ndarray
    segmentation: np.ndarray
    face_id: np.ndarray
    T_world_cam: np.ndarray
    intrinsics: Intrinsics
    index: int = 0
    time_s: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        h, w = self.intrinsics.shape
        expect = {
            "rgb": ((h, w, 3), np.uint8),
            "rgb_clean": ((h, w, 3), np.uint8),
            "depth": ((h, w), np.float32),
            "normals": ((h, w, 3), np.float32),
            "segmentation": ((h, w), np.int32),
            "face_id": ((h, w), np.int32),
            "T_world_cam": ((4, 4), np.float64),
        }
        for name, (shape, dtype) in expect.items():
            a = getattr(self, name)
            if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != dtype:
                got = (getattr(a, "shape", None), getattr(a, "dtype", type(a)))
                raise ValueError(f"Frame.{name} must be {dtype.__name__}{shape}, got {got}")

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask of pixels where the airway surface was hit."""
        return self.depth > 0

    def replace(self, **changes: Any) -> Frame:
        """A copy with some fields replaced (frames are immutable)."""
        return dataclasses.replace(self, **changes)

    def equals(self, other: Frame, atol: float = 0.0) -> bool:
        """Field-by-field comparison of arrays (exact by default) and metadata."""
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray):
                if a.shape != b.shape or not np.allclose(a, b, atol=atol, rtol=0):
                    return False
            elif f.name != "meta" and a != b:
                return False
        return True
