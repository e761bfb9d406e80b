"""The goal-conditioned comparison summary: aggregation over seeds, checks and files."""

import os

from cfgrl_tf.eval import goal_summary, report


def _run(root, agent, seed, successes):
    run_dir = os.path.join(root, agent, f"seed{seed}")
    rows = []
    for w, success in successes.items():
        rows.append(
            {
                "sweep_value": w,
                "task_id": "overall",
                "success": success,
                "success_se": 0.05,
                "episodes": 50,
            }
        )
        rows.append(
            {"sweep_value": w, "task_id": 1, "success": success, "success_se": 0.1, "episodes": 10}
        )
    report.write_csv(rows, os.path.join(run_dir, "eval", "sweep.csv"))
    return run_dir


def test_summary_aggregates_seeds_and_checks_the_claim(tmp_path):
    runs = {}
    for seed, shift in enumerate((0.0, 0.02, -0.02)):
        runs[("maze", "cfgrl", seed)] = _run(
            tmp_path, "cfgrl", seed, {1.0: 0.5 + shift, 1.5: 0.7 + shift, 3.0: 0.4}
        )
        runs[("maze", "gcfbc", seed)] = _run(tmp_path, "gcfbc", seed, {1.0: 0.45 + shift})
        # hcfgrl's w > 1 gain is within its seed spread.
        runs[("maze", "hcfgrl", seed)] = _run(
            tmp_path, "hcfgrl", seed, {1.0: 0.5 + 5 * shift, 2.0: 0.52 + 5 * shift}
        )
    text = goal_summary.summarize_goal_runs(runs, str(tmp_path / "out"), header="cmd\n")
    assert text.startswith("cmd\n")
    assert "check: cfgrl: best w>1 is w=1.5 with 0.700" in text
    assert "margin +0.200, above the seed spread 0.020" in text
    assert "vs gcfbc 0.450 (sd 0.020): margin +0.250, above" in text
    assert "per seed: +0.200, +0.200, +0.200" in text
    assert "check: hcfgrl: best w>1 is w=2 with 0.520" in text
    assert "NOT above the seed spread 0.100" in text
    rows = report.read_csv(str(tmp_path / "out" / "ogbench_summary.csv"))
    cfgrl_15 = next(r for r in rows if r["agent"] == "cfgrl" and r["guidance_weight"] == 1.5)
    assert abs(cfgrl_15["success_mean"] - 0.7) < 1e-9 and cfgrl_15["seeds"] == 3
    assert os.path.getsize(tmp_path / "out" / "ogbench_maze.png") > 1000
