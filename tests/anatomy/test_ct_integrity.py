"""Damaged CT inputs are refused before any work: truncated compressed files, short raw data,
DICOM series with a missing, duplicated, shifted or tilted slice; thick slices warned/refused;
resampling spacing bounded."""

from __future__ import annotations

import gzip
import json
import time

import numpy as np
import pytest
import SimpleITK as sitk

from room.anatomy import ct_checks
from room.anatomy.ct import check_resample_spacing, load_ct, resample_isotropic
from room.errors import ConfigError, InputFileError


def _ct(shape=(20, 24, 28), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = np.full(shape, -1000, np.int16)
    a[3:-3, 4:-4, 5:-5] = 40 + rng.integers(-20, 20, (shape[0] - 6, shape[1] - 8, shape[2] - 10))
    return a


def _image(arr, spacing=(0.8, 0.8, 1.0)):
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin((-10.0, 20.0, 30.0))
    return img


@pytest.mark.parametrize("cut", [0.90, 0.93, 0.97])
def test_truncated_nii_gz_is_refused(tmp_path, cut):
    good = tmp_path / "ct.nii.gz"
    sitk.WriteImage(_image(_ct()), str(good))
    load_ct(good)  # the intact file loads
    bad = tmp_path / "cut.nii.gz"
    data = good.read_bytes()
    bad.write_bytes(data[: int(cut * len(data))])
    with pytest.raises(InputFileError, match="truncated or damaged.*copy it again"):
        load_ct(bad)


def test_nii_gz_with_bad_crc_is_refused(tmp_path):
    raw = tmp_path / "ct.nii"
    sitk.WriteImage(_image(_ct()), str(raw))
    data = bytearray(gzip.compress(raw.read_bytes()))
    data[-8] ^= 0xFF  # the CRC-32 in the gzip trailer
    (tmp_path / "crc.nii.gz").write_bytes(bytes(data))
    with pytest.raises(InputFileError, match="truncated or damaged"):
        load_ct(tmp_path / "crc.nii.gz")


def test_short_payload_in_a_whole_gzip_stream(tmp_path):
    raw = tmp_path / "ct.nii"
    sitk.WriteImage(_image(_ct()), str(raw))
    data = raw.read_bytes()
    (tmp_path / "short.nii.gz").write_bytes(gzip.compress(data[: len(data) - 5000]))
    with pytest.raises(InputFileError, match=r"header's dimensions need \d+ .*truncated"):
        load_ct(tmp_path / "short.nii.gz")
    (tmp_path / "short.nii").write_bytes(data[: len(data) - 5000])
    with pytest.raises(InputFileError, match="truncated"):
        load_ct(tmp_path / "short.nii")


@pytest.mark.parametrize("suffix,compress", [(".nrrd", True), (".nrrd", False),
                                             (".mha", True), (".mha", False)])
def test_truncated_nrrd_and_mha(tmp_path, suffix, compress):
    good = tmp_path / f"ct{suffix}"
    sitk.WriteImage(_image(_ct()), str(good), useCompression=compress)
    load_ct(good)
    data = good.read_bytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[: int(0.95 * len(data))])
    with pytest.raises(InputFileError, match="truncated"):
        load_ct(tmp_path / f"cut{suffix}")


def test_mhd_with_missing_or_short_raw(tmp_path):
    mhd = tmp_path / "ct.mhd"
    sitk.WriteImage(_image(_ct()), str(mhd))
    load_ct(mhd)
    raw = tmp_path / "ct.raw"
    data = raw.read_bytes()
    raw.write_bytes(data[:-100])
    with pytest.raises(InputFileError, match="ct.raw holds .* truncated"):
        load_ct(mhd)
    raw.unlink()
    with pytest.raises(InputFileError, match="data file .*ct.raw is missing"):
        load_ct(mhd)


# --- DICOM series -----------------------------------------------------------------------------


def _write_series(folder, n=12, spacing=1.0, z_of=None, shift_of=None):
    """One int16 axial CT series, one file per slice; ``z_of(k)`` and ``shift_of(k)`` give each
    slice's position along z and its in-plane x shift (mm)."""
    folder.mkdir(parents=True, exist_ok=True)
    arr = _ct((n, 24, 28))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    now = time.strftime("%H%M%S")
    for k in range(n):
        s = sitk.GetImageFromArray(arr[k:k + 1])[:, :, 0]
        s.SetSpacing((0.7, 0.7))
        z = z_of(k) if z_of else 30.0 + spacing * k
        x = -10.0 + (shift_of(k) if shift_of else 0.0)
        tags = {"0008|0060": "CT", "0020|000e": "1.2.826.0.1.7", "0020|000d": "1.2.3.4",
                "0008|0031": now, "0020|0032": f"{x}\\20.0\\{z}", "0020|0013": str(k),
                "0020|0037": "1\\0\\0\\0\\1\\0", "0028|1052": "0", "0028|1053": "1",
                "0008|0008": "ORIGINAL\\PRIMARY\\AXIAL"}
        for key, v in tags.items():
            s.SetMetaData(key, v)
        writer.SetFileName(str(folder / f"slice_{k:03d}.dcm"))
        writer.Execute(s)
    return folder


def test_good_series_loads(tmp_path):
    vol = load_ct(_write_series(tmp_path / "s"))
    assert vol.array.shape[0] == 12 and np.isclose(vol.spacing[2], 1e-3)
    assert vol.warnings == []


def test_series_missing_a_slice(tmp_path):
    d = _write_series(tmp_path / "s")
    (d / "slice_005.dcm").unlink()
    with pytest.raises(InputFileError, match=r"missing slice\(s\) between slice_004.dcm "
                                             r"\(at 34.000 mm\) and slice_006.dcm .*about 1 slice"):
        load_ct(d)


def test_series_with_a_duplicated_slice(tmp_path):
    d = _write_series(tmp_path / "s", z_of=lambda k: 30.0 + (k if k != 6 else 5))
    with pytest.raises(InputFileError, match=r"duplicated slice position.*slice_00[56].dcm"):
        load_ct(d)


def test_series_with_uneven_spacing(tmp_path):
    d = _write_series(tmp_path / "s", z_of=lambda k: 30.0 + k + (0.3 if k == 7 else 0.0))
    with pytest.raises(InputFileError, match="uneven slice spacing.*slice_00[67].dcm"):
        load_ct(d)


def test_series_rounding_of_positions_is_accepted(tmp_path):
    d = _write_series(tmp_path / "s", z_of=lambda k: round(30.0 + 0.625 * k, 2))
    load_ct(d)


def test_tilted_series(tmp_path):
    d = _write_series(tmp_path / "s", shift_of=lambda k: 0.05 * k)  # ~2.9 degrees of tilt
    with pytest.raises(InputFileError, match="sheared by 2.86 degrees.*gantry tilt"):
        load_ct(d)


def test_real_dicom_series_passes_the_geometry_checks(shared_data):
    vol = load_ct(shared_data / "ct" / "chest_dicom_series")
    assert any("thick slices" in w for w in vol.warnings)  # 8 mm apart
    with pytest.raises(InputFileError, match="too thick.*thin-slice reconstruction"):
        load_ct(shared_data / "ct" / "chest_dicom_series", max_slice_m=ct_checks.MAX_SLICE_M)


# --- resolution -------------------------------------------------------------------------------


def test_thick_slices_warn_then_refuse(tmp_path):
    for sz, outcome in ((1.0, "ok"), (2.5, "warn"), (5.0, "refuse")):
        p = tmp_path / f"ct_{sz}.nii.gz"
        sitk.WriteImage(_image(_ct(), spacing=(0.5, 0.5, sz)), str(p))
        if outcome == "refuse":
            with pytest.raises(InputFileError, match="5.00 mm are too thick"):
                load_ct(p, max_slice_m=ct_checks.MAX_SLICE_M)
            vol = load_ct(p)  # without a limit (reading only): a warning
        else:
            vol = load_ct(p, max_slice_m=ct_checks.MAX_SLICE_M)
        assert bool(vol.warnings) == (outcome != "ok"), vol.warnings
    assert resample_isotropic(vol, 0.001).warnings == vol.warnings  # carried along


def test_resample_spacing_bounds():
    assert check_resample_spacing(0.0005) == []
    assert check_resample_spacing(0.001, native_spacing_m=[0.0006] * 3)  # coarser: warned
    with pytest.raises(ConfigError, match="leaks into the lung"):
        check_resample_spacing(0.0015)
    with pytest.raises(ConfigError):
        check_resample_spacing(-1)


# --- the decisions as room-prepare applies them ---------------------------------------------


def _crop_resampled(shared_data, tmp_path, spacing_mm):
    img = sitk.ReadImage(str(shared_data / "ct" / "chest_ct_carina_crop.nii.gz"))
    size = [int(round(n * s / t)) for n, s, t in zip(img.GetSize(), img.GetSpacing(), spacing_mm,
                                                      strict=True)]
    out = sitk.Resample(img, size, sitk.Transform(), sitk.sitkLinear, img.GetOrigin(),
                        spacing_mm, img.GetDirection(), -1024.0, img.GetPixelID())
    p = tmp_path / f"crop_{spacing_mm[2]}mm.nii.gz"
    sitk.WriteImage(out, str(p))
    return p


def test_prepare_refuses_5mm_slices_before_any_work(shared_data, tmp_path, run_cli):
    """The shared crop at 0.5 x 0.5 x 5 mm segmented to 8.6 mL and 3 branches (52 mL and 54 at
    its own spacing): room-prepare refuses it and asks for the thin-slice reconstruction."""
    ct = _crop_resampled(shared_data, tmp_path, (0.5, 0.5, 5.0))
    r = run_cli("room.cli.prepare", f"ct={ct}", f"out={tmp_path / 'scene'}", "progress=false")
    assert r.returncode == 2, r.stderr[-2000:]
    assert "too thick" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "scene").exists()


def test_prepare_refuses_a_leaking_resample_spacing_at_config_time(run_cli, tmp_path):
    r = run_cli("room.cli.prepare", "scene.resample_spacing_m=0.0015", "progress=false",
                f"out={tmp_path / 'scene'}")
    assert r.returncode == 2 and "leaks into the lung" in r.stderr, r.stderr[-2000:]


@pytest.mark.slow
def test_prepare_records_the_thick_slice_warning_in_scene_json(shared_data, tmp_path):
    from room.anatomy.prepare import SceneConfig, prepare_scene

    ct = _crop_resampled(shared_data, tmp_path, (0.7, 0.7, 2.0))
    scene = prepare_scene(SceneConfig(name="crop2mm", source="ct", ct=str(ct), preview=False),
                          tmp_path / "scene", progress=False)
    warnings = scene.metadata.get("warnings", [])
    assert any("thick" in w for w in warnings), warnings
    assert json.loads((tmp_path / "scene" / "scene.json").read_text())["metadata"]["warnings"]
