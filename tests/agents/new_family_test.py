"""A new agent family plugs in through its own file and gin file only.

`toy_gaussian_agent.py` (a one-step Gaussian policy) is written against the agent seam alone; a
gin file imports it, and the unchanged binaries train it on bandit data, evaluate it with the
bandit suite and export it. No registration anywhere in cfgrl_tf.
"""

import json
import os

import numpy as np
import tensorflow as tf
from testutil import run_cli

from cfgrl_tf.eval.report import read_csv

HERE = os.path.dirname(os.path.abspath(__file__))


def _ok(result):
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout


def test_a_toy_agent_trains_evaluates_and_exports_through_the_cli(
    tiny_bandit_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("PYTHONPATH", HERE)  # where the user keeps their agent module
    gin_file = tmp_path / "toy.gin"
    gin_file.write_text(
        "import toy_gaussian_agent\n"
        "include 'bandit/common.gin'\n"
        "train.agent = @OneStepGaussianAgent\n"
        "OneStepGaussianAgent.temperature = 0.0\n"
    )
    run = str(tmp_path / "run")
    bindings = [
        f"train.dataset_dir = '{tiny_bandit_dir}'",
        "train.num_steps = 200",
        "train.steps_per_loop = 50",
        "BanditSuite.num_samples = 64",
    ]
    out = _ok(
        run_cli(
            "train",
            f"--gin_file={gin_file}",
            f"--root_dir={run}",
            *[f"--gin_bindings={b}" for b in bindings],
        )
    )
    assert "one_step_gaussian" in out and "near_data" in out  # the bandit suite's table
    rows = read_csv(os.path.join(run, "eval", "sweep.csv"))
    assert [(r["agent"], r["param"], r["num_samples"]) for r in rows] == [
        ("one_step_gaussian", "none", 64)
    ]
    # Maximum likelihood on 8 Gaussian modes puts the mean near the centre of the ring.
    assert rows[0]["mean_distance"] > 0.2

    _ok(run_cli("evaluate", f"--root_dir={run}", "--gin_bindings=BanditSuite.num_samples=32"))
    assert read_csv(os.path.join(run, "eval", "sweep.csv"))[0]["num_samples"] == 32

    _ok(run_cli("export", f"--root_dir={run}"))
    export_dir = os.path.join(run, "export", "200")
    with open(os.path.join(export_dir, "cfgrl_export.json")) as f:
        metadata = json.load(f)
    assert metadata["agent"] == "one_step_gaussian"
    assert metadata["signature"]["inputs"] == {
        "observations": [None, 1],
        "guidance_weight": [None],
        "seed": [],
    }
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    actions = serve(
        observations=tf.zeros([5, 1]),
        guidance_weight=tf.zeros([5]),
        seed=tf.constant(0, tf.int64),
    )["actions"].numpy()
    # Temperature 0: every row is the policy's mean, the same action for one observation.
    assert actions.shape == (5, 2)
    np.testing.assert_allclose(actions, np.broadcast_to(actions[0], actions.shape), atol=1e-6)
