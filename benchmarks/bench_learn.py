"""Depth-training throughput at 256 x 256: built-in U-Net vs small Depth Anything V2 configs.

One optimiser step = forward + loss + backward + AdamW update on a batch of random images
(the data pipeline is not timed). Models run side by side in one process; the U-Net is the
baseline of the printed ratios. Random weights (no download); ``da2-small`` has the layout of
Depth Anything V2 Small (ViT-S/14, ~25 M parameters), ``da2-tiny`` the test configuration.

    python benchmarks/bench_learn.py [--device cpu|cuda] [--batch 4] [--steps 5] [--size 256]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODELS = {
    "unet": dict(arch="unet", mode="metric"),
    "da2-tiny": dict(arch="depth_anything", mode="relative", vit_preset="tiny"),
    "da2-small": dict(arch="depth_anything", mode="relative", vit_preset="small"),
}


def measure(name: str, device: str, batch: int, steps: int, size: int, amp: bool = False):
    """(ms per training step, training images/s, training images per CPU-second of this
    process, ms per inference image, parameters). The CPU-second figure is robust to other
    processes competing for the cores; the wall-clock figures are not."""
    import torch

    from room.learn.losses import metric_loss, relative_loss
    from room.learn.models import ModelConfig, build_model, count_parameters

    torch.manual_seed(0)
    cfg = ModelConfig(**MODELS[name])
    model = build_model(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    rgb = torch.rand(batch, 3, size, size, device=device)
    gt = 0.01 + 0.1 * torch.rand(batch, 1, size, size, device=device)
    mask = torch.ones_like(gt, dtype=torch.bool)
    loss_fn = metric_loss if cfg.mode == "metric" else relative_loss
    dtype = torch.bfloat16

    def step():
        with torch.autocast(device_type=device.split(":")[0], dtype=dtype, enabled=amp):
            out = model(rgb)
        loss = loss_fn(out.float(), gt, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    model.train()
    step()  # warm-up (allocations, kernels)
    sync()
    t, c = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    sync()
    ms_step = 1e3 * (time.perf_counter() - t) / steps
    img_per_cpu_s = steps * batch / (time.process_time() - c)
    model.eval()
    with torch.no_grad(), torch.autocast(device_type=device.split(":")[0], dtype=dtype,
                                         enabled=amp):
        model(rgb)
        sync()
        t = time.perf_counter()
        for _ in range(steps):
            model(rgb)
        sync()
    ms_inf = 1e3 * (time.perf_counter() - t) / (steps * batch)
    return ms_step, 1e3 * batch / ms_step, img_per_cpu_s, ms_inf, count_parameters(model)


def run(device: str, batch: int, steps: int, size: int, names: list[str], amp: bool = False):
    rows = {n: measure(n, device, batch, steps, size, amp) for n in names}
    base = rows[names[0]][1]
    print(f"device={device} batch={batch} size={size}x{size} steps={steps} amp={amp}")
    base_cpu = rows[names[0]][2]
    print(f"{'model':<12}{'params':>12}{'ms/step':>12}{'train img/s':>13}{'img/cpu-s':>11}"
          f"{'ms/img infer':>14}{'img/s vs ' + names[0]:>16}{'cpu vs ' + names[0]:>14}")
    for n, (ms, ips, ipc, inf, p) in rows.items():
        print(f"{n:<12}{p:>12,}{ms:>12.1f}{ips:>13.2f}{ipc:>11.2f}{inf:>14.1f}"
              f"{ips / base:>16.3f}{ipc / base_cpu:>14.3f}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--models", default="unet,da2-tiny,da2-small")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    run(args.device, args.batch, args.steps, args.size, args.models.split(","))


if __name__ == "__main__":
    main()
