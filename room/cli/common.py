"""Helpers shared by the command-line entry points (Hydra mains live in room/cli/ only)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from room.errors import RoomError

F = TypeVar("F", bound=Callable[..., Any])

INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, as shells report Ctrl-C


def cli_errors(fn: F) -> F:
    """Run a CLI body; a :class:`RoomError` prints ``error: <message>`` to stderr and exits with
    its ``exit_code`` (no traceback: the message says what is wrong and what to do); Ctrl-C
    exits with 130. Put it *under* ``@hydra.main`` so Hydra never sees these exceptions."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RoomError as e:
            print(f"error: {e}", file=sys.stderr, flush=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr, flush=True)
            sys.exit(INTERRUPTED_EXIT_CODE)

    return wrapper  # type: ignore[return-value]


def run_with_positional_path(hydra_main: Callable[[], Any]) -> None:
    """Run a Hydra main so that ``room-xxx DIR key=value ...`` works: a bare first argument
    becomes the override ``path=DIR``, and Hydra writes no run folder or logs (these commands
    only read a dataset and write beside it)."""
    args = sys.argv[1:]
    if args and "=" not in args[0] and not args[0].startswith("-"):
        args = [f"path={args[0]}", *args[1:]]
    sys.argv = [sys.argv[0], "hydra.run.dir=.", "hydra.output_subdir=null",
                "hydra/job_logging=disabled", "hydra/hydra_logging=disabled", *args]
    hydra_main()
