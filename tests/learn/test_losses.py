"""Loss invariances, zeros at ground truth, masks."""

import pytest

torch = pytest.importorskip("torch")

from room.learn.losses import (  # noqa: E402
    gradient_loss,
    relative_loss,
    silog_loss,
    ssi_loss,
)


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    gt = 0.01 + 0.1 * torch.rand(2, 1, 16, 16, generator=g)
    mask = torch.rand(2, 1, 16, 16, generator=g) > 0.2
    pred = gt * torch.exp(0.2 * torch.randn(2, 1, 16, 16, generator=g))
    return pred, gt, mask


def test_silog_zero_at_gt_and_scale_invariance():
    pred, gt, mask = _data()
    assert silog_loss(gt, gt, mask) < 1e-5  # sqrt(1e-12) stabiliser only
    base = silog_loss(pred, gt, mask, lam=1.0)
    assert base > 0.1
    # lam = 1: per-image global scale does not matter (float32 logs: 1e-5 relative)
    scaled = pred * torch.tensor([3.0, 0.2]).view(2, 1, 1, 1)
    assert silog_loss(scaled, gt, mask, lam=1.0) == pytest.approx(float(base), rel=1e-4)
    # lam < 1 penalises the scale
    assert silog_loss(3 * pred, gt, mask, lam=0.5) > silog_loss(pred, gt, mask, lam=0.5)


def test_ssi_invariance_and_zero():
    pred, gt, mask = _data(1)
    target = 1.0 / gt
    assert ssi_loss(target, target, mask) < 1e-6
    assert ssi_loss(5 * target - 3, target, mask) < 1e-3  # float32 normal equations
    base = ssi_loss(pred, target, mask)
    assert base > 1.0
    assert ssi_loss(7 * pred + 2, target, mask) == pytest.approx(float(base), rel=1e-3)


def test_gradient_loss_zero_shift_invariant():
    pred, gt, mask = _data(2)
    assert gradient_loss(gt, gt, mask) == 0.0
    assert gradient_loss(gt + 1.0, gt, mask) < 1e-5  # a constant offset has no gradient
    assert gradient_loss(pred, gt, mask) > 0.0


def test_masked_pixels_do_not_matter():
    pred, gt, mask = _data(3)
    junk = torch.where(mask, pred, torch.full_like(pred, 1e3))
    junk_gt = torch.where(mask, gt, torch.zeros_like(gt))
    for f in (silog_loss, relative_loss):
        assert f(junk, junk_gt, mask) == pytest.approx(float(f(pred, gt, mask)), rel=1e-5)


def test_empty_mask_backpropagates():
    pred, gt, _ = _data(4)
    pred.requires_grad_(True)
    none = torch.zeros_like(gt, dtype=torch.bool)
    for f in (silog_loss, relative_loss):
        loss = f(pred, gt, none)
        loss.backward()
        assert loss == 0.0 and torch.isfinite(pred.grad).all()
