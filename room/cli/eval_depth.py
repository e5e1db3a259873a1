"""``room-eval-depth``: evaluate a depth checkpoint on room datasets.

Writes depth_eval.json (overall, per sequence, constant-depth baseline), depth_eval.txt (the
per-sequence table, also printed) and depth_eval.png (RGB | GT | prediction | error).

Examples::

    room-eval-depth checkpoint=outputs/finetune_depth/run1/checkpoints/best.pt test=data/held_out
    room-eval-depth checkpoint=... root=data/all split=test metrics.alignment=scale_shift_disparity
"""

from __future__ import annotations

from omegaconf import DictConfig

from room.cli.common import cli_errors
from room.compose import hydra_main
from room.learn._cli import typed_config


def eval_config(cfg: DictConfig):
    """The typed EvalConfig of a composed ``eval_depth`` config."""
    from room.learn.evaluate import EvalConfig

    return typed_config(EvalConfig, cfg)


@cli_errors
def run(cfg: DictConfig) -> None:
    """The command on a composed config (tests call it with the Compose API)."""
    from room.learn.evaluate import evaluate

    ec = eval_config(cfg)
    report = evaluate(ec)
    print(report["table"])
    b = report["baseline_constant"]["overall"]["abs_rel"]
    a = report["metrics_config"]["alignment"]
    print(f"constant-depth baseline AbsRel: {b:.4f}  (alignment {a})")
    print(f"report: {ec.out_dir}/depth_eval.json, grid: {ec.out_dir}/depth_eval.png")


main = hydra_main("eval_depth")(run)

if __name__ == "__main__":
    main()
