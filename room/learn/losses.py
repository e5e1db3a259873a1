"""Training losses for monocular depth, with validity masks.

Tensors are (B, 1, H, W); ``mask`` is a bool tensor of the same shape (True = ground truth
valid). Invalid pixels never influence a loss or its gradient; images without any valid pixel
are skipped (a batch with none gives a zero loss that still backpropagates).

- :func:`silog_loss` (Eigen et al. 2014): metric models, depths in metres.
- :func:`ssi_loss` and :func:`gradient_loss` (Ranftl et al., MiDaS, TPAMI 2020): relative
  models, predicting disparity up to an unknown per-image scale and shift.
"""

from __future__ import annotations

from room.learn._deps import require_torch

torch = require_torch()
Tensor = torch.Tensor

_DIMS = (1, 2, 3)


def _masked_image_mean(x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Per-image mean of ``x`` over ``mask`` -> ((B,), count (B,))."""
    m = mask.to(x.dtype)
    n = m.sum(_DIMS)
    return (x * m).sum(_DIMS) / n.clamp_min(1.0), n


def silog_loss(pred: Tensor, gt: Tensor, mask: Tensor, lam: float = 0.85,
               eps: float = 1e-6) -> Tensor:
    """Scale-invariant log loss: mean over images of ``sqrt(mean d^2 - lam * (mean d)^2)``.

    ``d = ln pred - ln gt`` on valid pixels (depths in metres, clamped at ``eps``). With
    ``lam = 1`` the loss is invariant to a global per-image scale of ``pred``; ``lam = 0`` is the
    plain RMSE of log depth. (No factor 10: the value is in log units.)
    """
    d = torch.log(pred.clamp_min(eps)) - torch.log(gt.clamp_min(eps))
    d = torch.where(mask, d, torch.zeros_like(d))
    mean_d, n = _masked_image_mean(d, mask)
    mean_d2, _ = _masked_image_mean(d * d, mask)
    var = (mean_d2 - lam * mean_d**2).clamp_min(0.0)
    per_image = torch.sqrt(var + 1e-12)
    has = n > 0
    if not bool(has.any()):
        return (pred * 0.0).sum()
    return per_image[has].mean()


def scale_shift(pred: Tensor, target: Tensor, mask: Tensor,
                eps: float = 1e-8) -> tuple[Tensor, Tensor]:
    """Per-image least squares: ``s, t`` (B,1,1,1) minimising ``sum_mask (s*pred+t-target)^2``.

    Centred closed form ``s = cov(pred, target) / (var(pred) + eps)``, ``t = mean(target) -
    s * mean(pred)`` (the MiDaS normal equations, numerically stable). ``eps`` keeps a constant
    prediction (e.g. a freshly initialised head) differentiable: its gradient then pushes the
    prediction towards the target's shape instead of vanishing. Images without valid pixels get
    ``s = t = 0``.
    """
    m = mask.to(pred.dtype)
    n = m.sum(_DIMS, keepdim=True).clamp_min(1.0)
    mp = (m * pred).sum(_DIMS, keepdim=True) / n
    mt = (m * target).sum(_DIMS, keepdim=True) / n
    dp = (pred - mp) * m
    var = (dp * dp).sum(_DIMS, keepdim=True) / n
    cov = (dp * (target - mt)).sum(_DIMS, keepdim=True) / n
    s = cov / (var + eps)
    return s, mt - s * mp


def ssi_loss(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Scale-and-shift-invariant MSE: ``pred`` aligned per image to ``target`` (MiDaS), then the
    mean squared error over all valid pixels of the batch. Invariant to ``a*pred + b``, a > 0."""
    s, t = scale_shift(pred, target, mask)
    return _masked_mse(s * pred + t, target, mask)


def _masked_mse(x: Tensor, y: Tensor, mask: Tensor) -> Tensor:
    m = mask.to(x.dtype)
    return ((x - y) ** 2 * m).sum() / m.sum().clamp_min(1.0)


def gradient_loss(pred: Tensor, target: Tensor, mask: Tensor, scales: int = 4) -> Tensor:
    """Multi-scale gradient matching (MiDaS): at scales 1, 1/2, ..., 1/2^(scales-1) (by
    subsampling), the L1 norm of the x and y gradients of ``pred - target``, counted where both
    neighbours are valid, normalised by the number of valid pixels; summed over scales."""
    total = (pred * 0.0).sum()
    for k in range(scales):
        step = 2**k
        d = (pred - target)[..., ::step, ::step]
        m = mask[..., ::step, ::step]
        d = torch.where(m, d, torch.zeros_like(d))
        mx = m[..., :, 1:] & m[..., :, :-1]
        my = m[..., 1:, :] & m[..., :-1, :]
        gx = (d[..., :, 1:] - d[..., :, :-1]).abs() * mx
        gy = (d[..., 1:, :] - d[..., :-1, :]).abs() * my
        n = m.sum()
        if n > 0:
            total = total + (gx.sum() + gy.sum()) / n
    return total


def normalized_disparity(depth: Tensor, mask: Tensor) -> Tensor:
    """``1/depth`` divided by its per-image median over ``mask`` (0 elsewhere): a dimensionless
    relative-depth target whose loss magnitude does not depend on the scene's size."""
    disp = torch.where(mask, 1.0 / depth.clamp_min(1e-6), torch.zeros_like(depth))
    out = torch.zeros_like(disp)
    for i in range(disp.shape[0]):
        v = disp[i][mask[i]]
        if v.numel():
            out[i] = disp[i] / v.median().clamp_min(1e-12)
    return out


def relative_loss(pred_disp: Tensor, gt_depth: Tensor, mask: Tensor, alpha: float = 0.5,
                  scales: int = 4) -> Tensor:
    """Loss of a relative model: ssi on disparity + ``alpha`` * gradient matching of the aligned
    prediction (MiDaS, alpha = 0.5). ``pred_disp`` any scale; ``gt_depth`` metres."""
    target = normalized_disparity(gt_depth, mask)
    s, t = scale_shift(pred_disp, target, mask)
    aligned = s * pred_disp + t
    loss = _masked_mse(aligned, target, mask)
    if alpha > 0:
        loss = loss + alpha * gradient_loss(aligned, target, mask, scales)
    return loss


def metric_loss(pred_depth: Tensor, gt_depth: Tensor, mask: Tensor, lam: float = 0.85) -> Tensor:
    """Loss of a metric model: SiLog on depth in metres."""
    return silog_loss(pred_depth, gt_depth, mask, lam=lam)
