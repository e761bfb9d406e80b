"""Training a run, gin-bound: the `train` configurable every experiment's gin file binds.

Everything a run needs to be understood and resumed lives under its root dir:

  config.gin, operative_config.gin, flags.json
  checkpoints/                  tf.train.Checkpoint files (agent, optimizers, global step)
  train/                        TensorBoard events and metrics.csv
  eval/                         the evaluation suite's sweep.csv, plots, TensorBoard events
  export/<step>/                SavedModels
"""

from __future__ import annotations

from collections.abc import Callable

import gin
import tensorflow as tf

from cfgrl_tf import eval as evaluation
from cfgrl_tf.agents import Agent
from cfgrl_tf.data.goals import GoalSampler
from cfgrl_tf.data.reader import load_dataset
from cfgrl_tf.learner import Learner


@gin.configurable(denylist=["root_dir", "strategy", "on_log"])
def train(
    root_dir: str,
    strategy: tf.distribute.Strategy,
    dataset_dir: str = gin.REQUIRED,
    agent: Callable[..., Agent] = gin.REQUIRED,
    num_steps: int = 5000,
    batch_size: int = 256,
    seed: int = 0,
    steps_per_loop: int = 100,
    log_interval: int = 1000,
    checkpoint_interval: int = 1000,
    jit_compile: bool = True,
    evaluate_at_end: bool = True,
    goal_sampler: GoalSampler | None = None,
    on_log: Callable[[int, dict], None] | None = None,
) -> Learner:
    """Trains `agent` on `dataset_dir` until step `num_steps`, then evaluates it with the
    dataset's evaluation suite.

    Args:
      root_dir: the run directory; an existing one is resumed from its latest checkpoint.
      strategy: the tf.distribute strategy (chosen by the binary's --strategy flag).
      dataset_dir: a dataset written by `cfgrl-convert`.
      agent: the agent class, e.g. `@CFGRLAgent` in gin.
      num_steps: total train steps (across restarts).
      batch_size: global batch size.
      seed: run seed (batches and every random draw are functions of it and the step).
      steps_per_loop: steps per compiled loop call.
      log_interval: steps between progress lines and logged metrics.
      checkpoint_interval: steps between checkpoints.
      jit_compile: compile each replica's step with XLA.
      evaluate_at_end: evaluate the policy when training ends.
      goal_sampler: how goals are drawn for agents that train on goals (default: `GoalSampler()`
        with its gin bindings).
      on_log: called at every log point with (step, metrics).

    Returns:
      The learner (its agent is trained).
    """
    dataset = load_dataset(dataset_dir)
    learner = Learner(
        agent,
        dataset,
        root_dir,
        strategy,
        batch_size=batch_size,
        seed=seed,
        steps_per_loop=steps_per_loop,
        checkpoint_interval=checkpoint_interval,
        jit_compile=jit_compile,
        goal_sampler=goal_sampler,
    )
    if learner.current_step >= num_steps:
        # A finished run is not trained or evaluated again (that would add TensorBoard points
        # at the same step); evaluating it again is cfgrl-eval's job.
        if learner.is_chief:
            print(
                f"{root_dir} is finished (step {learner.current_step} of {num_steps}): nothing "
                f"to do. Evaluate it again with `cfgrl-eval --root_dir={root_dir}`, or raise "
                "train.num_steps to train on.",
                flush=True,
            )
        return learner
    learner.train(num_steps, log_interval=log_interval, on_log=on_log)
    if evaluate_at_end and learner.is_chief:
        evaluation.evaluate(
            learner.agent.policy(), evaluation.EvalData.of(dataset), root_dir, learner.current_step
        )
    return learner
