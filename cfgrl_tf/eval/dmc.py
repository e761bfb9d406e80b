"""The DeepMind Control suite: a task's episode return over the knob, every rollout in lockstep.

Evaluates the datasets converted from ExORL (`cfgrl_tf.data.exorl`, sources "exorl/<algorithm>/
<task>") on their task, built as ExORL builds it (`envs/dmc_tasks.py`). Every (episode, knob
value) rollout runs side by side with one compiled policy call per environment step
(`envs/dmc_eval.py`), the same start at every knob value, for the task's full 1000 steps (250 for
jaco). The score is the return, the sum of the task's rewards (in [0, 1] per step), as ExORL and
the paper report it. Prints the table (return, its standard error, min, max per w or
temperature) and writes `eval/sweep.csv`, `eval/episodes.csv`, TensorBoard scalars and
`eval/return.png`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import gin

from cfgrl_tf.envs import dmc_eval
from cfgrl_tf.eval import returns, suites
from cfgrl_tf.policy import Policy


@gin.configurable
class DMCSuite(suites.Suite):
    """The return of a policy on its dataset's DeepMind Control task, over its knob.

    Args:
      episodes: episodes, each run at every knob value from the same start.
      sweep_values: knob values instead of the policy's default sweep.
      seed: sets the episodes' starts (the same for every knob value) and the policy noise.
      env_workers: processes stepping the environments (default: one per core for a large
        evaluation, else 1; results do not depend on it).
      max_episode_steps: ends episodes sooner than the task's time limit (for quick checks:
        returns are then not comparable with ExORL's).
      plot: write `eval/return.png`.
    """

    inputs = ("observations",)
    score_metric = "return"
    knob_column = "sweep_value"

    def __init__(
        self,
        episodes: int = 10,
        sweep_values: Sequence[float] | None = None,
        seed: int = 0,
        max_episode_steps: int | None = None,
        env_workers: int | None = None,
        plot: bool = True,
    ):
        self.episodes = episodes
        self.sweep_values = sweep_values
        self.seed = seed
        self.max_episode_steps = max_episode_steps
        self.env_workers = env_workers
        self.plot = plot

    def evaluate(self, policy: Policy, data, root_dir, step, *, out_dir=None):
        sweep = policy.sweep.with_values(self.sweep_values, policy.name)
        task = task_name(data.info.source)
        started = time.perf_counter()
        results = dmc_eval.evaluate_lockstep(
            task,
            policy.numpy_sampler(),
            sweep_values=sweep.values,
            episodes=self.episodes,
            seed=self.seed,
            max_episode_steps=self.max_episode_steps,
            env_workers=self.env_workers,
        )
        elapsed = time.perf_counter() - started
        return returns.report(
            results,
            task,
            policy_name=policy.name,
            knob=sweep.knob,
            root_dir=root_dir,
            out_dir=out_dir,
            step=step,
            episodes=self.episodes,
            elapsed=elapsed,
            plot=self.plot,
        )


def task_name(source: dict) -> str:
    """The task of an ExORL dataset's source: its `env_name` ("walker_walk"), or the last part of
    its name ("exorl/rnd/walker_walk") for a source that has none."""
    return source.get("env_name") or source.get("name", "").rsplit("/", 1)[-1]


suites.register("exorl/", DMCSuite)
