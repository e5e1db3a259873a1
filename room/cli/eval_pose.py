"""``room-eval-pose``: ATE (after Sim(3) alignment) and RPE of trajectories, per sequence.

Examples::

    room-eval-pose gt=data/phantom                       # runs the VO baseline on every sequence
    room-eval-pose gt=data/phantom/p/seq_000 est=my_slam.txt
    room-eval-pose gt=gt_tum.txt est=est_tum.txt eval.alignment=se3
    room-eval-pose gt=data/phantom vo.method=essential vo.features=sift
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from room.cli.common import cli_errors
from room.compose import hydra_main
from room.learn._cli import out_dir


def pose_config(cfg: DictConfig):
    from room.config import to_dataclass
    from room.learn.pose_run import PoseRunConfig

    d = OmegaConf.to_container(cfg, resolve=True)
    d["out_dir"] = str(out_dir(cfg.get("out_dir")))
    return to_dataclass(PoseRunConfig, d)


@cli_errors
def run(cfg: DictConfig) -> None:
    """The command on a composed config (tests call it with the Compose API)."""
    from room.learn.pose_run import format_pose_table, run_pose_eval

    pc = pose_config(cfg)
    report = run_pose_eval(pc)
    print(format_pose_table(report))
    print(f"report: {pc.out_dir}/pose_eval.json")


main = hydra_main("eval_pose")(run)

if __name__ == "__main__":
    main()
