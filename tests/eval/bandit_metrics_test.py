"""Tests of eval.bandit_metrics and eval.report: sweep sampling, distances, metrics, CSVs."""

from __future__ import annotations

import os

import numpy as np
import pytest

from cfgrl_tf import errors
from cfgrl_tf.eval import bandit_metrics, report
from cfgrl_tf.sweep import Sweep

OBS = np.zeros(3, dtype=np.float32)


def _reward(actions: np.ndarray) -> np.ndarray:
    # Highest at (1, 1); a plain function of the action so expected values are easy to compute.
    return actions[:, 0] + 2.0 * actions[:, 1]


class _RecordingSampler:
    """Returns action (value / 10, -value / 10) plus a per-row offset, and records every call."""

    def __init__(self, action_dim: int = 2, fill: float | None = None):
        self.calls = []
        self.action_dim = action_dim
        self.fill = fill

    def __call__(self, observations, sweep_values, seed):
        self.calls.append((observations, sweep_values, seed))
        m = observations.shape[0]
        actions = np.zeros((m, self.action_dim), dtype=np.float32)
        actions[:, 0] = sweep_values / 10.0
        actions[:, 1] = -sweep_values / 10.0
        # Within a block rows differ, so a split that mixes blocks or reorders rows shows up.
        actions[:, 0] += 1e-3 * (np.arange(m) % 7)
        if self.fill is not None:
            actions[-1, 0] = self.fill
        return actions


def test_nearest_distance_matches_brute_force():
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(203, 3))
    data = rng.normal(size=(57, 3))
    brute = np.sqrt(((samples[:, None, :] - data[None, :, :]) ** 2).sum(-1)).min(axis=1)
    # Chunks of 1 row, a non-divisor (10), a divisor (29 * 7 = 203), all rows, more than all.
    for chunk in (None, 1, 10, 29, 203, 1000):
        np.testing.assert_allclose(
            bandit_metrics.nearest_distance(samples, data, chunk=chunk),
            brute,
            rtol=1e-12,
            atol=1e-12,
        )


def test_nearest_distance_is_exactly_zero_on_data_far_from_origin():
    # Far from the origin the |x|^2 + |y|^2 - 2xy expansion cancels badly; the result must not.
    rng = np.random.default_rng(1)
    data = 1000.0 + rng.uniform(size=(50, 2))
    distance = bandit_metrics.nearest_distance(data[::-1], data, chunk=7)
    np.testing.assert_array_equal(distance, np.zeros(50))


def test_nearest_distance_large_case_is_bounded_and_correct():
    rng = np.random.default_rng(2)
    samples = rng.uniform(-1, 1, size=(20000, 2))
    data = rng.uniform(-1, 1, size=(10000, 2))
    distance = bandit_metrics.nearest_distance(samples, data)
    assert distance.shape == (20000,)
    check = rng.choice(20000, 50, replace=False)
    brute = np.linalg.norm(samples[check, None] - data[None], axis=-1).min(axis=1)
    np.testing.assert_allclose(distance[check], brute, rtol=1e-12)


def test_nearest_distance_rejects_mismatched_widths():
    with pytest.raises(errors.UserError, match=r"\(4, 2\).*\(5, 3\)"):
        bandit_metrics.nearest_distance(np.zeros((4, 2)), np.zeros((5, 3)))
    with pytest.raises(errors.UserError, match="data is empty"):
        bandit_metrics.nearest_distance(np.zeros((4, 2)), np.zeros((0, 2)))


def test_bandit_metrics_on_data_and_far_away():
    data = np.array([[0.0, 0.0], [0.5, 0.5], [-0.5, 0.25]])
    on_data = np.repeat(data, 4, axis=0)
    metrics = bandit_metrics.bandit_metrics(on_data, data, _reward, near_data_radius=0.1)
    assert metrics["near_data"] == 1.0
    assert metrics["mean_distance"] == 0.0
    assert metrics["num_samples"] == 12
    # Rewards 0, 1.5, 0 each four times.
    assert metrics["reward"] == pytest.approx(0.5)
    assert metrics["reward_std"] == pytest.approx(np.std([0.0, 1.5, 0.0]))

    far = np.array([[3.0, 4.0], [-3.0, -4.0]])
    metrics = bandit_metrics.bandit_metrics(far, np.zeros((1, 2)), _reward, near_data_radius=0.1)
    assert metrics["near_data"] == 0.0
    assert metrics["mean_distance"] == pytest.approx(5.0)
    assert metrics["reward"] == pytest.approx(0.0)


def test_bandit_metrics_radius_is_inclusive_and_counts_fractions():
    data = np.zeros((1, 2))
    samples = np.array([[0.25, 0.0], [0.0, 0.5], [0.3, 0.4], [1.0, 0.0]])
    metrics = bandit_metrics.bandit_metrics(samples, data, _reward, near_data_radius=0.5)
    assert metrics["near_data"] == 0.75


def test_sample_sweep_calls_once_with_stacked_values_and_splits():
    sampler = _RecordingSampler()
    sweep = Sweep("guidance_weight", (0.0, 1.5, 3.0))
    samples = bandit_metrics.sample_sweep(
        sampler, sweep, observation=np.arange(3.0), num_samples=5, seed=17
    )
    assert len(sampler.calls) == 1
    observations, sweep_values, seed = sampler.calls[0]
    assert observations.shape == (15, 3) and observations.dtype == np.float32
    np.testing.assert_array_equal(observations, np.tile(np.arange(3.0), (15, 1)))
    assert sweep_values.dtype == np.float32
    np.testing.assert_array_equal(sweep_values, [0.0] * 5 + [1.5] * 5 + [3.0] * 5)
    assert seed == 17

    assert list(samples) == [0.0, 1.5, 3.0]
    offsets = 1e-3 * (np.arange(15) % 7)
    for i, value in enumerate(sweep.values):
        block = samples[value]
        assert block.shape == (5, 2)
        np.testing.assert_allclose(block[:, 0], value / 10 + offsets[5 * i : 5 * i + 5], atol=1e-6)
        np.testing.assert_allclose(block[:, 1], -value / 10, atol=1e-6)


def test_sample_sweep_accepts_tf_tensors():
    tf = pytest.importorskip("tensorflow")

    def sampler(observations, sweep_values, seed):
        return tf.stack([tf.constant(sweep_values), tf.fill([len(sweep_values)], float(seed))], 1)

    sweep = Sweep("temperature", (1.0, 10.0))
    samples = bandit_metrics.sample_sweep(sampler, sweep, observation=OBS, num_samples=2, seed=4)
    assert isinstance(samples[10.0], np.ndarray)
    np.testing.assert_array_equal(samples[10.0], [[10.0, 4.0], [10.0, 4.0]])


def test_evaluate_bandit_rows():
    data = np.stack([np.linspace(-0.5, 0.5, 11), np.linspace(0.5, -0.5, 11)], 1)
    sweep = Sweep("guidance_weight", (0.0, 2.0, 20.0))
    rows, samples = bandit_metrics.evaluate_bandit(
        _RecordingSampler(),
        sweep,
        data_actions=data,
        reward_fn=_reward,
        observation=OBS,
        agent="cfgrl",
        dataset="ring",
        num_samples=7,
    )
    assert [list(r) for r in rows] == [list(bandit_metrics.ROW_KEYS)] * 3
    assert list(bandit_metrics.ROW_KEYS) == [
        "agent",
        "dataset",
        "param",
        "value",
        "reward",
        "reward_std",
        "near_data",
        "mean_distance",
        "num_samples",
    ]
    assert [r["value"] for r in rows] == [0.0, 2.0, 20.0]
    assert {(r["agent"], r["dataset"], r["param"], r["num_samples"]) for r in rows} == {
        ("cfgrl", "ring", "guidance_weight", 7)
    }
    # Samples near (v/10, -v/10): the data line for v = 0 and 2, far off it at (2, -2) for v = 20.
    assert rows[0]["near_data"] == 1.0 and rows[1]["near_data"] == 1.0
    assert rows[2]["near_data"] == 0.0
    assert rows[2]["reward"] == pytest.approx(np.mean(_reward(samples[20.0])))
    assert samples[2.0].shape == (7, 2)


def test_sweep_none_has_one_setting():
    rows, _ = bandit_metrics.evaluate_bandit(
        _RecordingSampler(),
        Sweep("none", (0.0,)),
        data_actions=np.zeros((3, 2)),
        reward_fn=_reward,
        observation=OBS,
        agent="flow_bc",
        dataset="ring",
        num_samples=3,
    )
    assert [(r["param"], r["value"]) for r in rows] == [("none", 0.0)]
    with pytest.raises(errors.UserError, match="exactly one value"):
        Sweep("none", (0.0, 1.0))


def test_csv_round_trip_is_exact_and_atomic(tmp_path):
    rows = [
        {"agent": "cfgrl", "dataset": "ring", "param": "guidance_weight", "value": 1.5,
         "reward": 1 / 3, "reward_std": 0.1, "near_data": 0.985, "mean_distance": 2e-5,
         "num_samples": 2000},
        {"agent": "iql_awr", "dataset": "ring", "param": "temperature", "value": 10.0,
         "reward": np.float64(-0.25), "reward_std": 0.0, "near_data": 1.0, "mean_distance": 0.0,
         "num_samples": 2000},
    ]  # fmt: skip
    path = tmp_path / "sub" / "eval.csv"
    report.write_csv(rows, str(path))
    back = report.read_csv(str(path))
    assert back == [dict(r, reward=float(r["reward"])) for r in rows]
    assert isinstance(back[0]["num_samples"], int) and isinstance(back[1]["value"], float)
    assert list(back[0]) == list(rows[0])
    assert os.listdir(path.parent) == ["eval.csv"]
    assert path.read_text().splitlines()[0] == ",".join(rows[0])


def test_write_csv_rejects_ragged_rows_and_keeps_old_file(tmp_path):
    path = tmp_path / "eval.csv"
    path.write_text("old\n")
    with pytest.raises(errors.UserError, match="row 1 has columns"):
        report.write_csv([{"a": 1, "b": 2}, {"a": 1}], str(path))
    assert path.read_text() == "old\n"
    with pytest.raises(errors.UserError, match="no evaluation CSV"):
        report.read_csv(str(tmp_path / "missing.csv"))


def test_format_table_contains_every_value():
    rows = [
        {"agent": "cfgrl", "dataset": "ring", "param": "guidance_weight", "value": v,
         "reward": r, "near_data": n}
        for v, r, n in [(0.0, 0.125, 1.0), (1.5, 2.5, 0.875), (3.0, -4.75, 0.5)]
    ]  # fmt: skip
    table = bandit_metrics.format_table(rows, near_data_radius=0.1)
    lines = table.splitlines()
    assert lines[0] == ("near_data: fraction of samples within 0.1 of the nearest dataset action")
    assert lines[1].split() == ["agent", "dataset", "param", "value", "reward", "near_data"]
    assert [line.split() for line in lines[3:]] == [
        ["cfgrl", "ring", "guidance_weight", "0", "0.125", "1.000"],
        ["cfgrl", "ring", "guidance_weight", "1.5", "2.500", "0.875"],
        ["cfgrl", "ring", "guidance_weight", "3", "-4.750", "0.500"],
    ]
    # Fixed width: every data line is as long as the header once trailing space is ignored.
    assert len({len(line) for line in lines[1:]}) == 1


def test_best_row():
    rows = [{"value": 0.0, "reward": 1.0}, {"value": 1.0, "reward": 3.0},
            {"value": 2.0, "reward": float("nan")}, {"value": 3.0, "reward": 3.0}]  # fmt: skip
    assert report.best_row(rows)["value"] == 1.0
    assert report.best_row(rows, metric="value")["value"] == 3.0
    with pytest.raises(errors.UserError, match="'near_data'"):
        report.best_row(rows, metric="near_data")
    with pytest.raises(errors.UserError, match="no rows"):
        report.best_row([])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sweep": Sweep("guidance_weight", (1.0,)), "num_samples": 0},
         "num_samples must be at least 1, got 0"),
        ({"near_data_radius": 0.0}, "near_data_radius must be > 0, got 0.0"),
        ({"near_data_radius": -1.0}, "near_data_radius must be > 0"),
        ({"sample_fn": _RecordingSampler(action_dim=3), "num_samples": 5},
         r"sampler returned shape \(10, 3\), expected \(10, 2\)"),
        ({"sample_fn": lambda o, v, s: np.zeros((len(v) - 1, 2)), "num_samples": 5},
         r"sampler returned shape \(9, 2\), expected \(10, 2\)"),
        ({"sample_fn": _RecordingSampler(fill=np.nan), "num_samples": 5},
         "non-finite actions at guidance_weight = 3: 1 of 5"),
    ],
)  # fmt: skip
def test_user_errors(kwargs, message):
    args = {
        "sample_fn": _RecordingSampler(),
        "sweep": Sweep("guidance_weight", (0.0, 3.0)),
        "data_actions": np.zeros((4, 2)),
        "reward_fn": _reward,
        "observation": OBS,
        "agent": "cfgrl",
        "dataset": "ring",
        "num_samples": 4,
    }
    args.update(kwargs)
    with pytest.raises(errors.UserError, match=message):
        bandit_metrics.evaluate_bandit(args.pop("sample_fn"), args.pop("sweep"), **args)
