"""The single-task comparison summary: seeds aggregated, the two checks, files written."""

import os

import pytest

from cfgrl_tf.errors import UserError
from cfgrl_tf.eval import report, task_summary


def _run(root, agent, seed, successes):
    run_dir = os.path.join(root, agent, f"seed{seed}")
    rows = [
        {
            "sweep_value": value,
            "task_id": 1,
            "success": success,
            "success_se": 0.05,
            "episodes": 50,
            "return": -100.0 * (1 - success),
        }
        for value, success in successes.items()
    ]
    report.write_csv(rows, os.path.join(run_dir, "eval", "sweep.csv"))
    return run_dir


def test_summary_aggregates_seeds_and_checks_both_claims(tmp_path):
    runs = {}
    for seed, shift in enumerate((0.0, 0.02, -0.02)):
        runs[("maze", "cfgrl", seed)] = _run(
            tmp_path, "cfgrl", seed, {1.0: 0.5 + shift, 1.5: 0.8 + shift, 3.0: 0.4}
        )
        # AWR's best is within CFGRL's reach only by the seed spread: 0.78 +- 0.1.
        runs[("maze", "iql_awr", seed)] = _run(
            tmp_path, "iql_awr", seed, {1.0: 0.2, 10.0: 0.78 + 5 * shift}
        )
    out = str(tmp_path / "out")
    text = task_summary.summarize_task_runs(runs, out, header="cmd\n")
    assert text.startswith("cmd\n")
    assert "w=1.5: 0.800 (0.020) R -20" in text
    assert "best CFGRL (w=1.5) 0.800 (sd 0.020) vs best AWR (t=10) 0.780 (sd 0.100): " in text
    assert "margin +0.020, NOT above the seed spread 0.100" in text
    assert "cfgrl: best w>1 is w=1.5 with 0.800 (sd 0.020) vs w=1 0.500 (sd 0.020): " in text
    assert "margin +0.300, above the seed spread 0.020" in text
    assert "(per seed: +0.300, +0.300, +0.300) (same starts at every w)" in text
    for name in ("summary.txt", "summary.csv", "maze.png"):
        assert os.path.isfile(os.path.join(out, f"ogbench_singletask_{name}"))
    rows = report.read_csv(os.path.join(out, "ogbench_singletask_summary.csv"))
    assert {(r["agent"], r["knob"], r["value"]) for r in rows} >= {("iql_awr", "t", 10.0)}


def test_a_run_of_another_suite_is_refused(tmp_path):
    run_dir = str(tmp_path / "run")
    report.write_csv([{"value": 1.0, "reward": 0.5}], os.path.join(run_dir, "eval", "sweep.csv"))
    with pytest.raises(UserError, match="is not a single-task evaluation"):
        task_summary.run_success(run_dir)


def test_an_earlier_one_seed_summary_counts_as_a_seed(tmp_path):
    sweeps = {
        0: ({1.0: 0.5, 1.5: 0.8}, {1.0: 0.2, 10.0: 0.6}),
        1: ({1.0: 0.52, 1.5: 0.84}, {1.0: 0.3, 10.0: 0.5}),
        2: ({1.0: 0.46, 1.5: 0.78}, {1.0: 0.1, 10.0: 0.7}),
    }
    runs = {}
    for seed, (cfgrl, awr) in sweeps.items():
        runs[("maze", "cfgrl", seed)] = _run(tmp_path, "cfgrl", seed, cfgrl)
        runs[("maze", "iql_awr", seed)] = _run(tmp_path, "iql_awr", seed, awr)
    everything = task_summary.summarize_task_runs(runs, str(tmp_path / "all"))
    seed0 = {k: v for k, v in runs.items() if k[2] == 0}
    task_summary.summarize_task_runs(seed0, str(tmp_path / "seed0"))
    earlier = task_summary.read_summary(str(tmp_path / "seed0" / "ogbench_singletask_summary.csv"))
    later = {k: v for k, v in runs.items() if k[2] != 0}
    merged = task_summary.summarize_task_runs(later, str(tmp_path / "merged"), earlier=earlier)
    assert merged.replace("/merged/", "/all/") == everything
    assert "(per seed: +0.300, +0.320, +0.320)" in merged  # seed 0's pairing comes first

    three_seeds = str(tmp_path / "all" / "ogbench_singletask_summary.csv")
    with pytest.raises(UserError, match="holds 3 seeds"):
        task_summary.read_summary(three_seeds)
    other = {("maze", "cfgrl", 1): _run(tmp_path / "other", "cfgrl", 1, {2.0: 0.5})}
    with pytest.raises(UserError, match="knob values"):
        task_summary.summarize_task_runs(other, str(tmp_path / "x"), earlier=earlier)
