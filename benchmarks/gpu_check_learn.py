"""GPU check of the learn stage, for when a CUDA device is lent (exits 0 with a note when not).

1. The same model gives the same prediction on CPU and CUDA (fp32, tolerance 1e-3 relative:
   cuDNN/TF32 convolution and attention kernels differ from the CPU ones in rounding).
2. A short training run on the analytic tube learns on CUDA (loss drops).
3. Training throughput at 256 x 256 (fp32 and bf16 autocast), side by side with the U-Net as
   baseline, for the built-in U-Net and Depth Anything V2 tiny / small layouts.

    python benchmarks/gpu_check_learn.py [--batch 16] [--steps 20]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def check_same_prediction(torch) -> None:
    from room.learn.models import ModelConfig, build_model

    for arch in ("unet", "depth_anything"):
        torch.manual_seed(0)
        m = build_model(ModelConfig(arch=arch, mode="metric")).eval()
        x = torch.rand(2, 3, 126, 126)
        with torch.no_grad():
            a = m(x)
            b = m.cuda()(x.cuda()).cpu()
        rel = float(((a - b).abs() / a.abs().clamp_min(1e-6)).max())
        print(f"cpu vs cuda prediction, {arch}: max relative difference {rel:.2e}")
        assert rel < 1e-3, f"{arch}: CUDA prediction differs from CPU by {rel}"


def check_learns(torch) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    import tempfile

    from learn import synth

    from room.learn.data import AugmentConfig, DataConfig, DepthFrames, Transform
    from room.learn.train import TrainConfig, Trainer

    train = DepthFrames([synth.TubeSequence(64, 0, 64)], Transform((64, 64), AugmentConfig()))
    with tempfile.TemporaryDirectory() as d:
        cfg = TrainConfig(data=DataConfig(size=(64, 64)), out_dir=d, epochs=4, batch_size=16,
                          lr=3e-3, device="cuda", progress=False, log_every=1)
        tr = Trainer(cfg, train)
        tr.fit()
        import json

        losses = [json.loads(x)["loss"] for x in open(f"{d}/train_log.jsonl")
                  if '"step"' in x]
    print(f"cuda training: loss {losses[0]:.3f} -> {losses[-1]:.3f} over {len(losses)} steps")
    assert losses[-1] < 0.8 * losses[0], "training on CUDA did not reduce the loss"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check (run benchmarks/bench_learn.py for the CPU)")
        return
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    from bench_learn import run

    check_same_prediction(torch)
    check_learns(torch)
    names = ["unet", "da2-tiny", "da2-small"]
    run("cuda", args.batch, args.steps, 256, names, amp=False)
    run("cuda", args.batch, args.steps, 256, names, amp=True)


if __name__ == "__main__":
    main()
