"""The binaries end to end, as a user runs them: convert -> train -> resume -> eval -> export,
and the bad inputs that must stop with one clear line and leave finished work untouched."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from testutil import run_cli, user_error

from cfgrl_tf.eval.report import read_csv

_TINY = [
    "train.num_steps = 40",
    "train.steps_per_loop = 20",
    "train.log_interval = 20",
    "train.checkpoint_interval = 20",
    "train.batch_size = 32",
    "IQLCritic.hidden_dims = (16,)",
    "CFGRLAgent.hidden_dims = (32,)",
    "BanditSuite.num_samples = 100",
]


def _run(binary, *args):
    return run_cli(binary, *args)


def _ok(result):
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout


def _bindings(*bindings):
    return [f"--gin_bindings={b}" for b in bindings]


def _snapshot(folder):
    return {
        os.path.relpath(os.path.join(d, f), folder): open(os.path.join(d, f), "rb").read()
        for d, _, files in os.walk(folder)
        for f in files
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A dataset and a 40-step CFGRL run made by the binaries."""
    root = tmp_path_factory.mktemp("cli")
    data = str(root / "data")
    _ok(
        _run(
            "convert",
            "--gin_file=bandit/diffusion_ql.gin",
            "--gin_bindings=bandit_source.num_samples = 400",
            f"--output_dir={data}",
        )
    )
    run = str(root / "run")
    train_args = [
        "--gin_file=bandit/cfgrl.gin",
        *_bindings(f"train.dataset_dir = '{data}'", *_TINY),
        f"--root_dir={run}",
    ]
    stdout = _ok(_run("train", *train_args))
    return {"root": root, "data": data, "run": run, "train_args": train_args, "stdout": stdout}


def test_train_writes_the_run_directory(trained):
    run = trained["run"]
    for name in ("config.gin", "operative_config.gin", "flags.json", "train/metrics.csv"):
        assert os.path.isfile(os.path.join(run, name)), name
    assert tf.train.latest_checkpoint(os.path.join(run, "checkpoints")).endswith("ckpt-40")
    assert any(f.startswith("events.out") for f in os.listdir(os.path.join(run, "train")))
    with open(os.path.join(run, "flags.json")) as f:
        flags = json.load(f)
    assert flags["root_dir"] == run and flags["gin_file"] == ["bandit/cfgrl.gin"]
    with open(os.path.join(run, "operative_config.gin")) as f:
        assert "CFGRLAgent.label_dropout = 0.1" in f.read()
    # The progress lines a user watches, and the end-of-training evaluation.
    assert "step 40/40 (100%)" in trained["stdout"]
    rows = read_csv(os.path.join(run, "eval", "sweep.csv"))
    assert [r["value"] for r in rows] == [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0]
    assert {r["agent"] for r in rows} == {"cfgrl"} and {r["dataset"] for r in rows} == {
        "diffusion_ql"
    }
    with open(os.path.join(run, "eval", "samples.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # Without train.eval_interval, no evaluation during training and no curve.
    assert not {"curve.csv", "selection.json", "steps"} & set(os.listdir(os.path.join(run, "eval")))


def test_rerunning_the_same_command_resumes_and_trains_nothing_more(trained):
    ckpt = os.path.join(trained["run"], "checkpoints")
    before = _snapshot(ckpt)
    stdout = _ok(_run("train", *trained["train_args"]))
    assert "is finished (step 40 of 40)" in stdout
    assert _snapshot(ckpt) == before


def test_eval_binary_rewrites_the_sweep_with_new_settings(trained):
    stdout = _ok(
        _run(
            "evaluate",
            f"--root_dir={trained['run']}",
            "--gin_bindings=BanditSuite.sweep_values = [1.0, 4.0]",
        )
    )
    assert "Evaluating cfgrl at step 40" in stdout
    rows = read_csv(os.path.join(trained["run"], "eval", "sweep.csv"))
    assert [r["value"] for r in rows] == [1.0, 4.0]


def test_export_then_refuse_to_overwrite(trained):
    run = trained["run"]
    stdout = _ok(_run("export", f"--root_dir={run}"))
    export_dir = os.path.join(run, "export", "40")
    assert export_dir in stdout
    model = tf.saved_model.load(export_dir)
    out = model.signatures["serving_default"](
        observations=tf.zeros([5, 1]),
        guidance_weight=tf.fill([5], 3.0),
        seed=tf.constant(0, tf.int64),
    )
    assert out["actions"].shape == (5, 2) and np.all(np.abs(out["actions"].numpy()) <= 1)
    with open(os.path.join(export_dir, "cfgrl_export.json")) as f:
        meta = json.load(f)
    assert meta["agent"] == "cfgrl" and meta["step"] == 40 and meta["action_scale"] == 1.0

    before = _snapshot(export_dir)
    line = user_error(_run("export", f"--root_dir={run}"))
    assert export_dir in line and "already exists" in line
    assert _snapshot(export_dir) == before


def test_export_of_a_run_without_checkpoint_names_the_folder(trained, tmp_path):
    run = str(tmp_path / "empty_run")
    os.makedirs(run)
    with open(os.path.join(trained["run"], "config.gin")) as f:
        config = f.read()
    with open(os.path.join(run, "config.gin"), "w") as f:
        f.write(config)
    line = user_error(_run("export", f"--root_dir={run}"))
    assert "no checkpoint in" in line and os.path.join(run, "checkpoints") in line


def test_export_of_a_folder_that_is_no_run(tmp_path):
    line = user_error(_run("export", f"--root_dir={tmp_path}"))
    assert "config.gin" in line and "cfgrl-train" in line


def test_unknown_gin_binding_is_named(trained, tmp_path):
    line = user_error(
        _run(
            "train",
            "--gin_file=bandit/cfgrl.gin",
            "--gin_bindings=CFGRLAgent.guidance_scale = 3.0",
            f"--root_dir={tmp_path / 'run'}",
        )
    )
    assert "guidance_scale" in line and "CFGRLAgent" in line


def test_missing_dataset_is_named(tmp_path):
    missing = str(tmp_path / "nowhere")
    line = user_error(
        _run(
            "train",
            "--gin_file=bandit/cfgrl.gin",
            *_bindings(f"train.dataset_dir = '{missing}'", *_TINY),
            f"--root_dir={tmp_path / 'run'}",
        )
    )
    assert missing in line and "does not exist" in line


def test_negative_eval_interval_is_named_before_anything_is_loaded(trained, tmp_path):
    run = tmp_path / "run"
    line = user_error(
        _run(
            "train",
            "--gin_file=bandit/cfgrl.gin",
            *_bindings(f"train.dataset_dir = '{trained['data']}'", "train.eval_interval = -5"),
            f"--root_dir={run}",
        )
    )
    assert "train.eval_interval = -5 must be >= 0" in line
    assert not run.exists()


def test_missing_required_binding_is_named(tmp_path):
    line = user_error(
        _run("train", "--gin_file=bandit/cfgrl.gin", f"--root_dir={tmp_path / 'run'}")
    )
    assert "dataset_dir" in line
