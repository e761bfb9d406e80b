"""The binaries on an OGBench single-task run: convert -> train -> eval -> export, bad input."""

import json
import os
import re

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
    "OGBenchTaskSuite.episodes = 2",
    "OGBenchTaskSuite.max_episode_steps = 4",
]


def _ok(result):
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def _error_line(result):
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-4000:]
    assert "Traceback" not in result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error:")][-1]


def test_single_task_run_trains_evaluates_and_exports(tmp_path):
    npz = write_tiny_ogbench_npz(tmp_path / "pointmaze-medium-navigate-v0.npz")
    data = str(tmp_path / "data")
    converted = _ok(
        run_cli(
            "convert",
            "--gin_file=ogbench/convert_singletask.gin",
            f"--output_dir={data}",
            f"--gin_bindings=ogbench_singletask_source.path='{npz}'",
            "--gin_bindings=ogbench_singletask_source.task=2",
        )
    )
    assert "source ogbench/pointmaze-medium-navigate-singletask-task2-v0" in converted.stdout
    # Random walks never reach task 2's goal: said, not hidden.
    assert "never solves the task" in converted.stderr
    # IQL+AWR's gin file is trained and evaluated in-process by tests/gin_files_test.py.
    for agent, knob in (("cfgrl", "w"),):
        run = str(tmp_path / agent)
        stdout = _ok(
            run_cli(
                "train",
                f"--gin_file=ogbench_singletask/{agent}.gin",
                f"--root_dir={run}",
                f"--gin_bindings=train.dataset_dir='{data}'",
                *(f"--gin_bindings={b}" for b in _TINY),
            )
        ).stdout
        assert f"{agent} on pointmaze-medium-singletask-task2-v0 (task 2) at step 6" in stdout
        assert re.search(rf"^ *{knob}  success     se  return  episodes$", stdout, re.M)
        rows = read_csv(os.path.join(run, "eval", "sweep.csv"))
        assert all(r["task_id"] == 2 and r["episodes"] == 2 for r in rows)
        assert os.path.isfile(os.path.join(run, "eval", "rollouts.png"))
    # cfgrl-eval re-evaluates with other guidance weights.
    run = str(tmp_path / "cfgrl")
    _ok(
        run_cli(
            "evaluate",
            f"--root_dir={run}",
            "--gin_bindings=OGBenchTaskSuite.sweep_values=[1.0, 4.0]",
        )
    )
    assert [r["sweep_value"] for r in read_csv(os.path.join(run, "eval", "sweep.csv"))] == [
        1.0,
        4.0,
    ]
    # The export takes observations, guidance_weight and seed, and names its environment.
    _ok(run_cli("export", f"--root_dir={run}"))
    export_dir = os.path.join(run, "export", "6")
    with open(os.path.join(export_dir, "cfgrl_export.json")) as f:
        meta = json.load(f)
    assert meta["env_name"] == "pointmaze-medium-singletask-task2-v0"
    assert set(meta["signature"]["inputs"]) == {"observations", "guidance_weight", "seed"}
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    actions = serve(
        observations=tf.zeros([3, 2]),
        guidance_weight=tf.constant([1.0, 1.5, 3.0]),
        seed=tf.constant(1, tf.int64),
    )["actions"].numpy()
    assert actions.shape == (3, 2) and np.all(np.abs(actions) <= 1)
    # A goal-conditioned agent on single-task data, and a task the env lacks: one line each.
    line = _error_line(
        run_cli(
            "train",
            "--gin_file=ogbench/cfgrl.gin",
            f"--root_dir={tmp_path / 'wrong'}",
            f"--gin_bindings=train.dataset_dir='{data}'",
        )
    )
    assert "has no trajectories to draw goals from" in line
    line = _error_line(
        run_cli(
            "convert",
            "--gin_file=ogbench/convert_singletask.gin",
            f"--output_dir={tmp_path / 'bad'}",
            f"--gin_bindings=ogbench_singletask_source.path='{npz}'",
            "--gin_bindings=ogbench_singletask_source.task=6",
        )
    )
    assert "has no single-task task 6: its tasks are 1, 2, 3, 4, 5" in line
    assert not os.path.exists(tmp_path / "bad")
