"""``room-finetune-depth``: train or fine-tune a monocular depth network on room datasets.

Examples::

    room-finetune-depth train=data/phantom_a val=data/phantom_b epochs=20
    room-finetune-depth root=data/all data.size=[128,128]          # split by sequence
    room-finetune-depth learn/model@model=depth_anything model.weights=/models/da2-small \\
        model.mode=relative train=data/a val=data/b device=cuda
    room-finetune-depth out_dir=outputs/finetune_depth/run1 ...    # resumes run1 if it exists
"""

from __future__ import annotations

from omegaconf import DictConfig

from room.cli.common import cli_errors
from room.compose import hydra_main
from room.learn._cli import dump, typed_config


def train_config(cfg: DictConfig):
    """The typed TrainConfig of a composed ``finetune_depth`` config."""
    from room.learn.train import TrainConfig

    return typed_config(TrainConfig, cfg)


@cli_errors
def run(cfg: DictConfig) -> None:
    """The command on a composed config (tests call it with the Compose API)."""
    from room.learn.train import train

    tc = train_config(cfg)
    record = train(tc)
    print(dump(record))
    print(f"checkpoints: {tc.out_dir}/checkpoints (last.pt, best.pt); log: {tc.out_dir}/"
          "train_log.jsonl")


main = hydra_main("finetune_depth")(run)

if __name__ == "__main__":
    main()
