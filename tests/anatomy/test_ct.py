"""CT loading: every format, LPS orientation, HU, metres, DICOM series choice, bad input."""

from __future__ import annotations

import time

import numpy as np
import pytest
import SimpleITK as sitk

from room.anatomy.ct import load_ct, resample_isotropic
from room.anatomy.volume import Volume
from room.errors import ConfigError, InputFileError, NotCTError


def _ct_array(shape=(12, 14, 16), seed=0) -> np.ndarray:
    """Tiny int16 'CT' (z, y, x): air -1000 around a soft-tissue block with a bright marker."""
    rng = np.random.default_rng(seed)
    a = np.full(shape, -1000, np.int16)
    a[2:-2, 3:-3, 4:-4] = 40 + rng.integers(-20, 20, size=(shape[0] - 4, shape[1] - 6,
                                                           shape[2] - 8))
    a[3, 4, 5] = 1500  # marker voxel, located by world position after reorientation
    return a


def _image(arr, spacing=(0.8, 0.9, 1.2), origin=(-10.0, 20.0, 30.0), direction=None):
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    if direction is not None:
        img.SetDirection(direction)
    return img


def _marker_world(img) -> np.ndarray:
    return np.array(img.TransformIndexToPhysicalPoint((5, 4, 3))) * 1e-3


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha", ".mhd"])
def test_formats_lps_metres(tmp_path, suffix):
    # a flipped (RAS-like) direction: the loader must reorient to LPS, keeping world positions
    img = _image(_ct_array(), direction=(-1, 0, 0, 0, -1, 0, 0, 0, 1))
    path = tmp_path / f"ct{suffix}"
    sitk.WriteImage(img, str(path))
    vol = load_ct(path)
    assert vol.array.dtype == np.float32
    assert np.allclose(vol.direction, np.eye(3))
    assert np.allclose(vol.spacing, np.array([0.8, 0.9, 1.2]) * 1e-3)
    k = np.unravel_index(np.argmax(vol.array), vol.array.shape)
    # float32 NIfTI headers carry ~1e-6 mm rounding: compare world positions to 1 micrometre
    assert np.allclose(vol.zyx_to_world(np.array(k)), _marker_world(img), atol=1e-6)
    assert vol.array.max() == 1500 and vol.array.min() == -1000
    assert vol.metadata["orientation"] == "LPS"


def _write_dicom_series(folder, arr, series_uid, spacing=(0.7, 0.7, 2.5)):
    """Write an int16 CT series with SimpleITK (one file per slice)."""
    folder.mkdir(parents=True, exist_ok=True)
    img = _image(arr, spacing=spacing)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    now = time.strftime("%H%M%S")
    for k in range(img.GetDepth()):
        s = img[:, :, k]
        tags = {"0008|0060": "CT", "0020|000e": series_uid, "0020|000d": "1.2.3.4",
                "0008|0031": now, "0020|0032": "\\".join(map(str, img.TransformIndexToPhysicalPoint(
                    (0, 0, k)))), "0020|0013": str(k), "0020|0037": "1\\0\\0\\0\\1\\0",
                "0028|1052": "0", "0028|1053": "1", "0008|0008": "ORIGINAL\\PRIMARY\\AXIAL"}
        for key, v in tags.items():
            s.SetMetaData(key, v)
        writer.SetFileName(str(folder / f"{series_uid[-1]}_{k:03d}.dcm"))
        writer.Execute(s)


def test_dicom_two_series_picks_largest_or_requested(tmp_path, caplog):
    d = tmp_path / "dicom"
    _write_dicom_series(d, _ct_array((6, 10, 12)), "1.2.826.0.1.1")
    _write_dicom_series(d, _ct_array((9, 10, 12), seed=1), "1.2.826.0.1.2")
    with caplog.at_level("WARNING"):
        vol = load_ct(d)
    assert vol.array.shape == (9, 10, 12) and vol.metadata["series_id"] == "1.2.826.0.1.2"
    assert vol.metadata["series_choice"] == "largest" and "2 DICOM series" in caplog.text
    assert np.allclose(vol.spacing, np.array([0.7, 0.7, 2.5]) * 1e-3)
    small = load_ct(d, series_id="1.2.826.0.1.1")
    assert small.array.shape == (6, 10, 12)
    with pytest.raises(InputFileError, match="not found; available series"):
        load_ct(d, series_id="9.9.9")


def test_resample_isotropic():
    vol = Volume(_ct_array().astype(np.float32), np.array([0.8, 0.9, 1.2]) * 1e-3)
    iso = resample_isotropic(vol, 0.0006)
    assert np.allclose(iso.spacing, 0.0006) and iso.array.dtype == np.float32
    # same field of view: size * spacing preserved to one output voxel
    assert np.allclose(np.array(iso.shape_xyz) * 0.0006, np.array(vol.shape_xyz) * vol.spacing,
                       atol=0.0006)
    mask = resample_isotropic(vol.with_array(vol.array > 0), 0.0006)
    assert mask.array.dtype == bool and mask.array.any()
    with pytest.raises(ConfigError):
        resample_isotropic(vol, 0.05)


def test_bad_inputs(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        load_ct(tmp_path / "missing.nii.gz")
    junk = tmp_path / "junk.nii.gz"
    junk.write_text("not an image")
    with pytest.raises(InputFileError, match="cannot read"):
        load_ct(junk)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="no DICOM series"):
        load_ct(tmp_path / "empty")
    eight = _ct_array()
    u8 = ((eight.astype(float) + 1000) / 2500 * 255).clip(0, 255).astype(np.uint8)
    sitk.WriteImage(_image(u8), str(tmp_path / "u8.nii.gz"))
    with pytest.raises(NotCTError, match="8-bit"):
        load_ct(tmp_path / "u8.nii.gz")
    # the same 0..255 export stored as int16, and an MR-like 0..1500 range: no air, not HU
    sitk.WriteImage(_image(u8.astype(np.int16)), str(tmp_path / "win.nrrd"))
    with pytest.raises(NotCTError, match="not Hounsfield"):
        load_ct(tmp_path / "win.nrrd")
    mr = np.random.default_rng(0).uniform(0, 1500, (10, 10, 10)).astype(np.float32)
    sitk.WriteImage(_image(mr), str(tmp_path / "mr.mha"))
    with pytest.raises(NotCTError):
        load_ct(tmp_path / "mr.mha")
    for sp in [(0.05, 0.8, 0.8), (0.8, 0.8, 20.0)]:
        sitk.WriteImage(_image(_ct_array(), spacing=sp), str(tmp_path / "sp.mha"))
        with pytest.raises(ConfigError, match="absurd"):
            load_ct(tmp_path / "sp.mha")


@pytest.mark.realdata
def test_real_carina_crop(shared_data):
    vol = load_ct(shared_data / "ct" / "chest_ct_carina_crop.nii.gz")
    assert vol.shape_xyz == (122, 102, 112)
    assert np.allclose(vol.spacing, 0.0015)
    assert np.allclose(vol.direction, np.eye(3))
    a = vol.array
    assert a.min() >= -1024 and a.max() == 3343
    # lungs (about -850 HU), airway air (< -900) and soft tissue all present, in HU
    assert (a < -500).mean() > 0.2 and (a < -900).mean() > 0.005
    assert ((a > -100) & (a < 100)).mean() > 0.05


@pytest.mark.realdata
def test_real_dicom_series(shared_data):
    vol = load_ct(shared_data / "ct" / "chest_dicom_series")
    assert vol.shape_xyz == (512, 512, 8)
    assert np.allclose(vol.spacing, [0.646484375e-3, 0.646484375e-3, 8e-3])
    assert vol.metadata["format"] == "dicom" and vol.metadata["series_choice"] == "only"
    a = vol.array
    # outside air and soft tissue in HU; rescale intercept applied (no raw 0..4095 values)
    assert np.median(a[:, :5, :5]) < -950
    assert -100 < np.median(a[:, 200:300, 200:300]) < 100  # mediastinal soft tissue
