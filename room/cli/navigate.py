"""``room-navigate out=DIR``: run the navigation benchmark (navigators x targets x seeds) on a
scene, write ``DIR/results.json`` and ``DIR/results.png`` and print a success table.
Settings: conf/navigate.yaml (``room.nav.suite.NavigateConfig``), e.g.
``navigators=[follower,mpc_gt] generations=[1,2,3] seeds=2 scene=carina_crop``;
``hydra/launcher=joblib -m seed=0,1`` runs suites in parallel,
``jobs=N`` spreads one suite's trials over N processes (joblib)."""

from __future__ import annotations

from omegaconf import DictConfig

from room.cli.common import cli_errors
from room.compose import hydra_main


@hydra_main("navigate")
@cli_errors
def main(cfg: DictConfig) -> None:
    from room.config import to_dataclass
    from room.nav.suite import NavigateConfig, run_suite, table

    nc = to_dataclass(NavigateConfig, cfg)
    results = run_suite(nc)
    print(table(results))
    print(f"results: {nc.out}/results.json (plot: {nc.out}/results.png)")


if __name__ == "__main__":
    main()
