"""``room-generate``: a multi-modal bronchoscopy dataset from the configured scene.

    room-generate                         # built-in phantom, small dataset in ./room_dataset
    room-generate out=/data/ds scene=...  # any setting as a Hydra override
    room-generate -m seed=0,1,2 hydra/launcher=joblib   # sweeps, local parallelism

Rerunning the same command resumes interrupted sequences and skips finished ones.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from omegaconf import DictConfig

from room.compose import hydra_main


def _run(cfg: DictConfig) -> dict:
    import logging

    from hydra.core.hydra_config import HydraConfig

    logging.getLogger("OpenGL").setLevel(logging.WARNING)  # "no OpenGL_accelerate" chatter

    from room.data.generate import generate_dataset, job_from_config

    job = job_from_config(cfg)
    summary = generate_dataset(job)
    try:  # wall-clock timings live beside Hydra's logs, never inside the dataset
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        (run_dir / "run.json").write_text(json.dumps(summary, indent=1))
    except (ValueError, OSError):
        pass
    done = summary["frames_total"]
    print(
        f"room-generate: {done} frames in {summary['sequences']} sequence(s) "
        f"({summary['frames_written']} rendered now, {summary['sequences_skipped']} sequence(s) "
        f"already complete) in {summary['seconds']:.1f} s "
        f"({summary['fps']:.2f} frames/s, scene {summary['scene_seconds']:.1f} s)\n"
        f"  dataset: {Path(summary['out']).resolve() / summary['scene']}\n"
        f"  check it: room-validate {Path(summary['out']).resolve()}",
        flush=True,
    )
    return summary


@hydra_main("generate")
def _main(cfg: DictConfig) -> dict:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from room.errors import RoomError

    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN and hc.launcher.get("n_jobs", 1) != 1:
        from room.data.generate import parallel_worker

        parallel_worker()  # one rasterizer thread each, frames written in the foreground
    try:
        return _run(cfg)
    except RoomError as e:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # the launcher reports the failed job
        print(f"room-generate: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)


def repeated_sweep_values(args: list[str]) -> list[str]:
    """The sweep overrides of a ``-m`` command line that list a value twice (``seed=0,0``),
    as ``"seed=0,0 (repeats 0)"``; such a sweep would run two identical jobs that write the
    same folders at once. Empty when not a multirun or nothing repeats."""
    if not {"-m", "--multirun"} & set(args):
        return []
    from hydra.core.override_parser.overrides_parser import OverridesParser

    bad = []
    for arg in args:
        if arg.startswith("-") or "=" not in arg:
            continue
        try:
            (o,) = OverridesParser.create().parse_overrides([arg])
            if not (o.is_sweep_override() and o.is_discrete_sweep()):
                continue
            values = [repr(v) for v in getattr(o.value(), "list", None)
                      or list(o.sweep_string_iterator())]
        except Exception:  # noqa: BLE001 - Hydra itself reports malformed overrides
            continue
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            bad.append(f"{arg} (repeats {', '.join(twice)})")
    return bad


def main() -> None:
    from room.errors import ConfigError

    repeated = repeated_sweep_values(sys.argv[1:])
    if repeated:
        e = ConfigError(
            "the sweep repeats a value: " + "; ".join(repeated) + ". Two jobs with the same "
            "settings would write the same dataset folders at once; list each value once")
        print(f"room-generate: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    _main()


if __name__ == "__main__":
    main()
