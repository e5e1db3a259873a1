"""Strip outputs and execution counts from notebooks before committing them:
``python -m room.viz.nbstrip notebooks/*.ipynb``."""

from __future__ import annotations

import sys


def strip(path: str) -> bool:
    """Remove outputs, execution counts and per-cell execution metadata; True if changed."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    after = nbformat.writes(nb)
    if after != before:
        nbformat.write(nb, path)
    return after != before


def main(argv: list[str] | None = None) -> None:
    for p in argv if argv is not None else sys.argv[1:]:
        if strip(p):
            print(f"stripped {p}")


if __name__ == "__main__":
    main()
