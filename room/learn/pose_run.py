"""Pose evaluation runs: ground truth from a dataset (or a TUM file) vs an estimate (TUM file)
or the VO baseline, per sequence, with a JSON report (what room-eval-pose does)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from room.errors import ConfigError, InputFileError
from room.learn.pose import PoseEvalConfig, associate, evaluate_poses, read_tum, write_tum
from room.learn.vo import VOConfig, run_vo


@dataclass(frozen=True)
class PoseRunConfig:
    """gt: dataset folder (all its sequences), one sequence folder, or a TUM file. est: a TUM
    file, a folder of ``<sequence>.txt`` TUM files, or None to run the VO baseline (needs a
    dataset ``gt``); its estimates are written to ``out_dir/<sequence>.txt``."""

    gt: str = ""
    est: str | None = None
    out_dir: str = "."
    eval: PoseEvalConfig = field(default_factory=PoseEvalConfig)
    vo: VOConfig = field(default_factory=VOConfig)
    progress: bool = True


@dataclass(frozen=True)
class PoseArgs(PoseRunConfig):
    """``room-eval-pose``'s settings (schema of ``conf/eval_pose.yaml``): a
    :class:`PoseRunConfig` with a required ``gt``; ``out_dir`` None: Hydra's run folder."""

    gt: str = "???"  # required: dataset folder, sequence folder or TUM file
    out_dir: str | None = None


def _gt_sequences(gt: Path) -> list[Path] | None:
    """Sequence folders of a dataset ``gt``; None when ``gt`` is a TUM file."""
    if gt.is_file():
        return None
    if not gt.exists():
        raise InputFileError(f"gt={gt} does not exist; give a dataset/sequence folder or a "
                             "TUM file")
    from room.data.reader import find_sequences

    seqs = find_sequences(gt)
    if not seqs:
        raise InputFileError(f"no room sequences under {gt}")
    return seqs


def _seq_name(seq: Path) -> str:
    return f"{seq.parent.name}_{seq.name}"


def _vo_on_sequence(seq: Path, cfg: PoseRunConfig) -> tuple[np.ndarray, np.ndarray, dict]:
    from tqdm.auto import tqdm

    from room.data.reader import SequenceReader

    r = SequenceReader(seq)
    frames = (r.read(i, ("rgb", "depth")) for i in tqdm(range(len(r)), desc=seq.name,
                                                          disable=not cfg.progress, leave=False))
    poses, info = run_vo(((f["rgb"], f["depth"]) for f in frames), r.intrinsics, r.poses[0],
                         cfg.vo)
    return r.times, poses, info


def run_pose_eval(cfg: PoseRunConfig) -> dict[str, Any]:
    """Evaluate every sequence; writes ``pose_eval.json`` (and VO estimates) in ``out_dir``."""
    if not cfg.gt:
        raise ConfigError("gt is required: gt=DATASET_DIR, a sequence folder, or a TUM file")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gt = Path(cfg.gt).expanduser()
    seqs = _gt_sequences(gt)
    results: dict[str, Any] = {}
    if seqs is None:  # a TUM ground truth
        if not cfg.est:
            raise ConfigError("with a TUM ground truth, give est=FILE (the VO baseline needs "
                              "RGB and depth: pass a dataset folder as gt)")
        seqs_items = [(gt.stem, read_tum(gt), Path(cfg.est))]
    else:
        from room.data.reader import SequenceReader

        seqs_items = []
        for s in seqs:
            r = SequenceReader(s)
            est = None
            if cfg.est:
                e = Path(cfg.est).expanduser()
                est = e / f"{_seq_name(s)}.txt" if e.is_dir() else e
                if e.is_dir() and not est.is_file():
                    est = e / f"{s.name}.txt"
            seqs_items.append((_seq_name(s), (r.times, r.poses), est if est else s))
        if cfg.est and not Path(cfg.est).is_dir() and len(seqs_items) > 1:
            raise ConfigError(f"est={cfg.est} is one file but gt holds {len(seqs_items)} "
                              "sequences; give gt=<one sequence folder> or est=<folder>")
    for name, (tg, pg), src in seqs_items:
        if src.is_dir():  # run the VO baseline on this sequence
            te, pe, info = _vo_on_sequence(src, cfg)
            write_tum(out / f"{name}.txt", te, pe)
            extra = {"estimate": str(out / f"{name}.txt"), "vo": {k: info[k] for k in
                                                                 ("pairs", "failed_pairs")}}
        else:
            te, pe = read_tum(src)
            extra = {"estimate": str(src)}
        ig, ie = associate(tg, te, cfg.eval.max_time_diff)
        if len(ig) < 3:
            raise InputFileError(f"{name}: only {len(ig)} estimated timestamps match the ground "
                                 f"truth within {cfg.eval.max_time_diff} s")
        results[name] = {**evaluate_poses(pg[ig], pe[ie], cfg.eval), **extra,
                         "matched": int(len(ig)), "gt_frames": int(len(tg))}
    report = {"gt": str(gt), "alignment": cfg.eval.alignment, "sequences": results,
              "mean_ate_rmse_m": float(np.mean([r["ate_m"]["rmse"] for r in results.values()])),
              "mean_rpe_trans_rmse_m": float(np.mean([r["rpe_trans_m"]["rmse"]
                                                      for r in results.values()])),
              "mean_rpe_rot_rmse_deg": float(np.mean([r["rpe_rot_deg"]["rmse"]
                                                      for r in results.values()]))}
    (out / "pose_eval.json").write_text(json.dumps(report, indent=1))
    return report


def format_pose_table(report: dict[str, Any]) -> str:
    head = (f"{'sequence':<32}{'frames':>7}{'ATE rmse [mm]':>15}{'RPE t rmse [mm]':>17}"
            f"{'RPE r rmse [deg]':>18}")
    lines = [head, "-" * len(head)]
    for name, r in report["sequences"].items():
        lines.append(f"{name[-32:]:<32}{r['matched']:>7}{1e3 * r['ate_m']['rmse']:>15.3f}"
                     f"{1e3 * r['rpe_trans_m']['rmse']:>17.3f}{r['rpe_rot_deg']['rmse']:>18.3f}")
    return "\n".join(lines)
