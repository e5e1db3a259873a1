"""Airway segmentation: ATM'22 targets on the phantom, leak control, trachea detection, errors,
label-map import, the real carina crop, and the preview PNG."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image
from scipy import ndimage

from room.anatomy.labelmap import import_label_map
from room.anatomy.metrics import airway_metrics
from room.anatomy.phantom import LUMEN, PhantomConfig, make_phantom
from room.anatomy.preview import carina_point, save_preview
from room.anatomy.segment import SegmentConfig, _Flooder, segment_airway
from room.anatomy.volume import Volume
from room.errors import InputFileError, SegmentationError

SMALL = PhantomConfig(generations=4, spacing_m=0.001)


@pytest.fixture(scope="module")
def small():
    ph = make_phantom(SMALL)
    return ph, segment_airway(ph.ct)


def _check_targets(m, gt_m3, max_gen_strict=4):
    for g, row in m.per_generation.items():
        if g <= max_gen_strict:
            assert row["bd"] >= 0.95 and row["td"] >= 0.95, (g, row)
    assert m.bd >= 0.85 and m.td >= 0.85
    # no leak: predicted voxels > 2 mm from the GT lumen below 0.5% of the tree volume (a few
    # parenchyma voxels can join at a thin distal tip; a leak is tens of mL)
    assert not m.leak and m.leak_parenchyma_m3 < 0.005 * gt_m3


def test_small_phantom_atm_targets(small):
    ph, mask = small
    m = airway_metrics(mask, ph.lumen, ph.tree, ph.tissue)
    _check_targets(m, ph.lumen.array.sum() * ph.ct.voxel_volume_m3)
    # half-maximum boundary refinement: the mask matches the GT lumen closely
    assert m.dice > 0.93 and m.fpf < 0.02
    seg = mask.metadata["segmentation"]
    # the automatic seed lies in the GT trachea
    seed = tuple(seg["seed_zyx"])
    assert ph.lumen.array[seed]
    assert ph.tree.nearest(np.array(seg["seed_world_m"]))[0] == ph.tree.root


@pytest.mark.slow
def test_default_phantom_atm_targets():
    ph = make_phantom(PhantomConfig())
    mask = segment_airway(ph.ct)
    m = airway_metrics(mask, ph.lumen, ph.tree, ph.tissue)
    print("\n" + m.table())
    _check_targets(m, ph.lumen.array.sum() * ph.ct.voxel_volume_m3)


@pytest.mark.slow  # a 4-generation phantom at 1 mm, segmented twice: 3 s
def test_leak_control_against_naive_threshold():
    """Holes in three distal walls let lumen air touch parenchyma: a fixed-threshold flood at
    -860 HU pours into the lung; the adaptive growing rejects the leak and keeps the tree."""
    ph = make_phantom(PhantomConfig(generations=4, spacing_m=0.001, wall_gaps=3))
    mask = segment_airway(ph.ct)
    m = airway_metrics(mask, ph.lumen, ph.tree, ph.tissue)
    _check_targets(m, ph.lumen.array.sum() * ph.ct.voxel_volume_m3)
    assert any(leak > 0 for _, _, leak in mask.metadata["segmentation"]["history"])
    box, region, _ = _Flooder(ph.ct.array, mask.metadata["segmentation"]["seed_zyx"])(-860.0)
    naive = np.zeros(ph.ct.array.shape, bool)
    naive[box] = region
    n = airway_metrics(ph.ct.with_array(naive), ph.lumen, ph.tree, ph.tissue)
    gt_m3 = ph.lumen.array.sum() * ph.ct.voxel_volume_m3
    assert n.leak and n.leak_parenchyma_m3 > gt_m3  # the naive leak is bigger than the tree


def test_manual_seed_matches_automatic(small):
    ph, auto = small
    manual = segment_airway(ph.ct, seed_point=ph.tree.trachea.points[40])
    assert np.array_equal(manual.array, auto.array)
    with pytest.raises(SegmentationError, match="outside the CT"):
        segment_airway(ph.ct, seed_point=np.array([5.0, 5.0, 5.0]))
    with pytest.raises(SegmentationError, match="not in air"):
        # a point in the mediastinum beside the trachea (soft tissue)
        segment_airway(ph.ct, seed_point=ph.tree.trachea.points[40] + [0.015, 0, 0])


def test_no_trachea(small):
    ph, _ = small
    arr = ph.ct.array.copy()
    arr[ph.tissue.array == LUMEN] = 40.0  # airways filled with fluid: nothing to find
    with pytest.raises(SegmentationError, match="no trachea found"):
        segment_airway(ph.ct.with_array(arr))


def _body_with_trachea(fistula: bool = False, bubble: bool = False) -> Volume:
    """80 x 80 x 60 mm at 1 mm: air around a soft-tissue cylinder (r 30 mm) holding a trachea
    (r 8 mm, along z); optionally an air channel from the trachea to outside air."""
    z, y, x = np.mgrid[:60, :80, :80].astype(float)
    r = np.hypot(x - 40, y - 40)
    a = np.where(r < 30, 40.0, -1000.0).astype(np.float32)
    a[r < 8] = -1000.0
    if fistula:
        a[10:14, 38:42, 40:] = -1000.0
    if bubble:
        a[30:33, 20:23, 38:41] = -1000.0
    return Volume(a, np.full(3, 0.001))


def test_explosion_and_empty_errors():
    cfg = SegmentConfig(max_airway_m3=1e-4)  # 100 mL: the outside air here is ~240 mL
    ok = segment_airway(_body_with_trachea(), cfg)
    assert ok.array.sum() * 1e-9 == pytest.approx(np.pi * 0.008**2 * 0.06, rel=0.1)
    with pytest.raises(SegmentationError, match="exploded"):
        segment_airway(_body_with_trachea(fistula=True), cfg)
    with pytest.raises(SegmentationError, match="nearly empty"):
        segment_airway(_body_with_trachea(bubble=True), cfg,
                       seed_point=np.array([0.039, 0.021, 0.031]))


def test_import_label_map(tmp_path, small):
    ph, _ = small
    lab = np.where(ph.lumen.array, 2, 0).astype(np.uint8)
    lab[:3, :3, :3] = 1  # some other structure
    path = tmp_path / "airway.nii.gz"
    sitk.WriteImage(ph.ct.with_array(lab).to_sitk(), str(path))
    m = import_label_map(path, labels=[2], reference=ph.ct)
    assert m.array.dtype == bool and np.array_equal(m.array, ph.lumen.array)
    assert import_label_map(path).array.sum() == ph.lumen.array.sum() + 27
    with pytest.raises(SegmentationError, match="no voxel carries"):
        import_label_map(path, labels=[7])
    shifted = Volume(ph.ct.array[:-1], ph.ct.spacing, ph.ct.origin)
    with pytest.raises(InputFileError, match="differs from the CT"):
        import_label_map(path, reference=shifted)
    with pytest.raises(InputFileError, match="no such label map"):
        import_label_map(tmp_path / "nope.nii.gz")


def test_preview_png(tmp_path, small):
    ph, mask = small
    out = save_preview(ph.ct, mask, tmp_path / "p.png", title="phantom")
    img = np.asarray(Image.open(out))
    assert img.shape == (376, 1080, 3)
    red = img[..., 0].astype(int) - img[..., 1] > 60
    assert red.sum() > 100  # the mask overlay is visible
    c = carina_point(mask)
    # the carina point: where the axial cross-section splits, below the GT carina (trachea end)
    # by the depth at which two main bronchi (r 8 and 6.6 mm, 30 and 43 degrees) separate,
    # about 10 mm plus a voxel or two, and on the trachea axis
    p = mask.zyx_to_world(c.astype(float))
    carina = ph.tree.trachea.end
    assert 0.005 < carina[2] - p[2] < 0.016 and np.hypot(*(p - carina)[:2]) < 0.002


def _axial_parts(mask: np.ndarray, z: int, spacing_mm: float):
    from skimage.measure import regionprops

    lab, _ = ndimage.label(mask[z])
    props = sorted(regionprops(lab), key=lambda p: -p.area)
    return [(p.centroid, p.axis_minor_length * spacing_mm, 2 * np.sqrt(p.area / np.pi)
             * spacing_mm) for p in props]


@pytest.mark.realdata
def test_real_carina_crop(shared_data, tmp_path):
    from room.anatomy.ct import load_ct

    ct = load_ct(shared_data / "ct" / "chest_ct_carina_crop.nii.gz")
    mask = segment_airway(ct)
    m = mask.array
    vox_mm = ct.spacing[0] * 1e3
    vol_ml = m.sum() * ct.voxel_volume_m3 * 1e6
    assert 20 < vol_ml < 150  # trachea end + main and lobar bronchi; no explosion
    # no leak into parenchyma: the mask interior (two voxels in from the partial-volume edge)
    # is air, not -850 HU lung
    core = ndimage.binary_erosion(m, iterations=2)
    assert np.median(ct.array[core]) < -950 and np.mean(ct.array[core] > -850) < 0.05
    cz, cy, cx = carina_point(mask)
    # trachea 12-21 mm above the split (it widens into the carina below): one round lumen of
    # human size, 10-20 mm across its narrower axis (equivalent diameter to 22 mm: the axial
    # cut of a slightly oblique tube, partial volume at 1.5 mm voxels)
    above = [_axial_parts(m, z, vox_mm)[0] for z in range(cz + 8, min(cz + 15, m.shape[0]))]
    assert len(above) >= 4
    for (_, x), minor, eqd in above:
        assert 10 <= minor <= 20 and 10 <= eqd <= 22 and abs(x - cx) < 4
    # below the carina: two main bronchi, one on each side of the trachea centre
    parts = _axial_parts(m, cz - 3, vox_mm)
    (c1, minor1, _), (c2, minor2, _) = parts[:2]
    assert min(c1[1], c2[1]) < cx < max(c1[1], c2[1])
    assert 8 <= minor1 <= 16 and 8 <= minor2 <= 16
    out = save_preview(ct, mask, tmp_path / "crop.png", title="carina crop")
    assert out.stat().st_size > 10_000
