"""The bandit comparison, shrunk: cfgrl-bandits on one bandit with tiny training."""

import pytest
from testutil import run_cli

from cfgrl_tf.eval.report import read_csv

_TINY = [
    "train.num_steps = 20",
    "train.steps_per_loop = 10",
    "train.log_interval = 10",
    "train.batch_size = 32",
    "train.jit_compile = False",
    "IQLCritic.hidden_dims = (16,)",
    "CFGRLAgent.hidden_dims = (16,)",
    "CFGRLAgent.num_flow_steps = 4",
    "IQLAWRAgent.hidden_dims = (16,)",
    "BanditSuite.num_samples = 100",
    "bandit_source.num_samples = 300",
]


def _quickstart(root):
    return run_cli(
        "bandits",
        f"--root_dir={root}",
        "--bandits=rings",
        *(f"--gin_bindings={b}" for b in _TINY),
    )


def test_quickstart_builds_trains_evaluates_and_summarises(tmp_path):
    root = tmp_path / "qs"
    result = _quickstart(root)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    # The comparison table and the three checks of the issue, for the bandit that ran.
    assert "CFGRL mean reward by guidance weight vs IQL+AWR" in out
    assert "rings: reward w=0 -> 1 " in out and ", w=1 -> 3 " in out
    assert "CFGRL best >= AWR best:" in out
    for name in ("summary.csv", "summary.png", "reward_vs_w.png"):
        assert (root / name).is_file(), name
    summary = read_csv(str(root / "summary.csv"))
    assert [row["bandit"] for row in summary] == ["rings"]
    awr = read_csv(str(root / "runs" / "rings" / "iql_awr" / "eval" / "sweep.csv"))
    # summary.csv keeps 6 significant digits.
    assert summary[0]["awr_best_reward"] == pytest.approx(max(r["reward"] for r in awr), rel=1e-5)
    assert (root / "data" / "rings" / "dataset_info.json").is_file()

    # Running it again reuses the dataset and the finished runs.
    again = _quickstart(root)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "reusing" in again.stdout and "is finished (step 20 of 20)" in again.stdout


def test_unknown_bandit_is_named(tmp_path):
    result = run_cli("bandits", f"--root_dir={tmp_path}", "--bandits=moons", timeout=300)
    assert result.returncode == 2
    assert "moons" in result.stderr and "diffusion_ql" in result.stderr
    assert "Traceback" not in result.stderr
