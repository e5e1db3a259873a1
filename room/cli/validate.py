"""``room-validate DIR``: check a dataset (completeness, encodings, ground-truth consistency).

Exit status 0 only when every sequence under DIR is valid; 1 with a report otherwise; 2 when
DIR is not a readable dataset. Settings: ``room-validate DIR check_every=1 scene_dir=...``.
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from room.cli.common import run_with_positional_path
from room.compose import hydra_main


@hydra_main("validate")
def _main(cfg: DictConfig) -> None:
    from room.config import to_dataclass
    from room.data.validate import ValidateConfig, validate_dataset
    from room.errors import RoomError

    try:
        vc = to_dataclass(ValidateConfig, cfg)
        if not vc.path:
            raise RoomError("usage: room-validate DIR (the dataset folder given to "
                            "room-generate out=DIR)")
        report = validate_dataset(vc.path, vc)
    except RoomError as e:
        print(f"room-validate: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    print(report.text())
    sys.exit(0 if report.ok else 1)


def main() -> None:
    run_with_positional_path(_main)


if __name__ == "__main__":
    main()
