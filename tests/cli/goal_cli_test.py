"""The binaries on a goal-conditioned (OGBench) run: train -> eval -> export, and bad input."""

import json
import os

import numpy as np
import tensorflow as tf
from testutil import run_cli, write_tiny_ogbench_npz

from cfgrl_tf.eval.report import read_csv

_TINY = [
    "train.num_steps = 6",
    "train.steps_per_loop = 3",
    "train.log_interval = 3",
    "train.checkpoint_interval = 3",
    "train.batch_size = 16",
    "HIDDEN_DIMS = (16,)",
    "OGBenchGoalSuite.task_ids = (1, 3)",
    "OGBenchGoalSuite.episodes_per_task = 1",
    "OGBenchGoalSuite.max_episode_steps = 4",
]


def _ok(result):
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout


def _error_line(result):
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-4000:]
    assert "Traceback" not in result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error:")][-1]


def test_goal_run_trains_evaluates_and_exports(tmp_path):
    npz = write_tiny_ogbench_npz(tmp_path / "pointmaze-medium-navigate-v0.npz")
    data = str(tmp_path / "data")
    _ok(
        run_cli(
            "convert",
            "--gin_file=ogbench/convert.gin",
            f"--output_dir={data}",
            f"--gin_bindings=ogbench_source.path='{npz}'",
        )
    )
    run = str(tmp_path / "run")
    stdout = _ok(
        run_cli(
            "train",
            "--gin_file=ogbench/hcfgrl.gin",
            f"--root_dir={run}",
            f"--gin_bindings=train.dataset_dir='{data}'",
            *(f"--gin_bindings={b}" for b in _TINY),
        )
    )
    assert "hcfgrl on pointmaze-medium-v0 at step 6" in stdout
    rows = read_csv(os.path.join(run, "eval", "sweep.csv"))
    assert {str(r["task_id"]) for r in rows} == {"overall", "1", "3"}
    # cfgrl-eval re-evaluates the checkpoint with other settings.
    again = _ok(
        run_cli(
            "evaluate",
            f"--root_dir={run}",
            "--gin_bindings=OGBenchGoalSuite.sweep_values = [1.0, 4.0]",
        )
    )
    assert "Evaluating hcfgrl at step 6" in again
    overall = [
        r for r in read_csv(os.path.join(run, "eval", "sweep.csv")) if r["task_id"] == "overall"
    ]
    assert [r["sweep_value"] for r in overall] == [1.0, 4.0]
    # The export takes goals, and says which env and goal representation it expects.
    _ok(run_cli("export", f"--root_dir={run}"))
    export_dir = os.path.join(run, "export", "6")
    with open(os.path.join(export_dir, "cfgrl_export.json")) as f:
        meta = json.load(f)
    assert meta["env_name"] == "pointmaze-medium-v0" and meta["goal_key"] == "observations"
    assert meta["signature"]["inputs"]["goals"] == [None, 2]
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    actions = serve(
        observations=tf.zeros([3, 2]),
        goals=tf.ones([3, 2]),
        guidance_weight=tf.constant([1.0, 1.5, 3.0]),
        seed=tf.constant(1, tf.int64),
    )["actions"].numpy()
    assert actions.shape == (3, 2) and np.all(np.abs(actions) <= 1)
    # A bandit agent on a goal-conditioned dataset is refused with one line.
    line = _error_line(
        run_cli(
            "train",
            "--gin_file=bandit/cfgrl.gin",
            f"--root_dir={tmp_path / 'wrong'}",
            f"--gin_bindings=train.dataset_dir='{data}'",
        )
    )
    assert "agent CFGRLAgent trains on rewards, but the dataset" in line
    # Videos are refused for a bandit-style request without a renderer setting, cleanly.
    video = run_cli("evaluate", f"--root_dir={run}", f"--video_dir={tmp_path / 'v'}")
    if video.returncode:
        assert "renderer" in _error_line(video)
