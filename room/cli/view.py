"""``room-view DIR``: write ``contact_sheet.png`` and ``view.mp4`` (RGB, depth, normals, flow
with its colour wheel, segmentation, trajectory on the centerline tree) for each sequence of a
dataset folder, or for one sequence folder.

Hydra CLI like the others; a bare first argument is the folder (``path=DIR``), further
settings are ``key=value`` overrides of conf/view.yaml (``out=DIR frames=8 size=160``).
Exit status: 0 when written, 2 when DIR is not a dataset or a setting is wrong.
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from room.cli.common import run_with_positional_path
from room.compose import hydra_main


@hydra_main("view")
def _main(cfg: DictConfig) -> None:
    from room.config import to_dataclass
    from room.errors import RoomError
    from room.viz.view import ViewConfig, view_dataset

    try:
        files = view_dataset(to_dataclass(ViewConfig, cfg))
    except RoomError as e:
        print(f"room-view: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    for f in files:
        print(f)


def main() -> None:
    run_with_positional_path(_main)


if __name__ == "__main__":
    main()
