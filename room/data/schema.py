"""Dataset format: version, units, conventions, per-modality encodings and path templates.

One sequence folder (``<out>/<scene>/<sequence>/``) holds::

    info.json            this schema's facts + intrinsics, scene recipe, seed, software, GL
    config.yaml          the resolved configuration that produced the sequence (no output paths)
    frames.jsonl         one JSON line per COMPLETE frame, appended last (the commit record)
    poses_tum.txt        T_world_cam per frame, TUM format (regenerated from frames.jsonl)
    rgb/000000.png ...   see ENCODINGS
    preview.mp4          modalities side by side; written last: a sequence is finished when it
                         exists and frames.jsonl has info.json's ``n_frames`` lines

Exactness ("read back equals what was rendered"): depth and normals are stored as 16-bit integers,
so the generator first *canonicalizes* each rendered frame (:func:`canonical_frame`: depth and
normals snapped to the file's grid) and derives flow and point clouds from the canonical frame.
The reader returns that canonical frame bit for bit. The quantization steps (10 um in depth,
3e-5 in a normal component) are far below the renderer's own precision at bronchoscope ranges.
"""

from __future__ import annotations

import numpy as np

from room.types import Frame

FORMAT_VERSION = "1.1"  # 1.1: flow_format (KITTI PNG flow by default); 1.0 read as .flo

DEPTH_SCALE_M = 1e-5
"""Depth PNG unit: 1 count = 0.01 mm = 1e-5 m. uint16 covers 0 .. 0.65535 m, which holds every
bronchoscope view (far plane default 0.25 m; a human trachea plus main bronchus is < 0.2 m), and
the 5 um worst-case rounding error is 1/100 of the smallest airway radius we model (0.5 mm)."""
DEPTH_MAX_M = 65535 * DEPTH_SCALE_M
NORMAL_SCALE = 32767
"""Normals PNG: 16-bit RGB (x, y, z), value q = round((n + 1) * 32767) in 0..65534, so n = 0
(background) is stored exactly as 32767 and decodes back to exactly 0."""

UNITS = {"length": "metre", "angle": "radian", "time": "second", "flow": "pixel"}
CONVENTIONS = {
    "world_frame": "scene world frame (CT patient frame, LPS), metres",
    "camera_frame": "OpenCV: x right, y down, z forward",
    "pose": "T_world_cam: 4x4 mapping camera-frame points to world; TUM line tx ty tz qx qy qz qw",
    "pixel_centres": "integer coordinates, OpenCV (top-left pixel centre is (0, 0))",
    "depth": "z-depth along the optical axis in metres, 0 = no surface hit",
    "normals": "unit vectors in the camera frame facing the camera, 0 = no hit",
    "flow": "flow_fwd[t] maps frame t to t+1, flow_bwd[t] maps frame t to t-1; (du, dv) pixels; "
            "the last frame has no flow_fwd and the first no flow_bwd",
    "segmentation": "airway branch id (info.json branch_table maps id -> generation, parent, "
                    "name), -1 = background",
    "image_space": "every modality lives in the (distorted) image space of the RGB",
}

# modality -> (folder, extension, description of the encoding)
_BASE_ENCODINGS: dict[str, dict[str, str]] = {
    "rgb": {"dir": "rgb", "ext": "png",
            "encoding": "8-bit sRGB PNG, the sensor image (noisy when a sensor model ran)"},
    "rgb_clean": {"dir": "rgb_clean", "ext": "png", "encoding": "8-bit sRGB PNG, noiseless"},
    "depth": {"dir": "depth", "ext": "png",
              "encoding": f"16-bit grey PNG, metres = value * {DEPTH_SCALE_M:g}, 0 = no hit"},
    "normals": {"dir": "normals", "ext": "png",
                "encoding": f"16-bit RGB PNG, n = value / {NORMAL_SCALE} - 1 per axis (x, y, z "
                            "in channels R, G, B; camera frame), 0 = no hit"},
    "segmentation": {"dir": "segmentation", "ext": "png",
                     "encoding": "16-bit grey PNG, branch id = value - 1 (0 = background -1)"},
    "face_id": {"dir": "face_id", "ext": "png",
                "encoding": "8-bit RGB PNG, face index = R + 256 G + 65536 B - 1 "
                            "(0 = background -1); index into the scene's mesh.ply faces"},
    "pointcloud": {"dir": "pointcloud", "ext": "ply",
                   "encoding": "binary little-endian PLY: float32 x y z (camera frame, metres), "
                               "float32 nx ny nz, uint8 red green blue; valid pixels in row-major "
                               "order, every `pointcloud_stride`-th row and column"},
}
SCENE_FLOW_SCALE_M = 2e-7
"""Scene flow PNG: 1 count = 0.2 um, value = round(s / 2e-7 + 2^15), so |s| < 6.5 mm per frame
(breathing moves the periphery some 1-2 mm a frame at 15 Hz) with a rounding error of 0.1 um,
under 0.01 px at bronchoscope ranges."""
SCENE_FLOW_MAX_M = 32767 * SCENE_FLOW_SCALE_M
_BASE_ENCODINGS["scene_flow"] = {
    "dir": "scene_flow", "ext": "png",
    "encoding": f"16-bit RGB PNG, metres = (value - 32768) * {SCENE_FLOW_SCALE_M:g} per axis "
                "(x, y, z in channels R, G, B): the 3D motion of the surface point seen at "
                "the pixel from frame t to t+1 (world motion, in the axes of camera t); 0 "
                "where nothing was hit; written only for a moving scene (motion=breathing); "
                "the last frame has none"}
FLOW_FORMATS = ("kitti", "flo")
"""``output.flow_format``: KITTI 16-bit PNG flow (default, compact) or Middlebury .flo."""
FLOW_SCALE = 64.0
"""KITTI flow PNG: channel value = round(flow_px * 64 + 2^15), so the step is 1/64 px and a
stored flow is within 1/128 px of the computed one; |flow| beyond 511.98 px saturates."""
FLOW_OFFSET = 2**15
_DIRECTION = {"fwd": "frame t -> t+1", "bwd": "frame t -> t-1"}


def flow_encodings(flow_format: str = "kitti") -> dict[str, dict[str, str]]:
    """Encodings of the four flow modalities. ``kitti``: one 16-bit PNG per frame and direction
    that holds the flow and its validity (``flow_*_valid`` name the same file: its third
    channel); ``flo``: Middlebury .flo (float32) plus an 8-bit validity PNG."""
    if flow_format not in FLOW_FORMATS:
        raise ValueError(f"flow format {flow_format!r} not in {FLOW_FORMATS}")
    out: dict[str, dict[str, str]] = {}
    for d, what in _DIRECTION.items():
        m = f"flow_{d}"
        if flow_format == "kitti":
            out[m] = {"dir": m, "ext": "png", "format": "kitti",
                      "encoding": f"KITTI flow: 16-bit RGB PNG, R = u * 64 + 2^15, G = v * 64 + "
                                  f"2^15, B = 1 valid / 0 invalid (u = v = 0 stored there); "
                                  f"pixels, step 1/64 px (rounded to nearest); {what}. "
                                  "cv2.imread(path, cv2.IMREAD_UNCHANGED) returns channels "
                                  "B, G, R = valid, v, u",
                      "precision_px": 1.0 / FLOW_SCALE}
            out[f"{m}_valid"] = {"dir": m, "ext": "png", "format": "kitti", "file_of": m,
                                 "encoding": f"16-bit RGB PNG: channel B (valid flag) of the "
                                             f"KITTI flow file {m}/%06d.png, 1 = valid (visible "
                                             "in both frames)"}
        else:
            out[m] = {"dir": m, "ext": "flo", "format": "flo",
                      "encoding": f"Middlebury .flo (float32 du, dv), {what}"}
            out[f"{m}_valid"] = {"dir": f"{m}_valid", "ext": "png",
                                 "encoding": f"8-bit grey PNG, 255 = {m} valid, 0 = "
                                             "occluded/out"}
    return out


def encodings(flow_format: str = "kitti") -> dict[str, dict[str, str]]:
    """Per-modality folder, extension and encoding of a dataset written with ``flow_format``
    (what info.json's ``encodings`` records)."""
    out = {m: dict(e) for m, e in _BASE_ENCODINGS.items()
           if m not in ("pointcloud", "scene_flow")}
    out.update(flow_encodings(flow_format))
    out["pointcloud"] = dict(_BASE_ENCODINGS["pointcloud"])
    out["scene_flow"] = dict(_BASE_ENCODINGS["scene_flow"])
    return out


ENCODINGS = encodings("kitti")
"""The default encodings (flow as KITTI PNG); a dataset's own are in its info.json."""

FRAME_MODALITIES = ("rgb", "rgb_clean", "depth", "normals", "segmentation", "face_id")
FLOW_MODALITIES = ("flow_fwd", "flow_bwd", "flow_fwd_valid", "flow_bwd_valid")
MOTION_MODALITIES = ("scene_flow",)
"""Modalities of a moving scene only (a rigid scene's scene flow is zero: not written)."""
ALL_MODALITIES = FRAME_MODALITIES + FLOW_MODALITIES + ("pointcloud",) + MOTION_MODALITIES
RIGID_MODALITIES = FRAME_MODALITIES + FLOW_MODALITIES + ("pointcloud",)
"""Every modality of a rigid scene (the writer's default)."""
REQUIRED_MODALITIES = ("rgb", "depth")
NAME_DIGITS = 6

INFO_FILE = "info.json"
CONFIG_FILE = "config.yaml"
FRAMES_FILE = "frames.jsonl"
POSES_FILE = "poses_tum.txt"
PREVIEW_FILE = "preview.mp4"
RUN_LOG_FILE = "run.json"
"""Wall-clock timings live in ``<out>/run.json`` (not in any sequence folder); it is the only
file that differs between two runs of the same config and seed."""


def frame_name(index: int) -> str:
    return f"{index:0{NAME_DIGITS}d}"


def rel_path(modality: str, index: int, encs: dict | None = None) -> str:
    """Path of one frame's file for a modality, relative to the sequence folder, under the
    encodings ``encs`` (a dataset's info.json ``encodings``; default :data:`ENCODINGS`)."""
    e = (encs or ENCODINGS)[modality]
    return f"{e['dir']}/{frame_name(index)}.{e['ext']}"


def has_file(modality: str, index: int, n_frames: int) -> bool:
    """Whether frame ``index`` of an ``n_frames`` sequence has a file for ``modality``."""
    if modality in ("flow_fwd", "flow_fwd_valid", "scene_flow"):
        return index < n_frames - 1
    if modality in ("flow_bwd", "flow_bwd_valid"):
        return index > 0
    return True


# --- quantization shared by writer, generator and reader ----------------------------------


def encode_depth(depth: np.ndarray) -> np.ndarray:
    """float32 metres -> uint16 counts (values beyond DEPTH_MAX_M must be rejected before)."""
    return np.rint(np.asarray(depth, np.float64) / DEPTH_SCALE_M).astype(np.uint16)


def decode_depth(q: np.ndarray) -> np.ndarray:
    return q.astype(np.float32) * np.float32(DEPTH_SCALE_M)


def encode_normals(n: np.ndarray) -> np.ndarray:
    q = np.rint((np.clip(np.asarray(n, np.float64), -1.0, 1.0) + 1.0) * NORMAL_SCALE)
    return q.astype(np.uint16)


def decode_normals(q: np.ndarray) -> np.ndarray:
    return q.astype(np.float32) / np.float32(NORMAL_SCALE) - np.float32(1.0)


def encode_segmentation(seg: np.ndarray) -> np.ndarray:
    return (np.asarray(seg, np.int64) + 1).astype(np.uint16)


def decode_segmentation(q: np.ndarray) -> np.ndarray:
    return q.astype(np.int32) - 1


def encode_face_id(fid: np.ndarray) -> np.ndarray:
    """int32 face index (-1 background) -> (H, W, 3) uint8 RGB, little-endian 24 bits."""
    v = (np.asarray(fid, np.int64) + 1).astype(np.uint32)
    return np.stack([(v >> s) & 0xFF for s in (0, 8, 16)], axis=-1).astype(np.uint8)


def encode_kitti_flow(flow: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(H, W, 2) float flow in px + (H, W) bool validity -> (H, W, 3) uint16 in R, G, B order
    (u, v, valid) as the KITTI devkit writes it; invalid pixels store 0, 0, 0 as the devkit's
    ``writeFlowField`` does. Values are rounded to nearest (the devkit truncates), so decoding
    returns the flow within 1/128 px."""
    v = np.asarray(valid, bool)
    q = np.asarray(flow, np.float64) * FLOW_SCALE + FLOW_OFFSET  # float64: exact steps
    np.rint(q, out=q)
    np.clip(q, 0, 65535, out=q)
    out = np.zeros(v.shape + (3,), np.uint16)
    out[..., :2] = q.astype(np.uint16)
    out[..., 2] = v
    out[~v] = 0
    return out


def decode_kitti_flow(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint16 R, G, B -> (flow (H, W, 2) float32 px, valid (H, W) bool); flow is 0
    where invalid (the devkit's reading: (value - 2^15) / 64, valid = B > 0)."""
    valid = q[..., 2] > 0
    flow = (q[..., :2].astype(np.float32) - np.float32(FLOW_OFFSET)) / np.float32(FLOW_SCALE)
    flow[~valid] = 0.0
    return flow, valid


def encode_scene_flow(sf: np.ndarray) -> np.ndarray:
    """(H, W, 3) metres -> (H, W, 3) uint16 (values beyond SCENE_FLOW_MAX_M must be rejected
    before)."""
    q = np.rint(np.asarray(sf, np.float64) / SCENE_FLOW_SCALE_M) + 32768
    return q.astype(np.uint16)


def decode_scene_flow(q: np.ndarray) -> np.ndarray:
    return (q.astype(np.float32) - np.float32(32768)) * np.float32(SCENE_FLOW_SCALE_M)


def decode_face_id(rgb: np.ndarray) -> np.ndarray:
    v = rgb.astype(np.int64)
    return (v[..., 0] + (v[..., 1] << 8) + (v[..., 2] << 16) - 1).astype(np.int32)


def canonical_frame(frame: Frame) -> Frame:
    """The frame exactly as the files will store it: depth and normals snapped to the 16-bit
    grids. Idempotent. Derive flow and point clouds from this, never from the raw frame."""
    depth = decode_depth(encode_depth(frame.depth))
    normals = decode_normals(encode_normals(frame.normals))
    normals[depth == 0] = 0.0
    return frame.replace(depth=depth, normals=normals)
