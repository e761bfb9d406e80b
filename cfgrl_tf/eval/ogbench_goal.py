"""The OGBench goal-conditioned suite: the environment's five tasks, every rollout in lockstep.

Every (task, episode, knob value) rollout runs side by side with one compiled policy call per
environment step (`envs/lockstep.py`), the same start states and goals at every knob value.
Prints the success table (overall and per task, per w) and writes `eval/sweep.csv` (the summary
rows), `eval/episodes.csv` (one row per episode), TensorBoard scalars, `eval/success.png` and, in
mazes, `eval/rollouts.png` (the rollouts of every task on the maze, one panel per w).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import gin

from cfgrl_tf.data import features
from cfgrl_tf.envs import episodes, ogbench_goal
from cfgrl_tf.eval import episode_plots, report, suites
from cfgrl_tf.policy import Policy


@gin.configurable
class OGBenchGoalSuite(suites.Suite):
    """OGBench's evaluation of a goal-conditioned policy over its knob.

    Args:
      task_ids: OGBench evaluation tasks (1..5).
      episodes_per_task: episodes per task, each run at every knob value.
      sweep_values: guidance weights instead of the policy's default sweep.
      seed: sets the episodes' start states and goals (the same for every w) and the policy noise.
      env_workers: processes stepping the environments (default: one per core for a large
        evaluation, else 1; results do not depend on it).
      max_episode_steps: overrides the environment's time limit.
      video_dir: write one video per task here (needs MUJOCO_GL=egl or osmesa).
      plot: write `eval/success.png`.
    """

    inputs = ("observations", "goals")
    records_videos = True
    score_metric = "success"
    knob_column = "sweep_value"

    def __init__(
        self,
        task_ids: Sequence[int] = (1, 2, 3, 4, 5),
        episodes_per_task: int = 10,
        sweep_values: Sequence[float] | None = None,
        seed: int = 0,
        max_episode_steps: int | None = None,
        env_workers: int | None = None,
        video_dir: str | None = None,
        plot: bool = True,
    ):
        self.task_ids = task_ids
        self.episodes_per_task = episodes_per_task
        self.sweep_values = sweep_values
        self.seed = seed
        self.max_episode_steps = max_episode_steps
        self.env_workers = env_workers
        self.video_dir = video_dir
        self.plot = plot

    def score_rows(self, rows):
        # The per-task rows break the overall success down; the overall rows score the policy.
        return [row for row in rows if row["task_id"] == "overall"]

    def evaluate(self, policy: Policy, data, root_dir, step, *, out_dir=None):
        sweep = policy.sweep.with_values(self.sweep_values, policy.name)
        env_name = data.info.source.get("env_name")
        started = time.perf_counter()
        results = ogbench_goal.evaluate_lockstep(
            env_name,
            policy.numpy_sampler(),
            sweep_values=sweep.values,
            task_ids=self.task_ids,
            episodes_per_task=self.episodes_per_task,
            seed=self.seed,
            max_episode_steps=self.max_episode_steps,
            env_workers=self.env_workers,
            goal_key=data.info.source.get("goal_key", "observations"),
            video_dir=self.video_dir,
        )
        elapsed = time.perf_counter() - started
        rows = episodes.summarize(results)
        out = out_dir or report.eval_dir(root_dir)
        report.write_csv(rows, os.path.join(out, "sweep.csv"))
        report.write_csv(episodes.episode_rows(results), os.path.join(out, "episodes.csv"))
        scalars = {}
        for row in rows:
            tag = "success" if row["task_id"] == "overall" else f"task{row['task_id']}_success"
            scalars[f"{sweep.knob.tag_prefix(row['sweep_value'])}/{tag}"] = row["success"]
        report.log_scalars(report.eval_dir(root_dir), step, scalars)
        print(
            f"\n{policy.name} on {env_name} at step {step}: success over {len(self.task_ids)} "
            f"tasks x {self.episodes_per_task} episodes ({len(results)} rollouts in "
            f"{elapsed:.0f}s)",
            flush=True,
        )
        print(episodes.format_table(rows, param_name=sweep.knob.tag or "-"), flush=True)
        print(f"Wrote {os.path.join(out, 'sweep.csv')}", flush=True)
        if self.plot:
            overall = [r for r in rows if r["task_id"] == "overall"]
            episode_plots.write_all(
                policy.name, sweep.knob, overall, results, env_name, out, step, self.task_ids
            )
        return rows


suites.register("ogbench/", OGBenchGoalSuite, when=features.has_trajectories)
