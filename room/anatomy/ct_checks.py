"""Integrity checks of CT inputs, run before SimpleITK reads them (it reads a truncated
``.nii.gz`` or a DICOM series missing a slice without complaint).

- Files (NIfTI, NRRD/NHDR, MHA/MHD): the compressed stream is decompressed to its end (gzip
  checks its CRC and length; zlib its Adler-32) and the payload's byte count must equal what
  the header's dimensions and data type need; raw data (inline or in a separate file) likewise.
- DICOM series: slice positions along the slice normal must be evenly spaced: no missing slice,
  no duplicate, no uneven step; every slice has the same orthogonal orientation and the stack
  is not sheared (gantry tilt).
- Resolution: :func:`slice_resolution_warnings` refuses slices thicker than
  :data:`MAX_SLICE_M` and warns between :data:`WARN_SLICE_M` and it;
  :func:`check_resample_spacing` bounds the isotropic resampling spacing.

Each problem raises :class:`~room.errors.InputFileError` (or ConfigError for settings) naming
the file or slices and what to do. Thresholds are reasoned in docs/reliability.md.
"""

from __future__ import annotations

import bz2
import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from room.errors import ConfigError, InputFileError

MM = 1e-3
CHUNK = 1 << 22

MAX_SLICE_M = 3.0 * MM
"""Slices thicker than this are refused: at 5 mm the shared carina crop segments to 8.6 mL and
3 branches instead of 52 mL and 54 (measured); lobar and segmental bronchi (4-8 mm) span one or
two slices, so the region growing cannot follow them. Every scanner also reconstructs thin
(0.5-1.25 mm) series: use that one."""
WARN_SLICE_M = 1.5 * MM
"""Up to 1.5 mm (the shared crop's spacing, which segments fully) no warning; between this and
:data:`MAX_SLICE_M` the scene is built with a warning: small branches will be missing."""
MAX_RESAMPLE_M = 1.0 * MM
"""Coarsest isotropic resampling accepted: resampled to 1.5 mm the shared crop leaks into the
lung (138 mL, 96 branches instead of 52 mL, 54): segmental bronchial walls are about 1 mm thick
and a coarser grid no longer separates lumen from parenchyma."""
GAP_FACTOR = 1.5  # a step over 1.5x the median step: missing slice(s) (one missing gives 2x)
DUPLICATE_FRACTION = 0.01  # a step below 1 % of the median: the same position twice
UNEVEN_FRACTION = 0.02
"""Steps may deviate from the median by 2 % (or 0.02 mm): DICOM stores positions as decimal
strings rounded to ~1e-3 mm; a larger deviation means slices from another reconstruction or a
variable-pitch acquisition, which SimpleITK would place on a uniform grid (anatomy stretched)."""
UNEVEN_MIN_M = 0.02 * MM
TILT_TOL_DEG = 0.1
"""Largest shear of the stack (angle between the slice normal and the slice-to-slice step): at
0.1 degrees a 300 mm stack shifts by 0.5 mm end to end, under one voxel; SimpleITK ignores the
shear, so a tilted (gantry-tilt) series would come out sheared."""


# --- files -----------------------------------------------------------------------------------


def _decompressed_size(f, path: Path, what: str, kind: str = "gzip") -> int:
    """Bytes of a compressed stream read from the open file ``f`` to its end; InputFileError if
    the stream is cut short or damaged."""
    n = 0
    try:
        if kind == "gzip":
            with gzip.GzipFile(fileobj=f) as g:
                while chunk := g.read(CHUNK):
                    n += len(chunk)
        elif kind == "bzip2":
            with bz2.BZ2File(f) as g:
                while chunk := g.read(CHUNK):
                    n += len(chunk)
        else:  # zlib (MetaImage CompressedData)
            d = zlib.decompressobj()
            while chunk := f.read(CHUNK):
                n += len(d.decompress(chunk))
            n += len(d.flush())
            if not d.eof:
                raise EOFError("compressed stream ended before its end marker")
    except (EOFError, OSError, zlib.error) as e:
        raise InputFileError(
            f"{path}: the {what} is truncated or damaged ({type(e).__name__}: {e}); the file "
            f"was cut short (interrupted copy or download?): copy it again from the source"
        ) from None
    return n


def _need(path: Path, got: int, want: int, what: str) -> None:
    if got < want:
        raise InputFileError(
            f"{path}: {what} holds {got} bytes, its header's dimensions need {want} "
            f"({100 * got / max(want, 1):.1f} %): the file is truncated; copy it again from "
            f"the source")


_NIFTI_BITS = {2: 8, 4: 16, 8: 32, 16: 32, 64: 64, 256: 8, 512: 16, 768: 32, 1024: 64,
               1280: 64}


def check_nifti(path: Path) -> None:
    gz = path.name.lower().endswith(".gz")
    with open(path, "rb") as f:
        try:
            head = (gzip.GzipFile(fileobj=f) if gz else f).read(352)
        except gzip.BadGzipFile:
            return  # not gzip at all: SimpleITK says it cannot read it
        except (EOFError, OSError, zlib.error) as e:
            raise InputFileError(f"{path}: the gzip stream ends inside the NIfTI header ({e}): "
                                 "truncated; copy it again from the source") from None
    if len(head) < 348:
        raise InputFileError(f"{path}: only {len(head)} bytes of a 348-byte NIfTI header: "
                             "truncated or not a NIfTI file")
    for endian in "<>":
        if struct.unpack(endian + "i", head[:4])[0] == 348:
            break
    else:
        return  # NIfTI-2 or not NIfTI: leave it to SimpleITK
    dim = struct.unpack(endian + "8h", head[40:56])
    datatype, bitpix = struct.unpack(endian + "2h", head[70:74])
    vox_offset = int(struct.unpack(endian + "f", head[108:112])[0])
    n = int(np.prod([max(1, d) for d in dim[1:1 + max(1, min(7, dim[0]))]], dtype=np.int64))
    want = vox_offset + n * (bitpix or _NIFTI_BITS.get(datatype, 0)) // 8
    if gz:
        with open(path, "rb") as f:
            got = _decompressed_size(f, path, "gzip stream")
    else:
        got = path.stat().st_size
    _need(path, got, want, "the image data" if not gz else "the decompressed image")


_NRRD_BYTES = {"char": 1, "signed char": 1, "int8": 1, "int8_t": 1, "uchar": 1,
               "unsigned char": 1, "uint8": 1, "uint8_t": 1, "short": 2, "short int": 2,
               "signed short": 2, "int16": 2, "int16_t": 2, "ushort": 2, "unsigned short": 2,
               "uint16": 2, "uint16_t": 2, "int": 4, "signed int": 4, "int32": 4, "int32_t": 4,
               "uint": 4, "unsigned int": 4, "uint32": 4, "uint32_t": 4, "longlong": 8,
               "int64": 8, "int64_t": 8, "ulonglong": 8, "uint64": 8, "uint64_t": 8,
               "float": 4, "double": 8}


def check_nrrd(path: Path) -> None:
    raw = path.read_bytes()[:65536] if path.stat().st_size else b""
    end = raw.find(b"\n\n")
    if not raw.startswith(b"NRRD") or end < 0:
        return  # not a header we understand: SimpleITK decides
    fields = {}
    for line in raw[:end].decode("latin-1").splitlines()[1:]:
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            fields[k.strip().lower()] = v.lstrip("=").strip()
    try:
        sizes = [int(x) for x in fields["sizes"].split()]
        nbytes = _NRRD_BYTES[fields["type"].lower()]
    except (KeyError, ValueError):
        return
    want = int(np.prod(sizes, dtype=np.int64)) * nbytes
    enc = fields.get("encoding", "raw").lower()
    datafile = fields.get("data file") or fields.get("datafile")
    if datafile:
        if datafile.startswith("LIST") or "%" in datafile:
            return  # multi-file data: SimpleITK checks each
        src, offset = path.parent / datafile, 0
        if not src.exists():
            raise InputFileError(f"{path}: its data file {src} is missing; copy it next to "
                                 "the header")
    else:
        src, offset = path, end + 2
    what = f"data of {src.name}"
    if enc == "raw":
        skip = int(fields.get("byte skip", "0") or 0)
        got = src.stat().st_size - offset - (skip if skip > 0 else 0)
        _need(path, got, want, what)
    elif enc in ("gzip", "gz", "bzip2", "bz2"):
        with open(src, "rb") as f:
            f.seek(offset)
            got = _decompressed_size(f, path, f"{enc} stream of {src.name}",
                                     "gzip" if enc.startswith("gz") else "bzip2")
        _need(path, got, want, f"the decompressed {what}")


_MET_BYTES = {"MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4,
              "MET_UINT": 4, "MET_LONG": 4, "MET_ULONG": 4, "MET_LONG_LONG": 8,
              "MET_ULONG_LONG": 8, "MET_FLOAT": 4, "MET_DOUBLE": 8}


def check_metaimage(path: Path) -> None:
    raw = path.read_bytes()[:65536]
    fields, offset = {}, None
    pos = 0
    for line in raw.split(b"\n"):
        pos += len(line) + 1
        if b"=" not in line:
            continue
        k, v = line.decode("latin-1").split("=", 1)
        fields[k.strip()] = v.strip()
        if k.strip() == "ElementDataFile":
            offset = pos
            break
    if offset is None:
        return
    try:
        dims = [int(x) for x in fields["DimSize"].split()]
        nbytes = _MET_BYTES[fields["ElementType"]]
    except (KeyError, ValueError):
        return
    want = int(np.prod(dims, dtype=np.int64)) * nbytes * int(
        fields.get("ElementNumberOfChannels", "1") or 1)
    datafile = fields["ElementDataFile"]
    if datafile == "LOCAL":
        src, start = path, offset
    elif datafile.startswith("LIST") or "%" in datafile or " " in datafile:
        return
    else:
        src, start = path.parent / datafile, 0
        if not src.exists():
            raise InputFileError(f"{path}: its data file {src} is missing; copy it next to "
                                 "the header")
    compressed = fields.get("CompressedData", "False").lower() == "true"
    if compressed:
        csize = fields.get("CompressedDataSize")
        if csize and csize.isdigit() and src.stat().st_size - start < int(csize):
            _need(path, src.stat().st_size - start, int(csize), f"compressed data of "
                                                                  f"{src.name}")
        with open(src, "rb") as f:
            f.seek(start)
            got = _decompressed_size(f, path, f"compressed data of {src.name}", "zlib")
        _need(path, got, want, f"the decompressed data of {src.name}")
    else:
        _need(path, src.stat().st_size - start, want, f"the data of {src.name}")


def check_file(path: Path) -> None:
    """Integrity of one CT file before reading it (InputFileError naming the damage)."""
    name = path.name.lower()
    check = (check_nifti if name.endswith((".nii", ".nii.gz")) else
             check_nrrd if name.endswith((".nrrd", ".nhdr")) else
             check_metaimage if name.endswith((".mha", ".mhd")) else None)
    if check is None:
        return
    try:
        check(path)
    except InputFileError:
        raise
    except (ValueError, KeyError, IndexError, struct.error, UnicodeDecodeError):
        return  # a header these checks do not understand: SimpleITK decides


# --- DICOM series ---------------------------------------------------------------------------


def _floats(reader, key: str) -> np.ndarray | None:
    if not reader.HasMetaDataKey(key):
        return None
    try:
        return np.array([float(x) for x in reader.GetMetaData(key).split("\\")])
    except ValueError:
        return None


def check_dicom_series(folder: Path, files: list[str]) -> None:
    """Slice geometry of one series (file names as GDCM sorted them): same orthogonal
    orientation, not tilted, evenly spaced without gaps or duplicates."""
    import SimpleITK as sitk

    if len(files) < 3:
        raise InputFileError(f"{folder}: the series has {len(files)} slice(s); a CT volume needs "
                             "many; pass the folder of the whole series")
    pos, iop = [], []
    for f in files:
        r = sitk.ImageFileReader()
        r.SetFileName(f)
        try:
            r.ReadImageInformation()
        except RuntimeError as e:
            raise InputFileError(f"{f}: unreadable DICOM slice ({str(e).strip()[-120:]}); "
                                 "remove it or copy the series again") from None
        p, o = _floats(r, "0020|0032"), _floats(r, "0020|0037")
        if p is None or o is None or len(p) != 3 or len(o) != 6:
            return  # no patient geometry: SimpleITK's own (index) geometry is all there is
        pos.append(p)
        iop.append(o)
    pos, iop = np.array(pos), np.array(iop)
    names = [Path(f).name for f in files]
    if np.abs(iop - iop[0]).max() > 1e-4:
        k = int(np.argmax(np.abs(iop - iop[0]).max(axis=1)))
        raise InputFileError(f"{folder}: slice {names[k]} has another orientation "
                             f"({np.round(iop[k], 4).tolist()}) than {names[0]}: not one "
                             "series; separate them into folders")
    row, col = iop[0, :3], iop[0, 3:]
    if abs(row @ col) > 1e-3:
        raise InputFileError(f"{folder}: the slice axes are not orthogonal (row . column = "
                             f"{row @ col:.4f}); SimpleITK cannot represent this geometry: "
                             "resample the series to an orthogonal grid first")
    normal = np.cross(row, col)
    normal /= np.linalg.norm(normal)
    z = pos @ normal
    order = np.argsort(z, kind="stable")
    z, pos, names = z[order], pos[order], [names[i] for i in order]
    steps = np.diff(pos, axis=0)
    d = np.diff(z)
    med = float(np.median(d))

    def at(k: int) -> str:
        return f"{names[k]} (at {z[k]:.3f} mm)"

    dup = np.flatnonzero(d < DUPLICATE_FRACTION * med)
    if len(dup):
        k = int(dup[0])
        raise InputFileError(
            f"{folder}: {len(dup)} duplicated slice position(s), e.g. {at(k)} and "
            f"{at(k + 1)} lie at the same place; remove the duplicate files (or separate two "
            "series mixed in this folder)")
    gap = np.flatnonzero(d > GAP_FACTOR * med)
    if len(gap):
        k = int(gap[0])
        raise InputFileError(
            f"{folder}: missing slice(s) between {at(k)} and {at(k + 1)}: a step of "
            f"{d[k]:.3f} mm where the series steps {med:.3f} mm (about {round(d[k] / med) - 1} "
            f"slice(s) missing{f'; {len(gap)} gaps in all' if len(gap) > 1 else ''}); copy "
            "the complete series again")
    uneven = np.flatnonzero(np.abs(d - med) > max(UNEVEN_FRACTION * med, UNEVEN_MIN_M / MM))
    if len(uneven):
        k = int(uneven[0])
        raise InputFileError(
            f"{folder}: uneven slice spacing: {at(k)} to {at(k + 1)} steps {d[k]:.3f} mm, the "
            f"series {med:.3f} mm ({len(uneven)} uneven step(s)); SimpleITK would place the "
            "slices on a uniform grid and distort the anatomy: resample the series to even "
            "spacing (e.g. convert it with dcm2niix) first")
    inplane = np.linalg.norm(steps - np.outer(steps @ normal, normal), axis=1)
    tilt = np.degrees(np.arctan2(inplane, d))
    if tilt.max() > TILT_TOL_DEG:
        raise InputFileError(
            f"{folder}: the slices are sheared by {tilt.max():.2f} degrees (gantry tilt: each "
            f"slice shifts {inplane.max():.3f} mm sideways); SimpleITK would read a straight "
            "stack and shear the anatomy. Convert the series with a tool that corrects gantry "
            "tilt (e.g. dcm2niix) and pass the NIfTI file")


# --- resolution ------------------------------------------------------------------------------


def slice_resolution_warnings(spacing_m, src: str,
                              max_slice_m: float | None = MAX_SLICE_M) -> list[str]:
    """Refuse (InputFileError) a CT whose coarsest spacing exceeds ``max_slice_m`` (None: no
    limit); return a warning when it exceeds WARN_SLICE_M."""
    s = np.asarray(spacing_m, float)
    worst = float(s.max())
    if max_slice_m is not None and worst > max_slice_m + 1e-9:
        raise InputFileError(
            f"{src}: voxel spacing {np.round(s / MM, 3).tolist()} mm: slices of "
            f"{worst / MM:.2f} mm are too thick to follow the bronchi (limit "
            f"{max_slice_m / MM:.1f} mm; at 5 mm most branches vanish). Use the thin-slice "
            "reconstruction of the same scan (0.5-1.25 mm), which scanners store beside the "
            "thick one")
    if worst > WARN_SLICE_M + 1e-9:
        return [f"thick slices: spacing {np.round(s / MM, 3).tolist()} mm (coarsest "
                f"{worst / MM:.2f} mm > {WARN_SLICE_M / MM:.1f} mm); small and peripheral "
                "branches will be missing from the scene; a thin-slice reconstruction gives "
                "a fuller airway tree"]
    return []


def check_resample_spacing(spacing_m: float, native_spacing_m=None) -> list[str]:
    """Refuse (ConfigError) an isotropic resampling spacing coarser than MAX_RESAMPLE_M;
    return a warning when it is coarser than the CT's own finest spacing (detail is lost)."""
    s = float(spacing_m)
    if not np.isfinite(s) or s <= 0:
        raise ConfigError(f"scene.resample_spacing_m={spacing_m}: must be a positive length "
                          "in metres")
    if s > MAX_RESAMPLE_M + 1e-12:
        raise ConfigError(
            f"scene.resample_spacing_m={s} m ({s / MM:.2f} mm) is coarser than the airway "
            f"walls can hold (limit {MAX_RESAMPLE_M / MM:.1f} mm: at 1.5 mm the segmentation "
            "leaks into the lung); choose a finer spacing, or null to keep the CT's own")
    if native_spacing_m is not None and s > float(np.min(native_spacing_m)) * 1.01:
        return [f"resampling to {s / MM:.2f} mm, coarser than the CT's finest spacing "
                f"{float(np.min(native_spacing_m)) / MM:.2f} mm: detail is lost"]
    return []
