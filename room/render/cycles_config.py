"""Settings of the path-traced RGB backend (``render.backend=cycles``, Hydra ``render.cycles``).

Blender Cycles (the ``bpy`` package, extra ``[cycles]``) draws the RGB; every ground-truth
modality still comes from the exact raster pass (see :mod:`room.render.cycles`).
"""

from __future__ import annotations

from dataclasses import dataclass

from room.errors import ConfigError

BACKENDS = ("raster", "cycles")
"""What draws ``Frame.rgb``: the OpenGL raster (default) or Blender Cycles."""


@dataclass(frozen=True)
class CyclesConfig:
    """Path tracer settings; used only when ``render.backend=cycles``.

    ``samples`` per pixel; ``denoise``: Open Image Denoise on the CPU (albedo + normal guided);
    ``threads``: CPU threads (0 = all); ``max_bounces``: light bounces (inter-reflections inside
    the airway replace the raster's ``light.ambient``); ``filter_width_px``: the pixel filter
    (Blackman-Harris, px; 0.01 = a point sample at the pixel centre); ``subdivide``: midpoint
    subdivisions of the mesh for the Cycles copy (each one splits every triangle in 4 on its
    own plane, so the surface is unchanged; the mucosa pattern is carried per vertex, so finer
    triangles resolve finer vessels). Mucosa: ``subsurface`` weight and ``subsurface_radius_m``
    (mean free path of red, green, blue light, m), a wet ``coat`` (weight, roughness, IOR of
    water). ``seed`` offsets the sampling seed (each frame's seed is this + render.seed + frame
    index, so a dataset is reproducible).
    """

    samples: int = 16
    denoise: bool = True
    threads: int = 0
    max_bounces: int = 4
    filter_width_px: float = 1.5
    subdivide: int = 1
    subsurface: float = 0.3
    subsurface_radius_m: tuple[float, float, float] = (0.0012, 0.0004, 0.0002)
    coat: float = 1.0
    coat_roughness: float = 0.08
    coat_ior: float = 1.33
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.samples <= 65536:
            problems.append(f"samples={self.samples}: use 1..65536")
        if self.threads < 0 or not 0 <= self.max_bounces <= 64:
            problems.append("threads >= 0 (0 = all cores) and max_bounces in 0..64")
        if not 0.01 <= self.filter_width_px <= 10:
            problems.append(f"filter_width_px={self.filter_width_px}: use 0.01..10 px")
        if not 0 <= self.subdivide <= 3:
            problems.append(f"subdivide={self.subdivide}: use 0..3 (each one 4x the triangles)")
        if not (0 <= self.subsurface <= 1 and 0 <= self.coat <= 1
                and 0 <= self.coat_roughness <= 1 and 1 <= self.coat_ior <= 3):
            problems.append("subsurface, coat and coat_roughness in [0, 1], coat_ior in [1, 3]")
        if len(self.subsurface_radius_m) != 3 or min(self.subsurface_radius_m) <= 0:
            problems.append("subsurface_radius_m: three positive lengths (m) for r, g, b")
        if problems:
            raise ConfigError("render.cycles: " + "; ".join(problems))
