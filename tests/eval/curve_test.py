"""The learning curve (eval/curve.csv) and the last / best / offline model selection over it."""

import json
import os

import pytest

from cfgrl_tf.errors import UserError
from cfgrl_tf.eval import curve
from cfgrl_tf.eval.bandit import BanditSuite
from cfgrl_tf.eval.ogbench_goal import OGBenchGoalSuite
from cfgrl_tf.eval.ogbench_task import OGBenchTaskSuite


def _rows(step, rewards):
    """Suite-like rows (knob column `value`, score `reward`), the step as curve.csv has it."""
    return [
        {"step": step, "value": value, "reward": reward, "near_data": 0.5}
        for value, reward in zip((0.0, 1.0), rewards, strict=True)
    ]


def _curve():
    # Four evaluations of two knob values; w=0 peaks at step 20, w=1 at step 30.
    return [
        *_rows(10, (0.1, 0.2)),
        *_rows(20, (0.9, 0.3)),
        *_rows(30, (0.4, 0.8)),
        *_rows(40, (0.5, 0.6)),
    ]


def test_last_and_best_per_knob_value():
    selection = curve.select(_curve(), score_metric="reward", knob_column="value")
    assert selection["steps"] == [10, 20, 30, 40]
    assert selection["last"] == {
        "step": 40,
        "scores": [{"value": 0.0, "reward": 0.5}, {"value": 1.0, "reward": 0.6}],
    }
    assert selection["best"]["rule"] == curve.BEST_RULE
    assert selection["best"]["scores"] == [
        {"value": 0.0, "step": 20, "reward": 0.9},
        {"value": 1.0, "step": 30, "reward": 0.8},
    ]
    assert selection["offline"] is None  # No training metric to rank by.


def test_best_takes_the_earliest_of_equal_scores():
    rows = [*_rows(10, (0.7, 0.2)), *_rows(20, (0.7, 0.2))]
    best = curve.select(rows, score_metric="reward", knob_column="value")["best"]["scores"]
    assert [entry["step"] for entry in best] == [10, 10]


# BC loss logged at each evaluation step: step 10 -> 0.5, 20 -> 0.1, 30 -> 0.3, 40 -> 0.2.
_LOGGED = {10: {"actor/bc_loss": 0.5}, 20: {"actor/bc_loss": 0.1}, 30: {"actor/bc_loss": 0.3}}
_LOGGED[40] = {"actor/bc_loss": 0.2, "critic/q_loss": 9.0}


@pytest.mark.parametrize(
    ("top_k", "step"),
    [(0, 20), (1, 40), (2, 30), (3, 10), (9, 10)],  # ranks 0.1 < 0.2 < 0.3 < 0.5; past the end
)
def test_offline_selection_takes_the_evaluation_at_rank_top_k(top_k, step):
    selection = curve.select(
        _curve(),
        score_metric="reward",
        knob_column="value",
        logged=_LOGGED,
        metric="actor/bc_loss",
        top_k=top_k,
    )
    offline = selection["offline"]
    assert offline["step"] == step and offline["top_k"] == top_k
    assert offline["metric_value"] == _LOGGED[step]["actor/bc_loss"]
    assert offline["scores"] == [
        {"value": r["value"], "reward": r["reward"]} for r in _curve() if r["step"] == step
    ]
    assert offline["evaluations_ranked"] == 4


def test_offline_selection_is_the_rank_not_diffusion_qls_argsort_mask():
    # Three evaluations with BC losses 0.5, 0.1, 0.3. Rank 1 (the second lowest) is the third
    # evaluation. `np.argsort(bc) == 1` is True at index 0, which would take the first (0.5).
    rows = _curve()[:6]
    logged = {10: {"bc": 0.5}, 20: {"bc": 0.1}, 30: {"bc": 0.3}}
    selection = curve.select(rows, score_metric="reward", knob_column="value", logged=logged)
    assert selection["offline"] is None  # No metric named: no offline selection.
    selection = curve.select(
        rows, score_metric="reward", knob_column="value", logged=logged, metric="bc"
    )
    assert selection["offline"]["step"] == 30


def test_offline_selection_reads_the_log_at_or_before_each_evaluation():
    # Logs at 5, 15 and 30: the evaluation at 10 reads step 5's loss, 20 reads 15's, 30 its own;
    # the evaluation at 40 reads 30's too. Nothing is logged before no evaluation here.
    logged = {5: {"bc": 0.4}, 15: {"bc": 0.2}, 30: {"bc": 0.3}, 50: {"bc": 0.0}}
    offline = curve.select(
        _curve(), score_metric="reward", knob_column="value", logged=logged, metric="bc", top_k=0
    )["offline"]
    assert (offline["step"], offline["metric_step"], offline["metric_value"]) == (20, 15, 0.2)
    # Equal losses (30 and 40 both read step 30's): the earlier evaluation ranks first.
    for top_k, step in ((1, 30), (2, 40)):
        offline = curve.select(
            _curve(),
            score_metric="reward",
            knob_column="value",
            logged=logged,
            metric="bc",
            top_k=top_k,
        )["offline"]
        assert (offline["step"], offline["metric_step"]) == (step, 30)


def test_evaluations_before_the_first_log_are_left_out_of_the_offline_ranking():
    logged = {25: {"bc": 0.3}, 40: {"bc": 0.1}}
    offline = curve.select(
        _curve(), score_metric="reward", knob_column="value", logged=logged, metric="bc", top_k=1
    )["offline"]
    assert offline["evaluations_ranked"] == 2 and offline["step"] == 30
    unlogged = curve.select(
        _curve(), score_metric="reward", knob_column="value", logged=logged, metric="other"
    )
    assert unlogged["offline"] is None


def test_select_refuses_no_rows_and_a_negative_top_k():
    with pytest.raises(UserError, match="no evaluations"):
        curve.select([], score_metric="reward", knob_column="value")
    with pytest.raises(UserError, match="top_k=-1"):
        curve.select(_curve(), score_metric="reward", knob_column="value", top_k=-1)


def test_record_appends_in_step_order_and_replaces_a_step_evaluated_again(tmp_path):
    root = str(tmp_path)
    assert curve.read_curve(root) == []
    strip = [{k: v for k, v in r.items() if k != "step"} for r in _curve()]
    curve.record(root, 30, strip[4:6])
    curve.record(root, 10, strip[0:2])
    # A resumed run evaluates step 30 again: its rows replace the earlier ones.
    again = [dict(r, reward=r["reward"] + 1) for r in strip[4:6]]
    rows = curve.record(root, 30, again)
    assert rows == curve.read_curve(root)
    assert [(r["step"], r["value"], r["reward"]) for r in rows] == [
        (10, 0.0, 0.1),
        (10, 1.0, 0.2),
        (30, 0.0, 1.4),
        (30, 1.0, 1.8),
    ]
    assert list(rows[0]) == ["step", "value", "reward", "near_data"]


def test_write_selection_writes_json_and_the_table(tmp_path):
    selection = curve.select(
        _curve(),
        score_metric="reward",
        knob_column="value",
        logged=_LOGGED,
        metric="actor/bc_loss",
    )
    text = curve.write_selection(str(tmp_path), selection, "w")
    with open(tmp_path / "eval" / "selection.json") as f:
        assert json.load(f) == selection
    with open(tmp_path / "eval" / "selection.txt") as f:
        assert f.read() == text
    assert curve.BEST_RULE in text
    assert "offline: step 40, whose actor/bc_loss (0.2) ranks 1 of 4" in text
    lines = text.splitlines()
    assert lines[-3].split() == ["w", "last", "best", "best_step", "offline"]
    # w = 1: last 0.6 (step 40), best 0.8 at step 30, offline (step 40) 0.6.
    assert lines[-1].split() == ["1", "0.600", "0.800", "30", "0.600"]


def test_every_suite_names_its_score_and_knob_columns():
    assert (BanditSuite.score_metric, BanditSuite.knob_column) == ("reward", "value")
    for suite in (OGBenchGoalSuite, OGBenchTaskSuite):
        assert (suite.score_metric, suite.knob_column) == ("success", "sweep_value")
    # The goal suite's rows break the overall success down per task; only "overall" scores.
    rows = [{"task_id": "overall", "success": 0.5}, {"task_id": 1, "success": 1.0}]
    assert OGBenchGoalSuite().score_rows(rows) == rows[:1]

    class Unscored(BanditSuite):
        score_metric = None

    with pytest.raises(UserError, match="Unscored sets no score_metric"):
        curve.check_suite(Unscored())
    curve.check_suite(BanditSuite())
    assert os.path.basename(curve.step_dir("run", 300)) == "300"
