"""Modality -> RGB panel, using the data stage's colourizers (room.data.preview), plus the
flow colour wheel legend and the fixed per-sequence colour scales.

Flow colouring (``colorize_flow``): HSV with hue = direction of (du, dv) in image coordinates
(u right, v down; OpenCV's cartToPolar angle, so flow to the right is red, hue 0) and value =
magnitude / ``max_px`` (saturating). :func:`flow_wheel` colours a disc of synthetic flows with
the very same function, so the legend is right by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from room.data.preview import colorize_depth, colorize_flow, colorize_labels, colorize_normals

# Columns a view shows, in order, when the sequence has them.
VIEW_MODALITIES = ("rgb", "depth", "normals", "flow_fwd", "segmentation", "scene_flow")
TITLES = {"rgb": "RGB (sensor)", "rgb_clean": "RGB (clean)", "depth": "depth",
          "normals": "normals", "flow_fwd": "flow t->t+1", "flow_bwd": "flow t->t-1",
          "segmentation": "segmentation", "scene_flow": "scene flow t->t+1"}


@dataclass(frozen=True)
class Scales:
    """Colour scales shared by every frame of a view: depth 0..``depth_max_m`` (metres),
    flow 0..``flow_max_px`` (pixels)."""

    depth_max_m: float
    flow_max_px: float
    scene_flow_max_m: float = 1e-3


def flow_wheel(size: int = 128, max_px: float = 1.0) -> np.ndarray:
    """(size, size, 3) uint8 colour wheel: the pixel at offset (du, dv) from the centre shows the
    colour of a flow (du, dv) * max_px / radius, i.e. the rim is a flow of ``max_px`` pixels.
    Outside the disc is white."""
    r = (size - 1) / 2.0
    v, u = np.mgrid[0:size, 0:size].astype(np.float32)
    du, dv = (u - r) / r, (v - r) / r
    inside = du ** 2 + dv ** 2 <= 1.0
    flow = np.stack([du, dv], -1) * max_px
    img = colorize_flow(flow, inside, max_px=max_px)
    img[~inside] = 255
    return img


def flow_color(du: float, dv: float, max_px: float) -> np.ndarray:
    """RGB (3,) uint8 colour of one flow vector (du, dv) pixels under the scale ``max_px``."""
    f = np.array([[[du, dv]]], np.float32)
    return colorize_flow(f, np.ones((1, 1), bool), max_px=max_px)[0, 0]


def sequence_scales(reader, indices: Sequence[int]) -> Scales:
    """Robust colour scales from the given frames: 98th percentile of the hit depths and 95th
    of the valid forward-flow magnitudes (so the few wall pixels next to the lens, which move
    fastest, do not wash out the rest), floored at 1 mm and 0.5 px."""
    depths, flows = [], []
    has_flow = "flow_fwd" in reader.modalities and "flow_fwd_valid" in reader.modalities
    for i in indices:
        mods = ["depth"] + (["flow_fwd", "flow_fwd_valid"] if has_flow else [])
        d = reader.read(i, mods)
        depths.append(d["depth"][d["depth"] > 0])
        if has_flow:
            flows.append(np.linalg.norm(d["flow_fwd"], axis=-1)[d["flow_fwd_valid"]])
    dep = np.concatenate(depths) if depths else np.zeros(0)
    flo = np.concatenate(flows) if flows else np.zeros(0)
    dmax = float(np.percentile(dep, 98)) if dep.size else float(reader.intrinsics.far)
    fmax = float(np.percentile(flo, 95)) if flo.size else 1.0
    smax = 1e-3
    if "scene_flow" in reader.modalities:
        sf = np.concatenate([np.abs(reader.read(i, ["scene_flow"])["scene_flow"]).ravel()
                             for i in indices])
        smax = max(float(sf.max(initial=0.0)), 1e-6)
    return Scales(depth_max_m=max(dmax, 1e-3), flow_max_px=max(fmax, 0.5),
                  scene_flow_max_m=smax)


def colorize_scene_flow(sf: np.ndarray, max_m: float) -> np.ndarray:
    """(H, W, 3) uint8: each camera axis of the 3D motion as a channel (R = x right, G = y
    down, B = z forward), mid-grey = no motion, full colour at +-``max_m`` metres."""
    x = np.clip(0.5 + np.asarray(sf, np.float32) / np.float32(2 * max_m), 0.0, 1.0)
    return np.round(255 * x).astype(np.uint8)


def modality_panel(data: dict[str, np.ndarray], modality: str, scales: Scales) -> np.ndarray:
    """(H, W, 3) uint8 picture of one modality from ``reader.read(i, ...)``'s dict."""
    x = data[modality]
    if modality in ("rgb", "rgb_clean"):
        return x
    if modality == "depth":
        return colorize_depth(x, scales.depth_max_m)
    if modality == "normals":
        return colorize_normals(x)
    if modality == "segmentation":
        return colorize_labels(x)
    if modality in ("flow_fwd", "flow_bwd"):
        return colorize_flow(x, data[f"{modality}_valid"], max_px=scales.flow_max_px)
    if modality == "scene_flow":
        return colorize_scene_flow(x, scales.scene_flow_max_m)
    raise ValueError(f"no panel for modality {modality!r}; choose from {sorted(TITLES)}")


def needed_modalities(modalities: Sequence[str]) -> list[str]:
    """The modalities to read for the panels (flow needs its validity mask)."""
    out = list(modalities)
    for m in modalities:
        if m.startswith("flow") and f"{m}_valid" not in out:
            out.append(f"{m}_valid")
    return out


def available(reader, wanted: Sequence[str] = VIEW_MODALITIES) -> list[str]:
    """The wanted modalities this sequence has (flow only together with its validity mask)."""
    have = set(reader.modalities)
    return [m for m in wanted if m in have and (not m.startswith("flow") or f"{m}_valid" in have)]


def resize(img: np.ndarray, size: int, nearest: bool = False) -> np.ndarray:
    """Square ``size`` x ``size`` panel (nearest for label images, area otherwise)."""
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    if img.shape[0] < size:
        interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.resize(img, (size, size), interpolation=interp)


def frame_data(frame, flow: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """A rendered :class:`~room.types.Frame` (+ optional (flow, valid) to the next frame, e.g.
    from room.render.geometry.optical_flow) as the dict ``SequenceReader.read`` returns."""
    d = {"rgb": frame.rgb, "rgb_clean": frame.rgb_clean, "depth": frame.depth,
         "normals": frame.normals, "segmentation": frame.segmentation}
    if flow is not None:
        d["flow_fwd"], d["flow_fwd_valid"] = flow
    return d


def data_scales(data: dict[str, np.ndarray]) -> Scales:
    """Colour scales of one frame's data (see :func:`sequence_scales`)."""
    dep = data["depth"][data["depth"] > 0]
    fl = np.zeros(0)
    if "flow_fwd" in data:
        fl = np.linalg.norm(data["flow_fwd"], axis=-1)[data["flow_fwd_valid"]]
    return Scales(depth_max_m=max(float(np.percentile(dep, 98)) if dep.size else 0.1, 1e-3),
                  flow_max_px=max(float(np.percentile(fl, 95)) if fl.size else 1.0, 0.5))
