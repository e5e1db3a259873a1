"""The three learn CLIs end to end on tube datasets written with room's own writer (read back
by room.data.reader), plus config composition and clear errors on bad input. Most runs go
in-process through the Compose API (importing torch in a subprocess costs seconds); one
subprocess per CLI checks the Hydra entry point and the exit status."""

import json

import pytest

pytest.importorskip("torch")

from hydra import compose, initialize_config_dir  # noqa: E402

from room.paths import REPO_ROOT  # noqa: E402

from . import synth  # noqa: E402


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("tube_ds")
    synth.write_dataset(root / "train", 2, 10, seed=0, size=32)
    synth.write_dataset(root / "val", 1, 6, seed=1, size=32)
    synth.write_dataset(root / "straight", 1, 12, seed=2, size=128, straight=True)
    return root


def _compose(name, *overrides):
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base=None):
        return compose(name, list(overrides))


def test_configs_compose(datasets):
    from room.cli.eval_depth import eval_config
    from room.cli.eval_pose import pose_config
    from room.cli.finetune_depth import train_config

    for arch in ("unet", "depth_anything", "dpt"):
        cfg = _compose("finetune_depth", f"learn/model@model={arch}", "train=[a,b]", "val=c",
                       "out_dir=x")
        tc = train_config(cfg)
        assert tc.model.arch == arch and tc.data.train == ("a", "b") and tc.data.val == ("c",)
    tc = train_config(_compose("finetune_depth", f"root={datasets / 'train'}", "out_dir=x",
                               "data.fractions=[0.5,0.5,0]"))
    from room.learn.data import make_splits

    splits = make_splits(tc.data)  # sequence-level split of one root
    assert [len(splits[k]) for k in ("train", "val", "test")] == [1, 1, 0]
    ec = eval_config(_compose("eval_depth", "checkpoint=c.pt", "root=r", "out_dir=x"))
    assert ec.data.root == "r" and ec.split == "test"
    pc = pose_config(_compose("eval_pose", "gt=g", "out_dir=x"))
    assert pc.vo.method == "pnp" and pc.vo.features == "sift" and pc.eval.alignment == "sim3"


@pytest.mark.slow
def test_finetune_resume_and_eval(datasets, tmp_path, run_cli):
    from room.cli.finetune_depth import run

    out = tmp_path / "run"
    args = [f"train={datasets / 'train'}", f"val={datasets / 'val'}", f"out_dir={out}",
            "data.size=[32,32]", "progress=false", "batch_size=4", "model.base_channels=8",
            "model.levels=3"]
    run(_compose("finetune_depth", *args, "epochs=1"))
    run(_compose("finetune_depth", *args, "epochs=2"))  # resumes the same folder
    log = [json.loads(x) for x in (out / "train_log.jsonl").open()]
    assert [x["kind"] for x in log if x["kind"] != "step"] == ["start", "epoch", "resume",
                                                                  "epoch"]
    r = run_cli("room.cli.eval_depth", f"checkpoint={out / 'checkpoints' / 'last.pt'}",
                f"test={datasets / 'val'}", f"out_dir={tmp_path / 'eval'}")
    assert r.returncode == 0, r.stderr
    assert "ALL" in r.stdout and "baseline" in r.stdout
    rep = json.loads((tmp_path / "eval" / "depth_eval.json").read_text())
    assert rep["overall"]["frames"] == 6 and rep["input_size"] == [32, 32]
    assert set(rep["per_sequence"]) == {"tube/seq_000"}
    assert (tmp_path / "eval" / "depth_eval.png").stat().st_size > 2000


def test_eval_pose_vo_and_files(datasets, tmp_path, run_cli):
    from room.cli.eval_pose import run

    run(_compose("eval_pose", f"gt={datasets / 'straight'}", f"out_dir={tmp_path}",
                 "progress=false", "vo.features=orb"))
    rep = json.loads((tmp_path / "pose_eval.json").read_text())
    (name,) = rep["sequences"]
    # straight 11 mm run down the analytic tube, PnP on GT depth: measured ATE ~0.15 mm
    assert rep["sequences"][name]["ate_m"]["rmse"] < 1e-3
    est = tmp_path / f"{name}.txt"
    gt_tum = datasets / "straight" / "tube" / "seq_000" / "poses_tum.txt"
    r = run_cli("room.cli.eval_pose", f"gt={gt_tum}", f"est={est}", f"out_dir={tmp_path / 'b'}")
    assert r.returncode == 0, r.stderr
    rep2 = json.loads((tmp_path / "b" / "pose_eval.json").read_text())
    assert rep2["mean_ate_rmse_m"] == pytest.approx(rep["mean_ate_rmse_m"], abs=1e-9)


def test_errors_are_clear(tmp_path, run_cli, capsys):
    from room.cli import eval_depth, eval_pose, finetune_depth

    cases = [(eval_depth.run, "eval_depth", [f"checkpoint={tmp_path / 'none.pt'}", "test=."],
              "checkpoint"),
             (finetune_depth.run, "finetune_depth", [f"train={tmp_path / 'missing'}"],
              "does not exist"),
             (finetune_depth.run, "finetune_depth", ["model.arch=resnet", "train=."], "arch"),
             (eval_pose.run, "eval_pose", [f"gt={tmp_path / 'missing'}"], "does not exist")]
    for fn, name, args, msg in cases:
        with pytest.raises(SystemExit) as e:
            fn(_compose(name, *args, f"out_dir={tmp_path}"))
        assert e.value.code == 2 and msg in capsys.readouterr().err
    # the entry point itself: exit status 2, the message, no traceback (eval_pose: no torch
    # import, a quick subprocess)
    r = run_cli("room.cli.eval_pose", f"gt={tmp_path / 'missing'}", f"out_dir={tmp_path}")
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr
