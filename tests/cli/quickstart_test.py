"""The README's main job, shrunk: cfgrl-quickstart with a tiny dataset, run and evaluation."""

import os

from testutil import run_cli

from cfgrl_tf.eval.report import read_csv

_TINY = [
    "--num_episodes=2",
    "--num_steps=4",
    "--episodes_per_task=1",
    "--gin_bindings=train.steps_per_loop = 2",
    "--gin_bindings=train.batch_size = 16",
    "--gin_bindings=HIDDEN_DIMS = (16,)",
    "--gin_bindings=OGBenchGoalSuite.task_ids = (1, 2)",
    "--gin_bindings=OGBenchGoalSuite.max_episode_steps = 5",
]


def test_quickstart_generates_converts_trains_and_sweeps_w(tmp_path):
    root = str(tmp_path / "qs")
    result = run_cli("quickstart", f"--root_dir={root}", *_TINY, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = os.path.join(root, "runs", "pointmaze-medium-navigate-v0", "cfgrl")
    rows = read_csv(os.path.join(run_dir, "eval", "sweep.csv"))
    overall = [r["sweep_value"] for r in rows if r["task_id"] == "overall"]
    assert overall == [0.5, 1.0, 1.25, 1.5, 2.0, 3.0]
    assert os.path.getsize(os.path.join(run_dir, "eval", "success.png")) > 1000
    # The table and the plot's path are printed.
    assert "overall" in result.stdout and "task1" in result.stdout
    # Flat and hierarchical CFGRL both ran; the summary table, its checks and the plot's path.
    assert os.path.exists(os.path.join(os.path.dirname(run_dir), "hcfgrl", "eval", "sweep.csv"))
    assert "check: cfgrl: best w>1 is" in result.stdout
    assert "check: hcfgrl: best w>1 is" in result.stdout
    assert os.path.join(root, "quickstart_pointmaze-medium-navigate-v0.png") in result.stdout
    raw = os.path.join(root, "raw", "pointmaze-medium-navigate-v0.npz")
    assert os.path.exists(raw)
    # Re-running reuses the dataset.
    again = run_cli("quickstart", f"--root_dir={root}", *_TINY, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "[data] reusing" in again.stdout


def test_quickstart_refuses_an_unknown_dataset(tmp_path):
    result = run_cli("quickstart", f"--root_dir={tmp_path}", "--dataset=antmaze-huge-v9")
    assert result.returncode == 2
    assert "cannot be generated here" in result.stderr
