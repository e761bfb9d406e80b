"""The DeepMind Control suite: chosen for ExORL datasets, scored by return; its files, scalars."""

from __future__ import annotations

import glob
import math
import os
import subprocess
import sys

import gin
import numpy as np
import pytest
import tensorflow as tf
from testutil import REPO_ROOT

from cfgrl_tf.data import spec
from cfgrl_tf.errors import UserError
from cfgrl_tf.eval import curve, dmc, report, returns, suites
from cfgrl_tf.policy import Policy
from cfgrl_tf.sweep import Sweep

TASK = "walker_walk"
WEIGHTS = (0.0, 1.0)
EPISODES = 2
STEPS = 20
STEP = 7
GAIN = np.random.default_rng(0).normal(size=(24, 6)).astype(np.float32)


def _info(env_name: str = TASK) -> spec.DatasetInfo:
    """dataset_info.json of an ExORL walker dataset as `exorl_source` describes it."""
    return spec.DatasetInfo(
        format_version=spec.FORMAT_VERSION,
        features=spec.transition_features(24, 6),
        shards=[],
        source={
            "name": f"exorl/rnd/{env_name}",
            "env_name": env_name,
            "domain": "walker",
            "task": env_name.split("_", 1)[1],
        },
        labels={},
        action_scale=1.0,
    )


def _policy(sweep: Sweep) -> Policy:
    """Untrained: w times a fixed linear map, squashed (w = 0 gives zero actions)."""

    def sample(inputs, knob_values, seed):
        del seed
        return tf.tanh(knob_values[:, None] * tf.matmul(inputs["observations"], GAIN))

    return Policy(
        name="linear",
        inputs={"observations": 24},
        action_dim=6,
        sweep=sweep,
        sample_fn=sample,
        networks={},
    )


def _scalars(directory: str) -> dict[str, tuple[int, float]]:
    out = {}
    for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                out[value.tag] = (event.step, float(tf.make_ndarray(value.tensor)))
    return out


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("run"))
    gin.clear_config()
    gin.parse_config([f"DMCSuite.episodes = {EPISODES}", f"DMCSuite.max_episode_steps = {STEPS}"])
    try:
        suite = suites.suite_for(_info())
        data = suites.EvalData("unused", _info())
        rows = suites.evaluate(_policy(Sweep("guidance_weight", WEIGHTS)), data, root, STEP)
    finally:
        gin.clear_config()
    return suite, rows, root


def test_exorl_datasets_get_the_dmc_suite_with_its_gin_bindings(evaluated):
    suite, _, _ = evaluated
    assert type(suite) is dmc.DMCSuite
    assert (suite.episodes, suite.max_episode_steps) == (EPISODES, STEPS)
    assert (suite.score_metric, suite.knob_column, suite.inputs) == (
        "return",
        "sweep_value",
        ("observations",),
    )


def test_sweep_csv_has_one_row_per_knob_value_summing_episodes_csv(evaluated):
    _, rows, root = evaluated
    out = report.eval_dir(root)
    assert report.read_csv(os.path.join(out, "sweep.csv")) == rows
    assert [(r["sweep_value"], r["task_id"], r["episodes"]) for r in rows] == [
        (w, TASK, EPISODES) for w in WEIGHTS
    ]
    per_episode = report.read_csv(os.path.join(out, "episodes.csv"))
    assert list(per_episode[0]) == ["sweep_value", "task_id", "episode", "length", "return"]
    assert len(per_episode) == EPISODES * len(WEIGHTS)
    for row in rows:
        returns = [e["return"] for e in per_episode if e["sweep_value"] == row["sweep_value"]]
        assert row["return"] == pytest.approx(np.mean(returns))
        assert row["return_se"] == pytest.approx(np.std(returns, ddof=1) / math.sqrt(EPISODES))
        assert (row["return_min"], row["return_max"]) == (min(returns), max(returns))
        assert row["length"] == STEPS
    assert all(e["task_id"] == TASK and e["length"] == STEPS for e in per_episode)
    assert rows[0]["return"] != rows[1]["return"]  # w changes the actions


def test_scalars_and_the_plot(evaluated):
    _, rows, root = evaluated
    out = report.eval_dir(root)
    assert _scalars(out) == {
        "eval/w_0/return": (STEP, pytest.approx(rows[0]["return"])),
        "eval/w_1/return": (STEP, pytest.approx(rows[1]["return"])),
    }
    with open(os.path.join(out, returns.RETURN_FILE), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_model_selection_ranks_by_return(evaluated):
    suite, rows, _ = evaluated
    # An earlier evaluation, better at w = 0 and worse at w = 1.
    earlier = [
        {"step": 3, **r, "return": r["return"] + d} for r, d in zip(rows, (1, -1), strict=True)
    ]
    history = earlier + [{"step": STEP, **r} for r in rows]
    selection = curve.select(
        suite.score_rows(history), score_metric=suite.score_metric, knob_column=suite.knob_column
    )
    assert selection["last"] == {
        "step": STEP,
        "scores": [{"sweep_value": r["sweep_value"], "return": r["return"]} for r in rows],
    }
    assert [(e["sweep_value"], e["step"]) for e in selection["best"]["scores"]] == [
        (0.0, 3),
        (1.0, STEP),
    ]


def test_a_policy_without_a_knob_scores_one_row(tmp_path, capsys):
    suite = dmc.DMCSuite(episodes=EPISODES, max_episode_steps=3)
    policy = _policy(Sweep("none", (0.0,)))
    rows = suite.evaluate(policy, suites.EvalData("unused", _info()), str(tmp_path), 0)
    assert len(rows) == 1 and rows[0]["length"] == 3
    assert list(_scalars(report.eval_dir(str(tmp_path)))) == ["eval/return"]
    assert os.path.isfile(tmp_path / "eval" / returns.RETURN_FILE)
    printed = capsys.readouterr().out
    assert f"linear on {TASK} at step 0: {EPISODES} episodes" in printed
    header = ["-", "return", "se", "min", "max", "length", "episodes"]
    assert header in [line.split() for line in printed.splitlines()]


def test_an_unknown_task_is_named(tmp_path):
    policy = _policy(Sweep("guidance_weight", WEIGHTS))
    data = suites.EvalData("unused", _info("walker_flip"))
    with pytest.raises(UserError, match=r"unknown DeepMind Control task 'walker_flip'"):
        suites.evaluate(policy, data, str(tmp_path), 0)


def test_the_task_comes_from_env_name_or_the_source_name():
    assert dmc.task_name({"name": "exorl/proto/cheetah_run", "env_name": "cheetah_run"}) == (
        "cheetah_run"
    )
    assert dmc.task_name({"name": "exorl/proto/cheetah_run_backward"}) == "cheetah_run_backward"


def test_importing_the_suites_imports_neither_mujoco_nor_dm_control():
    code = (
        "import sys; import cfgrl_tf.eval, cfgrl_tf.envs.dmc_eval; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mujoco', 'dm_control')))"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    assert result.stdout.strip() == "[]"
