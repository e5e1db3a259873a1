"""Depth metrics against values computed by hand on 3-pixel images."""

import math

import numpy as np
import pytest

from room.errors import ConfigError
from room.learn.metrics import MetricAccumulator, MetricsConfig, align, format_table, frame_metrics

CFG = MetricsConfig(alignment="metric", min_depth=1e-3, max_depth=10.0)


def test_metric_values_by_hand():
    gt = np.array([[1.0, 2.0, 4.0]])
    pred = np.array([[1.1, 1.8, 5.0]])
    m = frame_metrics(pred, gt, CFG)
    # |err|/g = 0.1, 0.1, 0.25
    assert m["abs_rel"] == pytest.approx(0.45 / 3)
    # err^2/g = 0.01/1, 0.04/2, 1/4
    assert m["sq_rel"] == pytest.approx((0.01 + 0.02 + 0.25) / 3)
    assert m["rmse"] == pytest.approx(math.sqrt((0.01 + 0.04 + 1.0) / 3))
    logs = [math.log(1.1), math.log(0.9), math.log(1.25)]
    assert m["rmse_log"] == pytest.approx(math.sqrt(sum(v * v for v in logs) / 3))
    # ratios 1.1, 1.111, 1.25: the last is not < 1.25
    assert m["delta1"] == pytest.approx(2 / 3)
    assert m["delta2"] == 1.0 and m["delta3"] == 1.0


def test_median_scaling():
    gt = np.array([1.0, 2.0, 4.0])
    cfg = MetricsConfig(alignment="median", max_depth=10.0)
    assert frame_metrics(np.array([2.0, 4.0, 8.0]), gt, cfg)["abs_rel"] == pytest.approx(0.0)
    # medians 3 and 2: scale 2/3 -> [2/3, 2, 20/3]; |err|/g = 1/3, 0, (8/3)/4
    m = frame_metrics(np.array([1.0, 3.0, 10.0]), gt, cfg)
    assert m["abs_rel"] == pytest.approx((1 / 3 + 0 + 2 / 3) / 3)


def test_scale_shift_on_depth():
    # x=[1,2,3], y=[1,2,2]: s = cov/var = 1/2, t = 5/3 - 1 = 2/3 -> [7/6, 5/3, 13/6]
    cfg = MetricsConfig(alignment="scale_shift", max_depth=10.0)
    gt = np.array([1.0, 2.0, 2.0])
    out = align(np.array([1.0, 2.0, 3.0]), gt, np.ones(3, bool), "scale_shift")
    np.testing.assert_allclose(out, [7 / 6, 5 / 3, 13 / 6])
    m = frame_metrics(np.array([1.0, 2.0, 3.0]), gt, cfg)
    assert m["abs_rel"] == pytest.approx((1 / 6 + (1 / 3) / 2 + (1 / 6) / 2) / 3)


def test_scale_shift_on_disparity():
    # predicted disparity 1, 2, 3; true disparity 3, 5, 7 = 2 * pred + 1: exact after alignment
    pred = 1.0 / np.array([1.0, 2.0, 3.0])
    gt = 1.0 / np.array([3.0, 5.0, 7.0])
    out = align(pred, gt, np.ones(3, bool), "scale_shift_disparity")
    np.testing.assert_allclose(out, gt)
    # the same prediction aligned on depth is not exact (depth is not affine in disparity)
    assert not np.allclose(align(pred, gt, np.ones(3, bool), "scale_shift"), gt)


def test_cap_and_masks():
    cfg = MetricsConfig(alignment="metric", min_depth=0.5, max_depth=10.0)
    # gt 0 (no hit), 0.2 (< min) and 20 (> max) are excluded; only the pixel with gt=2 counts
    gt = np.array([0.0, 0.2, 20.0, 2.0, np.nan])
    pred = np.array([5.0, 5.0, 5.0, 3.0, 1.0])
    assert frame_metrics(pred, gt, cfg)["abs_rel"] == pytest.approx(0.5)
    # prediction clipped to max_depth: 50 -> 10, |10 - 2| / 2 = 4
    assert frame_metrics(np.array([50.0]), np.array([2.0]), cfg)["abs_rel"] == pytest.approx(4)
    # an explicit mask removes pixels too
    m = frame_metrics(np.array([1.0, 3.0]), np.array([1.0, 2.0]), cfg, mask=np.array([1, 0]))
    assert m["abs_rel"] == 0.0
    assert frame_metrics(pred, np.zeros(5), cfg) is None


def test_accumulator_and_table():
    acc = MetricAccumulator()
    gt = np.array([1.0, 2.0, 4.0])
    acc.add("a", frame_metrics(gt, gt, CFG))
    acc.add("b", frame_metrics(np.array([1.1, 1.8, 5.0]), gt, CFG))
    acc.add("b", None)
    per = acc.per_sequence()
    assert per["a"]["abs_rel"] == 0.0 and per["b"]["frames"] == 1
    assert acc.overall()["abs_rel"] == pytest.approx(0.15 / 2)
    assert acc.skipped == 1
    assert "ALL" in format_table(per, acc.overall())


def test_bad_config():
    with pytest.raises(ConfigError, match="alignment"):
        MetricsConfig(alignment="foo")
    with pytest.raises(ConfigError, match="min_depth"):
        MetricsConfig(min_depth=1.0, max_depth=0.5)
    with pytest.raises(ConfigError, match="shape"):
        frame_metrics(np.ones(3), np.ones(4), CFG)
