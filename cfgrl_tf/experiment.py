"""A run directory's life cycle, gin-bound: train, evaluate, restore, export.

The binaries in `cli/` only parse flags and gin and call these functions. Everything a run needs
to be understood and resumed lives under its root dir:

  config.gin, operative_config.gin, flags.json
  checkpoints/                  tf.train.Checkpoint files (agent, optimizers, global step)
  train/                        TensorBoard events and metrics.csv
  eval/                         sweep.csv, samples.png, TensorBoard events
  export/<step>/                SavedModels
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Sequence

import gin
import numpy as np
import tensorflow as tf

from cfgrl_tf import evaluation, export, fileio, gin_config, plotting
from cfgrl_tf.agents import Agent  # noqa: F401 - registers the agents with gin
from cfgrl_tf.agents.base import agent_arguments
from cfgrl_tf.data import bandit
from cfgrl_tf.data.goals import GoalSampler
from cfgrl_tf.data.reader import Dataset, load_dataset
from cfgrl_tf.data.spec import DatasetInfo
from cfgrl_tf.errors import ExportError, UserError
from cfgrl_tf.learner import CHECKPOINT_DIR, Learner

EVAL_DIR = "eval"
EXPORT_DIR = "export"


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
    """Trains `agent` on `dataset_dir` until step `num_steps`, then evaluates.

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
      evaluate_at_end: run `evaluate_agent` when training ends.
      goal_sampler: how goal-conditioned agents' goals are drawn (default: `GoalSampler()` with
        its gin bindings).
      on_log: called at every log point with (step, metrics).

    Returns:
      The learner (its agent is trained).
    """
    dataset = load_dataset(dataset_dir)
    if goal_sampler is None and getattr(agent, "goal_conditioned", False):
        goal_sampler = GoalSampler()
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
        evaluate_agent(learner.agent, dataset, root_dir, learner.current_step)
    return learner


@gin.configurable(denylist=["agent", "dataset", "root_dir", "step"])
def evaluate_agent(
    agent: Agent,
    dataset: Dataset,
    root_dir: str,
    step: int,
    num_samples: int = 2000,
    seed: int = 0,
    near_data_radius: float = 0.1,
    sweep_values: Sequence[float] | None = None,
    plot: bool = True,
) -> list[dict]:
    """Samples the agent over its sweep, prints a table and writes `eval/sweep.csv` and a PNG.

    Args:
      agent: a trained agent.
      dataset: its training dataset (the data actions and, for bandits, the reward function).
      root_dir: the run directory.
      step: the checkpoint step evaluated (for TensorBoard).
      num_samples: actions sampled per sweep setting.
      seed: sampling seed.
      near_data_radius: a sample is "near the data" within this distance of a dataset action.
      sweep_values: settings to evaluate instead of the agent's default sweep.
      plot: write `eval/samples.png`, one panel per setting.

    Returns:
      One row per sweep setting (the rows of `sweep.csv`).
    """
    source = dataset.info.source.get("name", "")
    if agent.goal_conditioned:
        return evaluate_goal_agent(agent, dataset.info, root_dir, step)
    if not source.startswith("bandit/"):
        raise UserError(
            f"evaluation of dataset source {source!r} ({dataset.path}) is not supported yet: "
            "only 2-D bandit datasets (source 'bandit/...') are"
        )
    problem = bandit.get_bandit(source.split("/", 1)[1])
    sweep = agent.eval_sweep()
    if sweep_values is not None:
        sweep = evaluation.Sweep(sweep.name, tuple(sweep_values))
    # One compiled sampler call evaluates every setting: the sweep value is a per-row input.
    # (The agent compiles its flow integration with XLA; the noise stays outside it.)
    sampler = tf.function(agent.sample_actions)

    def sample_fn(observations, values, sample_seed):
        return sampler(
            tf.constant(observations), tf.constant(values), tf.constant(sample_seed, tf.int64)
        )

    rows, samples = evaluation.evaluate_bandit(
        sample_fn,
        sweep,
        data_actions=dataset.arrays["actions"],
        reward_fn=problem.expected_reward,
        observation=dataset.arrays["observations"][0],
        agent=agent.name,
        dataset=problem.name,
        num_samples=num_samples,
        seed=seed,
        near_data_radius=near_data_radius,
    )
    eval_dir = os.path.join(root_dir, EVAL_DIR)
    evaluation.write_csv(rows, os.path.join(eval_dir, "sweep.csv"))
    save_samples(os.path.join(eval_dir, "samples.npz"), sweep, samples)
    _log_eval_scalars(eval_dir, step, sweep, rows)
    print(evaluation.format_table(rows, near_data_radius), flush=True)
    print(f"Wrote {os.path.join(eval_dir, 'sweep.csv')}", flush=True)
    if plot:
        path = plotting.plot_bandit_sweep(
            samples,
            dataset.arrays["actions"],
            os.path.join(eval_dir, "samples.png"),
            title=f"{agent.name} on {problem.name} (step {step})",
            param=sweep.name,
            metrics_by_value={row["value"]: row for row in rows},
        )
        print(f"Wrote {path}", flush=True)
    return rows


def goal_policy(agent: Agent) -> Callable[..., np.ndarray]:
    """A goal-conditioned agent's sampler as the numpy policy the OGBench evaluator calls.

    Compiled once with a None batch dimension, so the shrinking batches of a lockstep rollout
    do not retrace it (the agent's XLA integration compiles once per distinct batch size).
    """
    sampler = tf.function(
        lambda obs, goals, values, seed: agent.sample_actions(obs, values, seed, goals=goals),
        input_signature=[
            tf.TensorSpec([None, agent.observation_dim], tf.float32),
            tf.TensorSpec([None, agent.goal_dim], tf.float32),
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([], tf.int64),
        ],
    )
    return lambda obs, goals, values, seed: sampler(
        tf.constant(obs, tf.float32),
        tf.constant(goals, tf.float32),
        tf.constant(values, tf.float32),
        tf.constant(seed, tf.int64),
    ).numpy()


@gin.configurable(denylist=["agent", "info", "root_dir", "step"])
def evaluate_goal_agent(
    agent: Agent,
    info: DatasetInfo,
    root_dir: str,
    step: int,
    task_ids: Sequence[int] = (1, 2, 3, 4, 5),
    episodes_per_task: int = 10,
    sweep_values: Sequence[float] | None = None,
    seed: int = 0,
    max_episode_steps: int | None = None,
    video_dir: str | None = None,
    plot: bool = True,
) -> list[dict]:
    """OGBench's evaluation of a goal-conditioned agent over its sweep, every rollout in lockstep.

    Prints the success table (overall and per task, per w) and writes `eval/sweep.csv` (the
    summary rows), `eval/episodes.csv` (one row per episode), TensorBoard scalars and
    `eval/success.png`.

    Args:
      agent: a trained goal-conditioned agent.
      info: its training dataset's info (the environment and goal representation).
      root_dir: the run directory.
      step: the checkpoint step evaluated.
      task_ids: OGBench evaluation tasks (1..5).
      episodes_per_task: episodes per task, each run at every sweep value.
      sweep_values: guidance weights instead of the agent's default sweep.
      seed: sets the episodes' start states and goals (the same for every w) and the policy noise.
      max_episode_steps: overrides the environment's time limit.
      video_dir: write one video per task here (needs MUJOCO_GL=egl or osmesa).
      plot: write `eval/success.png`.

    Returns:
      The summary rows (`sweep_value`, `task_id` or 'overall', `success`, `success_se`,
      `episodes`).
    """
    from cfgrl_tf.envs import ogbench_eval  # noqa: PLC0415 - imports MuJoCo lazily.

    sweep = agent.eval_sweep()
    if sweep_values is not None:
        if sweep.name != "guidance_weight":
            raise UserError(f"agent {agent.name!r} has no guidance weight to sweep")
        sweep = evaluation.Sweep(sweep.name, tuple(float(v) for v in sweep_values))
    env_name = info.source.get("env_name")
    started = time.perf_counter()
    results = ogbench_eval.evaluate_lockstep(
        env_name,
        goal_policy(agent),
        sweep_values=sweep.values,
        task_ids=task_ids,
        episodes_per_task=episodes_per_task,
        seed=seed,
        max_episode_steps=max_episode_steps,
        goal_key=info.source.get("goal_key", "observations"),
        video_dir=video_dir,
    )
    elapsed = time.perf_counter() - started
    rows = ogbench_eval.summarize(results)
    eval_dir = os.path.join(root_dir, EVAL_DIR)
    evaluation.write_csv(rows, os.path.join(eval_dir, "sweep.csv"))
    evaluation.write_csv(ogbench_eval.episode_rows(results), os.path.join(eval_dir, "episodes.csv"))
    writer = tf.summary.create_file_writer(eval_dir)
    with writer.as_default(step=step):
        for row in rows:
            prefix = f"eval/w_{row['sweep_value']:g}" if sweep.name == "guidance_weight" else "eval"
            tag = "success" if row["task_id"] == "overall" else f"task{row['task_id']}_success"
            tf.summary.scalar(f"{prefix}/{tag}", row["success"])
    writer.flush()
    param = "w" if sweep.name == "guidance_weight" else "-"
    print(
        f"\n{agent.name} on {env_name} at step {step}: success over {len(task_ids)} tasks x "
        f"{episodes_per_task} episodes ({len(results)} rollouts in {elapsed:.0f}s)",
        flush=True,
    )
    print(ogbench_eval.format_table(rows, param_name=param), flush=True)
    print(f"Wrote {os.path.join(eval_dir, 'sweep.csv')}", flush=True)
    if plot:
        overall = [r for r in rows if r["task_id"] == "overall"]
        curve = [(r["sweep_value"], r["success"], r["success_se"]) for r in overall]
        path = os.path.join(eval_dir, "success.png")
        title = f"{agent.name} on {env_name} (step {step})"
        if sweep.name == "guidance_weight":
            plotting.plot_success_vs_param({agent.name: curve}, path, title)
        else:
            plotting.plot_success_vs_param(
                {}, path, title, reference_lines={agent.name: curve[0][1]}
            )
        print(f"Wrote {path}", flush=True)
    return rows


def save_samples(path: str, sweep: evaluation.Sweep, samples: dict[float, np.ndarray]) -> None:
    """Saves each setting's sampled actions (keys `<param>=<value>`) as one .npz, atomically."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{f"{sweep.name}={v:g}": samples[v] for v in sweep.values})
    fileio.atomic_write_bytes(path, buffer.getvalue())


def load_samples(path: str) -> dict[float, np.ndarray]:
    """Reads `save_samples` output back as {value: [S, action_dim]}."""
    with np.load(path) as data:
        return {float(key.split("=", 1)[1]): data[key] for key in data.files}


def _log_eval_scalars(eval_dir: str, step: int, sweep: evaluation.Sweep, rows: list[dict]) -> None:
    symbol = {"guidance_weight": "w", "temperature": "t"}.get(sweep.name)
    writer = tf.summary.create_file_writer(eval_dir)
    with writer.as_default(step=step):
        for row in rows:
            prefix = f"eval/{symbol}_{row['value']:g}" if symbol else "eval"
            for metric in ("reward", "near_data", "mean_distance"):
                tf.summary.scalar(f"{prefix}/{metric}", row[metric])
    writer.flush()


# -- restoring a finished run ------------------------------------------------------------------


def parse_run_config(root_dir: str, extra_bindings: Sequence[str] = ()) -> None:
    """Parses the `config.gin` a run wrote (plus bindings to override), replacing gin's state."""
    path = os.path.join(root_dir, "config.gin")
    if not os.path.exists(path):
        raise UserError(f"{path} not found: is {root_dir!r} the root dir of a cfgrl-train run?")
    gin.clear_config()
    gin_config.parse_gin([path], extra_bindings)


def restore_agent(root_dir: str) -> tuple[Agent, int, str]:
    """Builds the configured agent and restores the run's latest checkpoint.

    Call after `parse_run_config`.

    Returns:
      (agent, step, dataset_dir).

    Raises:
      ExportError: the run has no checkpoint.
    """
    dataset_dir = gin.query_parameter("train.dataset_dir")
    agent_fn = gin.query_parameter("train.agent").scoped_configurable_fn
    ckpt_dir = os.path.join(root_dir, CHECKPOINT_DIR)
    latest = tf.train.latest_checkpoint(ckpt_dir)
    if latest is None:
        raise ExportError(f"no checkpoint in {ckpt_dir}: train the run first (cfgrl-train)")
    if not os.path.isdir(dataset_dir):
        raise UserError(
            f"dataset directory {dataset_dir} does not exist (train.dataset_dir in "
            f"{os.path.join(root_dir, 'config.gin')}); rebind it with "
            "--gin_bindings=\"train.dataset_dir='...'\" if the dataset moved"
        )
    info = DatasetInfo.read(dataset_dir)
    agent = agent_fn(**agent_arguments(agent_fn, info))
    agent.build()
    step = tf.Variable(0, dtype=tf.int64)
    # Optimizer slots are not needed to sample; every network weight must be restored.
    status = tf.train.Checkpoint(step=step, **agent.checkpoint_items()).restore(latest)
    status.expect_partial().assert_existing_objects_matched()
    return agent, int(step.numpy()), dataset_dir


def export_run(root_dir: str, temperature: float | None = None) -> str:
    """Exports the latest checkpoint of a run to `<root_dir>/export/<step>/`.

    Args:
      root_dir: the run directory (its config.gin must already be parsed).
      temperature: for IQL+AWR, the head to export (default: the highest temperature).

    Returns:
      The export directory.
    """
    agent, step, dataset_dir = restore_agent(root_dir)
    sweep = agent.eval_sweep()
    override = None
    if sweep.name == "temperature":
        override = float(temperature) if temperature is not None else max(sweep.values)
        if override not in sweep.values:
            raise ExportError(
                f"--temperature={override:g} is not one this run trained; it has {sweep.values}"
            )
    elif temperature is not None:
        raise ExportError(f"--temperature applies to IQL+AWR runs, not to agent {agent.name!r}")
    info = DatasetInfo.read(dataset_dir)
    metadata = {
        "agent": agent.name,
        "step": step,
        "observation_dim": agent.observation_dim,
        "action_dim": agent.action_dim,
        "action_scale": info.action_scale,
        "dataset_source": info.source,
        "guidance_weight_input": {
            "guidance_weight": "used: v = v_null + w * (v_cond - v_null)",
            "temperature": f"ignored: the export samples the AWR head of temperature {override}",
            "none": "ignored: the policy has no guidance",
        }[sweep.name],
        "signature": {
            "inputs": {
                "observations": [None, agent.observation_dim],
                **({"goals": [None, agent.goal_dim]} if agent.goal_conditioned else {}),
                "guidance_weight": [None],
                "seed": [],
            },
            "outputs": {"actions": [None, agent.action_dim]},
        },
    }
    if agent.goal_conditioned:
        metadata["env_name"] = info.source.get("env_name")
        metadata["goal_key"] = info.source.get("goal_key")
    export_dir = os.path.join(root_dir, EXPORT_DIR, str(step))
    return export.export_policy(agent, export_dir, metadata=metadata, sweep_override=override)


def sample_in_memory(agent: Agent) -> Callable[[np.ndarray, np.ndarray, int], np.ndarray]:
    """The agent's compiled sampler as a numpy function (what the export must reproduce)."""
    sampler = tf.function(agent.sample_actions)
    return lambda obs, values, seed: sampler(
        tf.constant(obs, tf.float32), tf.constant(values, tf.float32), tf.constant(seed, tf.int64)
    ).numpy()
