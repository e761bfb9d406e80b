"""The OGBench single-task suite: one task's success and return, every rollout in lockstep.

Every (episode, knob value) rollout runs side by side with one compiled policy call per
environment step (`envs/lockstep.py`), the same start at every knob value. Prints the table
(success, its standard error and the mean return per w or temperature) and writes `eval/sweep.csv`,
`eval/episodes.csv`, TensorBoard scalars, `eval/success.png` and, in mazes, `eval/rollouts.png`
(the rollouts on the maze, one panel per knob value).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import gin

from cfgrl_tf.data import ogbench_singletask
from cfgrl_tf.envs import episodes, ogbench_task
from cfgrl_tf.eval import episode_plots, report, suites
from cfgrl_tf.policy import Policy


@gin.configurable
class OGBenchTaskSuite(suites.Suite):
    """OGBench's evaluation of a single-task policy over its knob.

    Args:
      episodes: episodes, each run at every knob value from the same start.
      sweep_values: knob values instead of the policy's default sweep.
      seed: sets the episodes' starts (the same for every knob value) and the policy noise.
      env_workers: processes stepping the environments (default: one per core for a large
        evaluation, else 1; results do not depend on it).
      max_episode_steps: overrides the environment's time limit.
      video_dir: write a video of the first episode at the largest knob value here (needs
        MUJOCO_GL=egl or osmesa).
      plot: write `eval/success.png` (and `eval/rollouts.png` in mazes).
    """

    inputs = ("observations",)
    records_videos = True
    score_metric = "success"
    knob_column = "sweep_value"

    def __init__(
        self,
        episodes: int = 50,
        sweep_values: Sequence[float] | None = None,
        seed: int = 0,
        max_episode_steps: int | None = None,
        env_workers: int | None = None,
        video_dir: str | None = None,
        plot: bool = True,
    ):
        self.episodes = episodes
        self.sweep_values = sweep_values
        self.seed = seed
        self.max_episode_steps = max_episode_steps
        self.env_workers = env_workers
        self.video_dir = video_dir
        self.plot = plot

    def evaluate(self, policy: Policy, data, root_dir, step, *, out_dir=None):
        sweep = policy.sweep.with_values(self.sweep_values, policy.name)
        env_name = data.info.source.get("env_name")
        started = time.perf_counter()
        results = ogbench_task.evaluate_lockstep(
            env_name,
            policy.numpy_sampler(),
            sweep_values=sweep.values,
            episodes=self.episodes,
            seed=self.seed,
            max_episode_steps=self.max_episode_steps,
            env_workers=self.env_workers,
            video_dir=self.video_dir,
        )
        elapsed = time.perf_counter() - started
        rows = [r for r in episodes.summarize(results) if r["task_id"] == "overall"]
        task_id = results[0].task_id
        for row in rows:
            row["task_id"] = task_id
        out = out_dir or report.eval_dir(root_dir)
        report.write_csv(rows, os.path.join(out, "sweep.csv"))
        report.write_csv(episodes.episode_rows(results), os.path.join(out, "episodes.csv"))
        scalars = {}
        for row in rows:
            prefix = sweep.knob.tag_prefix(row["sweep_value"])
            scalars[f"{prefix}/success"] = row["success"]
            scalars[f"{prefix}/return"] = row["return"]
        report.log_scalars(report.eval_dir(root_dir), step, scalars)
        print(
            f"\n{policy.name} on {env_name} (task {task_id}) at step {step}: "
            f"{self.episodes} episodes per {sweep.knob.label} ({len(results)} rollouts in "
            f"{elapsed:.0f}s)",
            flush=True,
        )
        print(format_table(rows, sweep.knob.tag or "-"), flush=True)
        print(f"Wrote {os.path.join(out, 'sweep.csv')}", flush=True)
        if self.plot:
            episode_plots.write_all(
                policy.name, sweep.knob, rows, results, env_name, out, step, (task_id,)
            )
        return rows


def format_table(rows: Sequence[dict], param_name: str) -> str:
    """One line per knob value: success, its standard error, mean return, episodes."""
    header = [param_name, "success", "se", "return", "episodes"]
    lines = [
        [
            f"{r['sweep_value']:g}",
            f"{r['success']:.3f}",
            f"{r['success_se']:.3f}",
            f"{r['return']:.1f}",
            str(r["episodes"]),
        ]
        for r in rows
    ]
    return episodes.format_columns(header, lines)


suites.register("ogbench/", OGBenchTaskSuite, when=ogbench_singletask.is_single_task)
