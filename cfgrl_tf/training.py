"""Training a run, gin-bound: the `train` configurable every experiment's gin file binds.

Everything a run needs to be understood and resumed lives under its root dir:

  config.gin, operative_config.gin, flags.json
  checkpoints/                  tf.train.Checkpoint files (agent, optimizers, global step)
  train/                        TensorBoard events and metrics.csv
  eval/                         the final evaluation (the suite's sweep.csv, plots), TensorBoard
                                events of every evaluation; with train.eval_interval, curve.csv,
                                selection.json and steps/<step>/ (each periodic evaluation's files)
  export/<step>/                SavedModels
"""

from __future__ import annotations

from collections.abc import Callable

import gin
import tensorflow as tf

from cfgrl_tf import errors
from cfgrl_tf import eval as evaluation
from cfgrl_tf.agents import Agent
from cfgrl_tf.data.goals import GoalSampler
from cfgrl_tf.data.reader import load_dataset
from cfgrl_tf.eval import curve
from cfgrl_tf.learner import Learner, read_metrics
from cfgrl_tf.policy import Policy


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
    eval_interval: int = 0,
    selection_metric: str | None = "actor/bc_loss",
    selection_top_k: int = 1,
    goal_sampler: GoalSampler | None = None,
    input_pipeline: str = "auto",
    on_log: Callable[[int, dict], None] | None = None,
) -> Learner:
    """Trains `agent` on `dataset_dir` until step `num_steps`, then evaluates it with the
    dataset's evaluation suite.

    With `eval_interval` the suite also evaluates the policy every `eval_interval` steps (at
    exact multiples; the final evaluation is the one at `num_steps`). TensorBoard gets every
    evaluation's scalars under `eval/` (the learning curve), `eval/curve.csv` one row per step
    and suite row (knob value, and task where a suite has tasks) with every metric, and
    `eval/steps/<step>/` each periodic evaluation's files, so `eval/sweep.csv` stays the final
    evaluation's. When training ends, `eval/selection.json` (and the table it prints,
    `eval/selection.txt`) reports per knob value the last evaluation, the best one with its
    step (online model selection: picks the step by the evaluation score itself, optimistic),
    and the offline selection of Diffusion-QL: the evaluation whose `selection_metric` logged in
    training (the log at or before its step: keep log_interval <= eval_interval) ranks
    `selection_top_k` among the evaluations. A resumed run keeps the curve's earlier rows and
    replaces those of a step it evaluates again.

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
      eval_interval: steps between evaluations during training (0: none, and no curve).
      selection_metric: the training metric (lower is better) of the offline model selection;
        reported when the agent logs it (Diffusion-QL-style agents log `actor/bc_loss`).
      selection_top_k: the rank (0 = lowest metric) of the evaluation the offline selection
        takes; Diffusion-QL's default 1 is the second lowest.
      goal_sampler: how goals are drawn for agents that train on goals (default: `GoalSampler()`
        with its gin bindings).
      input_pipeline: "in_graph" (batches drawn inside the compiled loop from the dataset held
        on each device), "tf_data" (drawn on the host by tf.data) or "auto" (in_graph on GPUs
        and TPUs, tf_data on CPUs); the same batches either way (see `Learner`).
      on_log: called at every log point with (step, metrics).

    Returns:
      The learner (its agent is trained).

    Raises:
      ConfigError: a negative eval_interval or selection_top_k.
    """
    for name, value in (("eval_interval", eval_interval), ("selection_top_k", selection_top_k)):
        if value < 0:
            raise errors.ConfigError(f"train.{name} = {value} must be >= 0")
    dataset = load_dataset(dataset_dir)
    if evaluate_at_end or eval_interval:
        # Refused before any training: otherwise a run would train for hours, then fail to
        # evaluate.
        try:
            evaluation.suite_for(dataset.info)
        except errors.UserError as e:
            raise errors.ConfigError(
                f"{e}. Train without evaluating: train.evaluate_at_end = False and "
                "train.eval_interval = 0"
            ) from None
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
        input_pipeline=input_pipeline,
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
    # One policy for every evaluation, so that its compiled sampler is traced once.
    policy = learner.agent.policy()
    data = evaluation.EvalData.of(dataset)
    suite = _periodic_suite(policy, data) if eval_interval and learner.is_chief else None
    if evaluate_at_end and learner.is_chief and suite is None:
        # The final evaluation's checks (e.g. that the environment exists and observes what the
        # dataset holds) before training, not after hours of it.
        evaluation.suite_for(data.info).check_policy(policy, data)

    def on_eval(step: int) -> None:
        if step >= num_steps and evaluate_at_end:
            return  # The final evaluation below is this step's.
        print(f"\nEvaluating at step {step} (train.eval_interval = {eval_interval}):", flush=True)
        out_dir = curve.step_dir(root_dir, step)
        curve.record(root_dir, step, suite.evaluate(policy, data, root_dir, step, out_dir=out_dir))

    learner.train(
        num_steps,
        log_interval=log_interval,
        on_log=on_log,
        eval_interval=eval_interval,
        on_eval=on_eval if suite is not None else None,
    )
    if evaluate_at_end and learner.is_chief:
        rows = evaluation.evaluate(policy, data, root_dir, learner.current_step)
        if suite is not None:
            curve.record(root_dir, learner.current_step, rows)
    if suite is not None:
        _report_selection(root_dir, suite, policy, selection_metric, selection_top_k)
    return learner


def _periodic_suite(policy: Policy, data: evaluation.EvalData) -> evaluation.Suite:
    """The suite of the evaluations during training, checked before training starts."""
    suite = evaluation.suite_for(data.info)
    suite.check_policy(policy, data)
    curve.check_suite(suite)
    if suite.records_videos:
        suite.video_dir = None  # Videos are the final evaluation's.
    return suite


def _report_selection(
    root_dir: str, suite: evaluation.Suite, policy: Policy, metric: str | None, top_k: int
) -> None:
    """Prints and writes the last, best and offline-selected evaluations of the run's curve."""
    rows = suite.score_rows(curve.read_curve(root_dir))
    if not rows:  # Trained fewer steps than eval_interval, without a final evaluation.
        print("No evaluations to select from: eval/curve.csv is empty.", flush=True)
        return
    logged = read_metrics(root_dir)
    selection = curve.select(
        rows,
        score_metric=suite.score_metric,
        knob_column=suite.knob_column,
        logged=logged,
        metric=metric,
        top_k=top_k,
    )
    if metric and selection["offline"] is None:
        known = sorted({k for metrics in logged.values() for k in metrics})
        print(
            f"note: no offline model selection: train.selection_metric {metric!r} is not "
            f"logged before any evaluation (train/metrics.csv has {known})",
            flush=True,
        )
    print(curve.write_selection(root_dir, selection, policy.knob.tag or "-"), flush=True)
