"""The 2-D bandit suite: sample a policy at every knob setting and score the samples.

Prints a table and writes `eval/sweep.csv`, `eval/samples.npz` (every setting's samples),
TensorBoard scalars (`eval/w_1.5/reward`...) and `eval/samples.png` (a panel per setting).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import gin
import numpy as np

from cfgrl_tf import fileio, plotting
from cfgrl_tf.data import bandit
from cfgrl_tf.eval import bandit_metrics, report, suites
from cfgrl_tf.policy import Policy
from cfgrl_tf.sweep import Sweep

SAMPLES_FILE = "samples.npz"


@gin.configurable
class BanditSuite(suites.Suite):
    """Scores a policy's actions on a 2-D bandit (datasets from `pipelines/bandit/`).

    Args:
      num_samples: actions sampled per knob setting.
      seed: sampling seed.
      near_data_radius: a sample is "near the data" within this distance of a dataset action.
      sweep_values: settings to evaluate instead of the policy's default sweep.
      plot: write `eval/samples.png`, one panel per setting.
    """

    score_metric = "reward"
    knob_column = "value"

    def __init__(
        self,
        num_samples: int = 2000,
        seed: int = 0,
        near_data_radius: float = 0.1,
        sweep_values: Sequence[float] | None = None,
        plot: bool = True,
    ):
        self.num_samples = num_samples
        self.seed = seed
        self.near_data_radius = near_data_radius
        self.sweep_values = sweep_values
        self.plot = plot

    def evaluate(self, policy: Policy, data, root_dir, step, *, out_dir=None):
        dataset = data.records()
        problem = bandit.get_bandit(data.source.split("/", 1)[1])
        sweep = policy.sweep.with_values(self.sweep_values, policy.name)
        sampler = policy.numpy_sampler()
        rows, samples = bandit_metrics.evaluate_bandit(
            # One compiled sampler call evaluates every setting: the knob is a per-row input.
            lambda obs, values, seed: sampler({"observations": obs}, values, seed),
            sweep,
            data_actions=dataset.arrays["actions"],
            reward_fn=problem.expected_reward,
            observation=dataset.arrays["observations"][0],
            agent=policy.name,
            dataset=problem.name,
            num_samples=self.num_samples,
            seed=self.seed,
            near_data_radius=self.near_data_radius,
        )
        out = out_dir or report.eval_dir(root_dir)
        report.write_csv(rows, os.path.join(out, "sweep.csv"))
        save_samples(os.path.join(out, SAMPLES_FILE), sweep, samples)
        report.log_scalars(
            report.eval_dir(root_dir),
            step,
            {
                f"{sweep.knob.tag_prefix(row['value'])}/{metric}": row[metric]
                for row in rows
                for metric in ("reward", "near_data", "mean_distance")
            },
        )
        print(bandit_metrics.format_table(rows, self.near_data_radius), flush=True)
        print(f"Wrote {os.path.join(out, 'sweep.csv')}", flush=True)
        if self.plot:
            path = plotting.plot_bandit_sweep(
                samples,
                dataset.arrays["actions"],
                os.path.join(out, "samples.png"),
                title=f"{policy.name} on {problem.name} (step {step})",
                knob=sweep.knob,
                metrics_by_value={row["value"]: row for row in rows},
            )
            print(f"Wrote {path}", flush=True)
        return rows


def save_samples(path: str, sweep: Sweep, samples: dict[float, np.ndarray]) -> None:
    """Saves each setting's sampled actions (keys `<param>=<value>`) as one .npz, atomically."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{f"{sweep.name}={v:g}": samples[v] for v in sweep.values})
    fileio.atomic_write_bytes(path, buffer.getvalue())


def load_samples(path: str) -> dict[float, np.ndarray]:
    """Reads `save_samples` output back as {value: [S, action_dim]}."""
    with np.load(path) as data:
        return {float(key.split("=", 1)[1]): data[key] for key in data.files}


suites.register("bandit/", BanditSuite)
