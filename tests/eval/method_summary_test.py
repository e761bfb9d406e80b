"""The many-methods bandit summary: columns per method, best-mode fractions, files written."""

import os

import numpy as np
import pytest

from cfgrl_tf.data import bandit
from cfgrl_tf.data.reader import load_dataset
from cfgrl_tf.eval import bandit as bandit_suite
from cfgrl_tf.eval import method_summary, report
from cfgrl_tf.sweep import Sweep


def _fake_run(root, name, knob, samples_by_value, rewards_by_value):
    out = os.path.join(root, name, "eval")
    os.makedirs(out)
    rows = [
        {"param": knob, "value": v, "reward": rewards_by_value[v], "near_data": 1.0,
         "num_samples": len(s)}
        for v, s in samples_by_value.items()
    ]  # fmt: skip
    report.write_csv(rows, os.path.join(out, "sweep.csv"))
    bandit_suite.save_samples(
        os.path.join(out, bandit_suite.SAMPLES_FILE),
        Sweep(knob, tuple(samples_by_value)),
        samples_by_value,
    )
    return os.path.join(root, name)


def test_columns_pick_the_settings_and_count_the_best_mode(tiny_bandit_dir, tmp_path):
    actions = load_dataset(tiny_bandit_dir).arrays["actions"]
    problem = bandit.get_bandit("8gaussians")
    rewards = problem.expected_reward(actions)
    best = actions[rewards >= rewards.max() - 1e-9][:10]
    worst = actions[rewards <= rewards.min() + 1e-9][:10]
    runs = {
        ("8gaussians", "diffusion_bc"): _fake_run(
            tmp_path, "dbc", "none", {0.0: np.concatenate([best[:5], worst[:5]])}, {0.0: 0.5}
        ),
        ("8gaussians", "diffusion_ql"): _fake_run(
            tmp_path, "dql", "candidates", {1.0: worst, 50.0: best}, {1.0: 0.1, 50.0: 0.9}
        ),
        ("8gaussians", "cfgrl"): _fake_run(
            tmp_path, "cfgrl", "guidance_weight", {1.0: worst, 3.0: best}, {1.0: 0.2, 3.0: 0.8}
        ),
    }
    text = method_summary.summarize_methods(
        runs, {"8gaussians": tiny_bandit_dir}, str(tmp_path / "out"), name="m"
    )
    rows = {r["method"]: r for r in report.read_csv(str(tmp_path / "out" / "m.csv"))}
    assert set(rows) == {"Diffusion-BC", "Diffusion-QL", "Diffusion-QL n=50", "CFGRL best w"}
    assert rows["Diffusion-BC"]["best_mode"] == pytest.approx(0.5)
    assert rows["Diffusion-QL"]["best_mode"] == 0.0 and rows["Diffusion-QL"]["value"] == 1.0
    assert rows["Diffusion-QL n=50"]["best_mode"] == 1.0
    assert rows["CFGRL best w"]["value"] == 3.0 and rows["CFGRL best w"]["best_mode"] == 1.0
    assert os.path.isfile(tmp_path / "out" / "m.png")
    assert "Diffusion-QL n=50" in text
