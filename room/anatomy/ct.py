"""CT loading: NIfTI, NRRD, MHA/MHD files and DICOM series folders -> HU :class:`Volume`.

Every volume comes out the same way: float32 Hounsfield units, array ``[z, y, x]``, reoriented so
the index axes run along the LPS world axes (x to patient left, y posterior, z superior), and
geometry in metres (files store millimetres; converted here, once). SimpleITK reports the patient
frame in LPS for every format it reads (it converts NIfTI's RAS on load), so world coordinates
are consistent across formats.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from room.anatomy import ct_checks
from room.anatomy.volume import MM, Volume
from room.errors import ConfigError, InputFileError, NotCTError

log = logging.getLogger(__name__)

CT_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm")
MIN_SPACING_M = 0.1 * MM
MAX_SPACING_M = 10.0 * MM
HU_FLOOR = -1024.0  # padding outside the scan circle (-2048, -3024) is clipped to this


check_resample_spacing = ct_checks.check_resample_spacing  # scene.resample_spacing_m's bound


def check_spacing(spacing_m, what: str = "spacing") -> np.ndarray:
    """Raise ConfigError unless every spacing is within [0.1 mm, 10 mm]; return it as array."""
    s = np.asarray(spacing_m, dtype=float).reshape(-1)
    if not np.all(np.isfinite(s)) or np.any(s <= 0) or np.any(s < MIN_SPACING_M) \
            or np.any(s > MAX_SPACING_M):
        raise ConfigError(
            f"{what} {np.round(s / MM, 4).tolist()} mm is absurd for a chest CT: every voxel "
            f"spacing must lie within 0.1..10 mm (check the file's header, or the value you "
            f"passed, which is in metres)")
    return s


def _read_dicom_series(folder: Path, series_id: str | None):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    ids = list(reader.GetGDCMSeriesIDs(str(folder)) or [])
    if not ids:
        raise InputFileError(f"{folder}: no DICOM series found in this folder; pass a folder "
                             f"with the .dcm slices of one CT series, or a NIfTI/NRRD/MHA file")
    files = {i: reader.GetGDCMSeriesFileNames(str(folder), i) for i in ids}
    if series_id is not None:
        if series_id not in files:
            raise InputFileError(f"{folder}: series {series_id!r} not found; available series: "
                                 + ", ".join(f"{i} ({len(files[i])} slices)" for i in ids))
        chosen, why = series_id, "requested"
    else:
        chosen = max(sorted(ids), key=lambda i: len(files[i]))
        why = "largest" if len(ids) > 1 else "only"
    if len(ids) > 1:
        log.warning("%s holds %d DICOM series; reading the %s one, %s (%d slices); pass "
                    "series_id to choose another", folder, len(ids), why, chosen,
                    len(files[chosen]))
    ct_checks.check_dicom_series(folder, list(files[chosen]))
    reader.SetFileNames(files[chosen])
    reader.MetaDataDictionaryArrayUpdateOn()
    img = reader.Execute()
    modality = reader.GetMetaData(0, "0008|0060").strip() \
        if reader.HasMetaDataKey(0, "0008|0060") else ""
    if modality and modality.upper() != "CT":
        raise NotCTError(f"{folder}: DICOM series {chosen} has modality {modality!r}, not CT; "
                         f"pass a CT series")
    meta = {"format": "dicom", "series_id": chosen, "series_choice": why,
            "series_available": {i: len(files[i]) for i in ids}, "n_files": len(files[chosen])}
    return img, meta


def _read_file(path: Path):
    import SimpleITK as sitk

    name = path.name.lower()
    fmt = next((s.lstrip(".") for s in CT_SUFFIXES if name.endswith(s)), path.suffix.lstrip("."))
    return sitk.ReadImage(str(path)), {"format": fmt}


def _check_hu(arr: np.ndarray, src: str, pixel_type: str) -> None:
    """Raise NotCTError unless the intensities look like Hounsfield units of a chest CT."""
    if arr.dtype in (np.uint8, np.int8):
        raise NotCTError(f"{src}: 8-bit pixels ({pixel_type}) cannot hold Hounsfield units; "
                         f"this looks like a windowed export. Load the original CT (int16/HU)")
    sample = arr.ravel()[:: max(1, arr.size // 2_000_000)]
    lo, hi = np.percentile(sample, [0.1, 99.9])
    if lo > -500 or hi - lo < 300:
        raise NotCTError(
            f"{src}: intensities {lo:.0f}..{hi:.0f} are not Hounsfield units of a chest CT "
            f"(no air below -500 HU). It may be an MR, a windowed 0..255 export, or a CT "
            f"missing its rescale slope/intercept; pass the original CT in HU")


def load_ct(path: str | Path, series_id: str | None = None,
            max_slice_m: float | None = None) -> Volume:
    """Read a CT file or DICOM series folder -> :class:`Volume` (float32 HU, LPS, metres).

    ``series_id``: DICOM SeriesInstanceUID to read when a folder holds several series (default:
    the one with the most slices; the choice is logged and stored in ``metadata``).
    Before reading, the file's integrity (compressed stream, payload size) or the series' slice
    geometry (gaps, duplicates, uneven steps, tilt) is checked (room.anatomy.ct_checks).
    ``max_slice_m``: refuse a coarser spacing (scene building passes ct_checks.MAX_SLICE_M);
    spacings above ct_checks.WARN_SLICE_M add a sentence to ``Volume.warnings``.
    Raises InputFileError (missing/unreadable/damaged/too thick), NotCTError (not HU),
    ConfigError (spacing).
    """
    import SimpleITK as sitk

    path = Path(path).expanduser()
    if not path.exists():
        raise InputFileError(f"{path}: no such file or folder; pass the path of a CT file "
                             f"(.nii, .nii.gz, .nrrd, .mha, .mhd) or of a DICOM series folder")
    if path.is_file():
        ct_checks.check_file(path)
    try:
        img, meta = _read_dicom_series(path, series_id) if path.is_dir() else _read_file(path)
    except RuntimeError as e:  # SimpleITK reports unreadable files as RuntimeError
        first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise InputFileError(f"{path}: cannot read it as a CT image ({first}); check that it "
                             f"is a complete NIfTI/NRRD/MHA/MHD file or DICOM folder") from e
    if img.GetDimension() != 3 or img.GetNumberOfComponentsPerPixel() != 1:
        raise NotCTError(f"{path}: a {img.GetDimension()}D image with "
                         f"{img.GetNumberOfComponentsPerPixel()} component(s) per pixel; a CT is "
                         f"one 3D scalar volume")
    check_spacing(np.array(img.GetSpacing()) * MM, f"{path}: spacing")
    warnings = ct_checks.slice_resolution_warnings(np.array(img.GetSpacing()) * MM, str(path),
                                                   max_slice_m)
    direction_in = np.array(img.GetDirection()).reshape(3, 3)
    img = sitk.DICOMOrient(img, "LPS")
    arr = sitk.GetArrayFromImage(img)
    _check_hu(arr, str(path), img.GetPixelIDTypeAsString())
    hu = arr.astype(np.float32, copy=False)
    n_clipped = int(np.count_nonzero(hu < HU_FLOOR))
    np.maximum(hu, HU_FLOOR, out=hu)
    meta.update(source=str(path), spacing_mm_in=list(img.GetSpacing()),
                direction_in=direction_in.tolist(), orientation="LPS",
                hu_clipped_below=HU_FLOOR if n_clipped else None)
    vol = Volume(hu, np.array(img.GetSpacing()) * MM, np.array(img.GetOrigin()) * MM,
                 np.array(img.GetDirection()).reshape(3, 3), metadata=meta, warnings=warnings)
    for w in warnings:
        log.warning("%s: %s", path, w)
    log.info("loaded %s: %s voxels, spacing %s mm, HU %.0f..%.0f", path, vol.shape_xyz,
             np.round(vol.spacing / MM, 3).tolist(), float(hu.min()), float(hu.max()))
    return vol


def resample_isotropic(vol: Volume, spacing_m: float, mask: bool | None = None) -> Volume:
    """Resample to isotropic ``spacing_m`` metres over the same field of view (same origin and
    direction). Linear interpolation for CT, nearest neighbour for masks (bool/integer arrays,
    or ``mask=True``); outside voxels get -1024 HU (CT) or 0 (mask)."""
    import SimpleITK as sitk

    check_spacing([spacing_m] * 3, "resample spacing")
    is_mask = mask if mask is not None else vol.array.dtype.kind in "biu"
    img = vol.to_sitk()
    size = np.maximum(1, np.round(np.array(img.GetSize()) * vol.spacing / spacing_m)).astype(int)
    out = sitk.Resample(
        img, [int(s) for s in size], sitk.Transform(),
        sitk.sitkNearestNeighbor if is_mask else sitk.sitkLinear, img.GetOrigin(),
        (spacing_m / MM,) * 3, img.GetDirection(), 0 if is_mask else HU_FLOOR,
        img.GetPixelID())
    arr = sitk.GetArrayFromImage(out)
    if vol.array.dtype == bool:
        arr = arr.astype(bool)
    return Volume(arr, np.full(3, spacing_m), vol.origin, vol.direction,
                  metadata={**vol.metadata, "resampled_spacing_m": spacing_m},
                  warnings=list(vol.warnings))
