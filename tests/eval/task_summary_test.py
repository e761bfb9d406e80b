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


def _return_run(root, agent, seed, returns):
    """A run of a return-scored suite (dm_control): sweep.csv rows without a success column."""
    run_dir = os.path.join(root, agent, f"seed{seed}")
    rows = [
        {"sweep_value": value, "task_id": "walk", "return": ret, "return_se": 5.0, "episodes": 10}
        for value, ret in returns.items()
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


def test_every_method_is_ranked_at_its_best_knob_value(tmp_path):
    runs = {}
    for seed in range(2):
        runs[("maze", "cfgrl", seed)] = _run(tmp_path, "cfgrl", seed, {1.0: 0.5, 2.0: 0.7})
        runs[("maze", "iql_awr", seed)] = _run(tmp_path, "iql_awr", seed, {3.0: 0.6, 10.0: 0.2})
        runs[("maze", "diffusion_ql", seed)] = _run(
            tmp_path, "diffusion_ql", seed, {1.0: 0.3 + 0.1 * seed, 50.0: 0.8}
        )
        runs[("maze", "diffusion_bc", seed)] = _run(tmp_path, "diffusion_bc", seed, {0.0: 0.1})
    text = task_summary.summarize_task_runs(runs, str(tmp_path / "out"))
    ranked = text.split("best first:\n")[1].split("\ncheck:")[0].splitlines()
    assert [line.split()[0] for line in ranked] == [
        "diffusion_ql", "cfgrl", "iql_awr", "diffusion_bc"
    ]  # fmt: skip
    assert ranked[0].split() == ["diffusion_ql", "(n=50)", "0.800", "(sd", "0.000)"]
    assert ranked[3].split() == ["diffusion_bc", "0.100", "(sd", "0.000)"]
    assert "n=1: 0.350 (0.071) R -65" in text


def test_a_return_scored_suite_is_summarised_by_its_return(tmp_path):
    runs = {}
    for seed, shift in enumerate((0.0, 10.0, -10.0)):
        runs[("walker_walk", "cfgrl", seed)] = _return_run(
            tmp_path, "cfgrl", seed, {1.0: 400.0 + shift, 3.0: 600.0 + 2 * shift}
        )
        runs[("walker_walk", "iql_awr", seed)] = _return_run(
            tmp_path, "iql_awr", seed, {1.0: 300.0, 10.0: 500.0 + shift}
        )
    out = str(tmp_path / "out")
    text = task_summary.summarize_task_runs(runs, out, prefix="exorl", metric="return")
    assert "w=3: 600.0 (20.0)" in text
    assert "best CFGRL (w=3) 600.0 (sd 20.0) vs best AWR (t=10) 500.0 (sd 10.0): " in text
    assert "margin +100.0, above the seed spread 20.0" in text
    assert "cfgrl: best w>1 is w=3 with 600.0 (sd 20.0) vs w=1 400.0 (sd 10.0)" in text
    assert "(per seed: +200.0, +210.0, +190.0)" in text
    rows = report.read_csv(os.path.join(out, "exorl_summary.csv"))
    assert "success_mean" not in rows[0]
    assert os.path.isfile(os.path.join(out, "exorl_walker_walk.png"))
    # A return-scored summary merges as seeds too, and success is refused where there is none.
    seed0 = {k: v for k, v in runs.items() if k[2] == 0}
    task_summary.summarize_task_runs(seed0, str(tmp_path / "s0"), prefix="e", metric="return")
    earlier = task_summary.read_summary(str(tmp_path / "s0" / "e_summary.csv"))
    assert earlier["walker_walk"]["cfgrl"][3.0] == [(600.0, 600.0)]
    with pytest.raises(UserError, match="with a 'success' column"):
        task_summary.run_success(runs[("walker_walk", "cfgrl", 0)])
    with pytest.raises(UserError, match="unknown metric"):
        task_summary.run_success(runs[("walker_walk", "cfgrl", 0)], metric="score")


def test_several_one_seed_summaries_merge_in_order(tmp_path):
    paths = []
    for seed in range(3):
        runs = {("maze", "cfgrl", seed): _run(tmp_path, "cfgrl", seed, {1.0: 0.1 * seed})}
        task_summary.summarize_task_runs(runs, str(tmp_path / f"s{seed}"), prefix="p")
        paths.append(str(tmp_path / f"s{seed}" / "p_summary.csv"))
    merged = task_summary.read_summaries(paths)
    assert [s for s, _ in merged["maze"]["cfgrl"][1.0]] == pytest.approx([0.0, 0.1, 0.2])
    assert task_summary.read_summaries([]) == {}
