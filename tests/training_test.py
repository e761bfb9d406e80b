"""`train` with evaluations during training: the curve, TensorBoard, last / best / offline
selection, and a resumed run's curve."""

import csv
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from cfgrl_tf import training
from cfgrl_tf.cli import common
from cfgrl_tf.eval.report import read_csv

_TINY = [
    "train.batch_size = 32",
    "train.jit_compile = False",
    "IQLCritic.hidden_dims = (16,)",
    "CFGRLAgent.hidden_dims = (32,)",
    "CFGRLAgent.num_flow_steps = 4",
    "BanditSuite.num_samples = 64",
    "BanditSuite.plot = False",
]
_WEIGHTS = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0]


def _train(dataset_dir, root, *bindings):
    common.parse_gin(
        ["bandit/cfgrl.gin"], [f"train.dataset_dir = '{dataset_dir}'", *_TINY, *bindings]
    )
    return training.train(str(root), tf.distribute.get_strategy())


def _scalars(directory, tag):
    """{step: value} of a TensorBoard scalar over every event file in `directory`."""
    values = {}
    for path in sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*"))):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.tag == tag:
                    values.setdefault(event.step, []).append(float(tf.make_ndarray(value.tensor)))
    return values


def _at(rows, step):
    return [{k: v for k, v in row.items() if k != "step"} for row in rows if row["step"] == step]


def test_evaluations_during_training_make_a_curve_and_a_selection(
    tiny_bandit_dir, tmp_path, capsys
):
    root = tmp_path / "run"
    _train(
        tiny_bandit_dir,
        root,
        "train.num_steps = 80",
        "train.steps_per_loop = 20",
        "train.log_interval = 20",
        "train.checkpoint_interval = 40",
        "train.eval_interval = 30",
        "train.selection_metric = 'actor/flow_loss'",
    )
    out = capsys.readouterr().out
    eval_dir = root / "eval"
    curve = read_csv(str(eval_dir / "curve.csv"))
    # Every 30 steps (loops of 20 stop at 30 and 60), and the final evaluation at 80.
    assert [row["step"] for row in curve] == [30] * 7 + [60] * 7 + [80] * 7
    assert [row["value"] for row in curve] == _WEIGHTS * 3
    # Each periodic evaluation's files are its own; eval/sweep.csv is the final evaluation's.
    for step in (30, 60):
        assert read_csv(str(eval_dir / "steps" / str(step) / "sweep.csv")) == _at(curve, step)
    assert read_csv(str(eval_dir / "sweep.csv")) == _at(curve, 80)
    assert sorted(os.listdir(eval_dir / "steps")) == ["30", "60"]

    # TensorBoard has every evaluation's scalars under eval/, once per step.
    for w in (0.0, 1.5):
        scalars = _scalars(str(eval_dir), f"eval/w_{w:g}/reward")
        assert sorted(scalars) == [30, 60, 80]
        for step, values in scalars.items():
            (expected,) = [r["reward"] for r in curve if r["step"] == step and r["value"] == w]
            np.testing.assert_allclose(values, [expected], rtol=1e-6)

    with open(eval_dir / "selection.json") as f:
        selection = json.load(f)
    assert selection["steps"] == [30, 60, 80]
    assert selection["last"]["step"] == 80
    final = read_csv(str(eval_dir / "sweep.csv"))
    assert selection["last"]["scores"] == [
        {"value": r["value"], "reward": r["reward"]} for r in final
    ]
    assert selection["best"]["rule"].startswith("best (online model selection")
    for entry in selection["best"]["scores"]:
        rows = [r for r in curve if r["value"] == entry["value"]]
        best = max(r["reward"] for r in rows)
        assert entry["reward"] == best
        assert entry["step"] == min(r["step"] for r in rows if r["reward"] == best)

    # Offline: the flow loss logged at or before each evaluation (logs at 20, 40, 60, 80), the
    # evaluation at rank 1 (the second lowest).
    with open(root / "train" / "metrics.csv") as f:
        logged = {int(r["step"]): float(r["actor/flow_loss"]) for r in csv.DictReader(f)}
    assert sorted(logged) == [20, 40, 60, 80]
    loss = {30: logged[20], 60: logged[60], 80: logged[80]}
    expected = sorted(loss, key=lambda step: (loss[step], step))[1]
    offline = selection["offline"]
    assert (offline["metric"], offline["top_k"], offline["step"]) == (
        "actor/flow_loss",
        1,
        expected,
    )
    assert offline["metric_value"] == loss[expected]
    assert offline["scores"] == [
        {"value": r["value"], "reward": r["reward"]} for r in curve if r["step"] == expected
    ]
    with open(eval_dir / "selection.txt") as f:
        table = f.read()
    assert table in out and "Model selection over 3 evaluations (steps 30..80)" in table
    assert "Evaluating at step 30 (train.eval_interval = 30):" in out


def test_a_resumed_run_keeps_its_curve_and_replaces_a_step_it_evaluates_again(
    tiny_bandit_dir, tmp_path, capsys
):
    root = tmp_path / "run"
    loop = ["train.steps_per_loop = 10", "train.log_interval = 10", "train.eval_interval = 30"]
    _train(tiny_bandit_dir, root, "train.num_steps = 40", "train.checkpoint_interval = 20", *loop)
    first = read_csv(str(root / "eval" / "curve.csv"))
    assert [row["step"] for row in first] == [30] * 7 + [40] * 7

    # As if the run had been stopped after its evaluation at step 30, before the checkpoint at
    # 40 was saved: the latest checkpoint is ckpt-20 again.
    ckpt_dir = str(root / "checkpoints")
    for path in glob.glob(os.path.join(ckpt_dir, "ckpt-40*")):
        os.remove(path)
    tf.compat.v1.train.update_checkpoint_state(ckpt_dir, os.path.join(ckpt_dir, "ckpt-20"))
    capsys.readouterr()

    _train(tiny_bandit_dir, root, "train.num_steps = 70", "train.checkpoint_interval = 20", *loop)
    assert "Resuming from" in capsys.readouterr().out
    curve = read_csv(str(root / "eval" / "curve.csv"))
    # Step 30 was evaluated again (same weights: same rows) and is in the curve once; step 40
    # (the earlier final evaluation) is kept; 60 and the final 70 are new.
    assert [row["step"] for row in curve] == [30] * 7 + [40] * 7 + [60] * 7 + [70] * 7
    assert _at(curve, 30) == _at(first, 30) and _at(curve, 40) == _at(first, 40)
    with open(root / "eval" / "selection.json") as f:
        selection = json.load(f)
    assert selection["steps"] == [30, 40, 60, 70] and selection["last"]["step"] == 70
    best_w0 = max((r["reward"], -r["step"]) for r in curve if r["value"] == 0.0)
    assert selection["best"]["scores"][0] == {
        "value": 0.0,
        "step": -best_w0[1],
        "reward": best_w0[0],
    }
    # CFGRL logs no actor/bc_loss (the default selection metric): no offline selection.
    assert selection["offline"] is None


def test_a_dataset_no_suite_evaluates_is_refused_before_training(tmp_path):
    from cfgrl_tf import errors
    from cfgrl_tf.data import bandit, spec, writer

    arrays, _ = bandit.bandit_transitions("8gaussians", num_samples=256, seed=0)
    data = str(tmp_path / "data")
    writer.write_dataset(
        arrays,
        data,
        features=spec.transition_features(1, 2),
        num_shards=1,
        source={"name": "someone/else"},
        labels={"optimal": {"rule": "none"}},
        action_scale=1.0,
    )
    root = tmp_path / "run"
    with pytest.raises(errors.ConfigError, match="'someone/else'.*train.evaluate_at_end = False"):
        _train(data, root, "train.num_steps = 4")
    assert not (root / "checkpoints").exists()  # nothing was trained
    learner = _train(data, root, "train.num_steps = 4", "train.evaluate_at_end = False")
    assert learner.current_step == 4
