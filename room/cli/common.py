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


def register_configs() -> None:
    """Register the generated base configs in Hydra's ConfigStore (idempotent).

    ``scene/base_scene`` holds every SceneConfig field with its default, generated from the
    dataclass, so YAML presets (``defaults: [base_scene]``) list only what they change and every
    field can be overridden on the command line (``scene.mesh.target_faces=...``). Call it
    before ``@hydra.main`` composes (at CLI module import) and before the Compose API.
    """
    from hydra.core.config_store import ConfigStore

    from room.anatomy.prepare import SceneConfig
    from room.config import asdict

    ConfigStore.instance().store(group="scene", name="base_scene", node=asdict(SceneConfig()))
