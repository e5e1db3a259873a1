"""File formats the ecosystem reads without glue: PNG (8/16-bit), Middlebury .flo, PLY point
clouds, TUM trajectories. Encoders return bytes (the writer stores them atomically); decoders
take bytes or paths. All encoders are deterministic: same array -> same bytes.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

from room.errors import DatasetError
from room.transforms import from_tum, to_tum

FLO_MAGIC = 202021.25  # Middlebury "PIEH" tag as a float32
PNG_COMPRESSION = 3  # zlib level: 3 is ~2x faster than cv2's default and a few % larger


def _read(src: str | Path | bytes) -> bytes:
    return src if isinstance(src, bytes) else Path(src).read_bytes()


# --- PNG ---------------------------------------------------------------------------------


def encode_png(img: np.ndarray, compression: int | None = None,
               strategy: int | None = None, filters: int | None = None) -> bytes:
    """(H, W) grey or (H, W, 3) RGB, uint8 or uint16 -> PNG bytes (channel order R, G, B);
    ``compression``: zlib level 0-9 (default :data:`PNG_COMPRESSION`); ``strategy``: a
    cv2.IMWRITE_PNG_STRATEGY_* value; ``filters``: the PNG row filters libpng may try, a
    cv2.IMWRITE_PNG_FILTER_* value or ALL/FAST_FILTERS (defaults: OpenCV's). Any setting
    gives the same pixels; they trade file size against encoding time."""
    if img.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"PNG takes uint8 or uint16, got {img.dtype}")
    if img.ndim == 3:
        img = np.ascontiguousarray(img[..., ::-1])  # cv2 writes BGR
    level = PNG_COMPRESSION if compression is None else int(compression)
    params = [cv2.IMWRITE_PNG_COMPRESSION, level]
    if strategy is not None:
        params += [cv2.IMWRITE_PNG_STRATEGY, int(strategy)]
    if filters is not None:
        params += [cv2.IMWRITE_PNG_FILTER, int(filters)]
    ok, buf = cv2.imencode(".png", img, params)
    if not ok:
        raise DatasetError(f"PNG encoding failed for an array of {img.shape} {img.dtype}")
    return buf.tobytes()


def decode_png(src: str | Path | bytes) -> np.ndarray:
    """PNG -> array with the file's bit depth; colour images come back as RGB."""
    data = np.frombuffer(_read(src), np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DatasetError(f"not a readable PNG: {src if not isinstance(src, bytes) else 'bytes'}")
    if img.ndim == 3:
        img = np.ascontiguousarray(img[..., ::-1])
    return img


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> channels (palette 3 not used)


def check_png(data: bytes) -> tuple[int, int, int, int]:
    """Structure of a PNG without decoding its pixels: signature, every chunk's length and CRC,
    IHDR first, IEND last. Returns (width, height, bit depth, channels); raises DatasetError
    naming what is wrong (a truncated file, a damaged chunk, not a PNG)."""
    if not data.startswith(PNG_SIGNATURE):
        raise DatasetError("not a PNG file (bad signature)")
    mv, pos, n, ihdr = memoryview(data), 8, len(data), None
    while True:
        if pos + 12 > n:
            raise DatasetError(f"PNG truncated at byte {n} (no IEND chunk)")
        length, ctype = struct.unpack(">I4s", mv[pos:pos + 8])
        end = pos + 12 + length
        if end > n:
            raise DatasetError(f"PNG truncated: chunk {ctype.decode('latin-1')!r} at byte "
                               f"{pos} needs {length} bytes, the file ends at {n}")
        (crc,) = struct.unpack(">I", mv[end - 4:end])
        if zlib.crc32(mv[pos + 4:end - 4]) != crc:
            raise DatasetError(f"PNG chunk {ctype.decode('latin-1')!r} at byte {pos} is "
                               "damaged (CRC mismatch)")
        if ihdr is None:
            if ctype != b"IHDR" or length != 13:
                raise DatasetError("PNG does not start with an IHDR chunk")
            ihdr = struct.unpack(">IIBB", mv[pos + 8:pos + 18])
        if ctype == b"IEND":
            if end != n:
                raise DatasetError(f"{n - end} unexpected bytes after the PNG's IEND chunk")
            break
        pos = end
    w, h, bits, colour = ihdr
    return int(w), int(h), int(bits), _PNG_CHANNELS.get(int(colour), -1)


# --- Middlebury .flo ---------------------------------------------------------------------


def encode_flo(flow: np.ndarray) -> bytes:
    """(H, W, 2) float32 (du, dv) -> Middlebury .flo bytes (cv2.readOpticalFlow reads them)."""
    flow = np.asarray(flow, np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be (H, W, 2), got {flow.shape}")
    h, w = flow.shape[:2]
    header = np.array([FLO_MAGIC], "<f4").tobytes() + np.array([w, h], "<i4").tobytes()
    return header + flow.astype("<f4").tobytes()


def check_flo(data: bytes) -> tuple[int, int]:
    """Header and size of a Middlebury .flo: (width, height); DatasetError if the magic is
    wrong, the dimensions absurd, or the byte count is not 12 + 8 * width * height."""
    if len(data) < 12 or np.frombuffer(data[:4], "<f4")[0] != np.float32(FLO_MAGIC):
        raise DatasetError("not a Middlebury .flo file (bad magic number)")
    w, h = (int(x) for x in np.frombuffer(data[4:12], "<i4"))
    if not (0 < w < 1 << 16 and 0 < h < 1 << 16):
        raise DatasetError(f".flo header says {w} x {h} pixels: damaged header")
    want = 12 + 8 * w * h
    if len(data) != want:
        raise DatasetError(f".flo file has {len(data)} bytes, its header ({w} x {h}) needs "
                           f"{want}: {'truncated' if len(data) < want else 'extra bytes'}")
    return w, h


def decode_flo(src: str | Path | bytes) -> np.ndarray:
    data = _read(src)
    try:
        w, h = check_flo(data)
    except DatasetError as e:
        raise DatasetError(f"{e}: {str(src)[:80] if not isinstance(src, bytes) else 'bytes'}"
                           ) from None
    return np.frombuffer(data[12:], "<f4").reshape(h, w, 2).astype(np.float32)


# --- PLY point clouds --------------------------------------------------------------------

_PLY_DTYPE = np.dtype([
    ("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
    ("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4"),
    ("red", "u1"), ("green", "u1"), ("blue", "u1"),
])


def encode_ply(points: np.ndarray, colors: np.ndarray, normals: np.ndarray,
               comment: str = "") -> bytes:
    """Binary little-endian PLY of N points (metres), uint8 colours and unit normals."""
    n = len(points)
    rec = np.empty(n, _PLY_DTYPE)
    for i, k in enumerate("xyz"):
        rec[k] = points[:, i]
        rec["n" + k] = normals[:, i]
    for i, k in enumerate(("red", "green", "blue")):
        rec[k] = colors[:, i]
    lines = ["ply", "format binary_little_endian 1.0"]
    if comment:
        lines.append(f"comment {comment}")
    lines.append(f"element vertex {n}")
    lines += [f"property float {k}" for k in ("x", "y", "z", "nx", "ny", "nz")]
    lines += [f"property uchar {k}" for k in ("red", "green", "blue")]
    lines.append("end_header")
    return ("\n".join(lines) + "\n").encode("ascii") + rec.tobytes()


_PLY_PROPS = [f"property float {k}" for k in ("x", "y", "z", "nx", "ny", "nz")] + \
    [f"property uchar {k}" for k in ("red", "green", "blue")]


def check_ply(data: bytes) -> tuple[int, int]:
    """Header of a room PLY and its size: (vertex count, offset of the body); DatasetError if
    the header is not the one :func:`encode_ply` writes or the body is not exactly
    ``count * 27`` bytes."""
    end = data.find(b"end_header\n", 0, 4096)
    if not data.startswith(b"ply\n") or end < 0:
        raise DatasetError("not a PLY file written by room (missing header)")
    try:
        header = data[:end].decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise DatasetError("PLY header is not ASCII: damaged") from None
    lines = [x for x in header if not x.startswith("comment")]
    if len(lines) < 3 or lines[1] != "format binary_little_endian 1.0" \
            or not lines[2].startswith("element vertex ") or lines[3:] != _PLY_PROPS:
        raise DatasetError("PLY header differs from room's (binary little-endian x y z nx ny "
                           "nz red green blue)")
    try:
        n = int(lines[2].split()[2])
    except ValueError:
        raise DatasetError(f"PLY header: bad vertex count {lines[2]!r}") from None
    body = end + len(b"end_header\n")
    want = n * _PLY_DTYPE.itemsize
    if len(data) - body != want:
        raise DatasetError(f"PLY body has {len(data) - body} bytes, {n} vertices need {want}: "
                           f"{'truncated' if len(data) - body < want else 'extra bytes'}")
    return n, body


def decode_ply(src: str | Path | bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`encode_ply`: (points float32 (N,3), colors uint8, normals float32)."""
    data = _read(src)
    n, body = check_ply(data)
    rec = np.frombuffer(data[body:], _PLY_DTYPE, count=n)
    pts = np.stack([rec[k] for k in "xyz"], axis=1)
    nrm = np.stack([rec["n" + k] for k in "xyz"], axis=1)
    col = np.stack([rec[k] for k in ("red", "green", "blue")], axis=1)
    return pts, col, nrm


# --- TUM trajectories --------------------------------------------------------------------


def tum_line(time_s: float, T_world_cam: np.ndarray) -> str:
    """``timestamp tx ty tz qx qy qz qw`` (metres, Hamilton quaternion), fixed precision."""
    v = to_tum(T_world_cam)
    return f"{time_s:.6f} " + " ".join(f"{x:.9f}" for x in v)


def encode_tum(times: np.ndarray, poses: np.ndarray) -> bytes:
    header = "# timestamp tx ty tz qx qy qz qw (T_world_cam, metres, OpenCV camera)\n"
    return (header + "".join(tum_line(t, T) + "\n" for t, T in zip(times, poses, strict=True))
            ).encode("ascii")


def decode_tum(src: str | Path | bytes) -> tuple[np.ndarray, np.ndarray]:
    rows = [line.split() for line in _read(src).decode("ascii").splitlines()
            if line.strip() and not line.startswith("#")]
    arr = np.array(rows, dtype=float).reshape(-1, 8)
    return arr[:, 0], np.stack([from_tum(r[1:]) for r in arr]) if len(arr) else np.zeros((0, 4, 4))
