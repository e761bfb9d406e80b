"""The learner: owns the strategy, the agent, checkpoints and the compiled multi-step train loop.

Total-step semantics: `num_steps` is where training ends, counted across restarts. Re-running the
same command restores the latest checkpoint and carries on from its step. Because the batch of a
step and every random draw inside it are pure functions of (seed, step, replica), a resumed run
ends with exactly the weights of an uninterrupted one, and no RNG or iterator state needs to be
checkpointed.
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from cfgrl_tf import distribute
from cfgrl_tf.agents.base import Agent, agent_arguments
from cfgrl_tf.data import features
from cfgrl_tf.data.goals import GoalSampler
from cfgrl_tf.data.reader import BatchSampler, Dataset, check_arrays, make_batch_dataset
from cfgrl_tf.errors import TrainingError

CHECKPOINT_DIR = "checkpoints"
INPUT_PIPELINES = ("auto", "in_graph", "tf_data")
METRICS_CSV = os.path.join("train", "metrics.csv")
# Longest silence between progress lines, whatever the log interval.
PROGRESS_SECONDS = 5.0


def step_seed(seed: int, step: tf.Tensor, replica_id: tf.Tensor) -> tf.Tensor:
    """The stateless [2] seed of one replica at one step."""
    base = tf.constant([seed, 0], tf.int64)
    folded = tf.random.experimental.stateless_fold_in(base, tf.cast(step, tf.int64))
    return tf.random.experimental.stateless_fold_in(folded, tf.cast(replica_id, tf.int64))


class Learner:
    """Trains one agent on one dataset under one strategy, writing everything under `root_dir`.

    Args:
      agent_fn: called as `agent_fn(observation_dim=..., action_dim=...)` inside the strategy scope.
      dataset: the loaded training dataset.
      root_dir: the run directory (checkpoints under `checkpoints/`, logs under `train/`).
      strategy: the tf.distribute strategy.
      batch_size: the global batch size (split evenly over replicas).
      seed: the run's seed.
      steps_per_loop: train steps per compiled loop call (one host round trip per loop).
      checkpoint_interval: steps between checkpoints (also saved at the end).
      max_checkpoints: checkpoints kept on disk.
      jit_compile: compile each replica's train step with XLA.
      goal_sampler: draws the goals of the batches of an agent that trains on goals (default:
        `GoalSampler()` with its gin bindings).
      input_pipeline: where batches are drawn. "in_graph": the dataset's arrays are held on
        every replica's device and each replica gathers its batch (goal draws included) inside
        the compiled multi-step loop, so no batch crosses from the host while training.
        "tf_data": a tf.data pipeline gathers batches on the host and feeds them to the loop
        (the dataset stays in host memory only, once per worker). Both draw the very same
        batches (`reader.BatchSampler`), so the choice changes speed and memory, not results.
        "auto": in_graph when the replicas run on accelerators (GPU, TPU), where a host-side
        gather would feed them across the bus every step; tf_data on CPUs, where the host is
        the device and tf.data's threads draw the next batches while a step computes.
    """

    def __init__(
        self,
        agent_fn: Callable[..., Agent],
        dataset: Dataset,
        root_dir: str,
        strategy: tf.distribute.Strategy,
        *,
        batch_size: int,
        seed: int,
        steps_per_loop: int = 100,
        checkpoint_interval: int = 1000,
        max_checkpoints: int = 3,
        jit_compile: bool = False,
        goal_sampler: GoalSampler | None = None,
        input_pipeline: str = "auto",
    ):
        if input_pipeline not in INPUT_PIPELINES:
            raise TrainingError(
                f"input_pipeline={input_pipeline!r}: expected one of {', '.join(INPUT_PIPELINES)}"
            )
        if input_pipeline == "auto":
            input_pipeline = "in_graph" if _on_accelerators(strategy) else "tf_data"
        self.input_pipeline = input_pipeline
        replicas = strategy.num_replicas_in_sync
        if batch_size % replicas:
            raise TrainingError(
                f"batch_size={batch_size} does not split over {replicas} replicas; "
                f"use a multiple of {replicas}"
            )
        self.dataset = dataset
        self.root_dir = root_dir
        self.strategy = strategy
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.steps_per_loop = int(steps_per_loop)
        self.checkpoint_interval = int(checkpoint_interval)

        # Initial weights come from Keras's global RNG: seed it so a run is a function of its seed
        # from step 0 (two runs with one seed, or a run and its resumption, start alike).
        keras.utils.set_random_seed(self.seed)
        with strategy.scope():
            self.agent = agent_fn(**agent_arguments(agent_fn, dataset.info))
            self.agent.check_dataset(dataset.arrays, dataset.path)
            self.agent.build()
            self.goal_sampler = features.batch_goal_sampler(self.agent.batch_features, goal_sampler)
            self.step = tf.Variable(
                0,
                dtype=tf.int64,
                trainable=False,
                name="global_step",
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
        self.checkpoint = tf.train.Checkpoint(step=self.step, **self.agent.checkpoint_items())
        self.is_chief, task = distribute.worker_id(strategy)
        checkpoint_dir = os.path.join(root_dir, CHECKPOINT_DIR)
        # Saving is collective: every worker saves, but only the chief into the run's folder;
        # the others write to a scratch folder of their own, so files never collide.
        save_dir = (
            checkpoint_dir if self.is_chief else os.path.join(checkpoint_dir, f".worker-{task}")
        )
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, save_dir, max_to_keep=max_checkpoints if self.is_chief else 1
        )
        self.restored_from = tf.train.latest_checkpoint(checkpoint_dir)
        if self.restored_from:
            self._restore_exactly(root_dir)
        self._iterator = None
        self._sampler = None
        if jit_compile and _replicas_share_one_cpu(strategy):
            # XLA compiles every replica's step for the host's one XLA CPU device, which cannot
            # read the variables of logical CPU:1..n ("Trying to access resource ... located in
            # device CPU:1 from device CPU:0"). GPUs and one-device runs keep XLA.
            print(
                f"note: jit_compile is off for this run: {replicas} replicas on logical CPU "
                "devices cannot share XLA's one CPU device (GPU replicas keep it).",
                flush=True,
            )
            jit_compile = False
        # One compiled replica step, shared by both places the loop calls it (one XLA compile).
        self._replica_fn = (
            tf.function(self._replica_step, jit_compile=True) if jit_compile else self._replica_step
        )
        self._loop = tf.function(self._train_loop)

    def _restore_exactly(self, root_dir: str) -> None:
        """Restores the latest checkpoint, refusing one made by another configuration.

        Every value in the checkpoint must land in this agent and every variable of the agent
        must get one: a partial match would resume "at step N" with fresh weights.
        """
        try:
            self.checkpoint.restore(self.restored_from).assert_consumed()
        except (ValueError, AssertionError) as e:
            detail = str(e).strip().splitlines()[0][:300]
            raise TrainingError(
                f"{self.restored_from} was written by a different configuration than this run's "
                f"({detail}). Resume with the gin config in {root_dir}/config.gin, or train in a "
                "new --root_dir."
            ) from None

    @property
    def current_step(self) -> int:
        return int(self.step.numpy())

    # -- input ---------------------------------------------------------------------------------

    def _make_iterator(self):
        arrays = self.dataset.arrays
        start_step = self.current_step
        seed = self.seed

        def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
            per_pipeline_replicas = context.num_replicas_in_sync // context.num_input_pipelines
            return make_batch_dataset(
                arrays,
                batch_size=context.get_per_replica_batch_size(self.batch_size),
                # Each input pipeline (one per worker) draws its own batches.
                seed=seed * 1000 + context.input_pipeline_id,
                # Replicas of a pipeline take consecutive elements, so step s starts at element
                # s * replicas: resuming at step s yields the same batches as never stopping.
                start_element=start_step * per_pipeline_replicas,
                goal_sampler=self.goal_sampler,
            )

        distributed = self.strategy.distribute_datasets_from_function(dataset_fn)
        return iter(distributed)

    # -- compiled loop -------------------------------------------------------------------------

    def _make_sampler(self) -> BatchSampler:
        """The in-graph pipeline's sampler over the dataset held on every replica's device.

        The arrays become non-trainable variables made in the strategy's scope: mirrored, one
        copy per device, read locally by each replica (they are not part of the checkpoint).
        """
        check_arrays(self.dataset.arrays)
        with self.strategy.scope():
            tensors = {
                key: tf.Variable(value, trainable=False, name=f"dataset_{key}")
                for key, value in self.dataset.arrays.items()
            }
        per_replica = self.batch_size // self.strategy.num_replicas_in_sync
        return BatchSampler(tensors, per_replica, self.goal_sampler)

    def _in_graph_batch(self) -> dict[str, tf.Tensor]:
        """This replica's batch of the current step, drawn on its device.

        Replica r of the strategy is replica r % L of input pipeline r // L (L replicas per
        worker, worker-major), and takes element step * L + r % L of its pipeline's stream with
        seed `seed * 1000 + pipeline`: exactly the batch the tf.data pipeline would give it.
        """
        context = tf.distribute.get_replica_context()
        replica = tf.cast(context.replica_id_in_sync_group, tf.int64)
        local = _local_replicas(self.strategy)
        element = self.step * local + replica % local
        return self._sampler(element, self.seed * 1000 + replica // local)

    def _replica_step(self, batch):
        context = tf.distribute.get_replica_context()
        seed = step_seed(self.seed, self.step, context.replica_id_in_sync_group)
        return self.agent.train_step(batch, seed, self.batch_size)

    def _replica_step_in_graph(self):
        # The draw stays outside the XLA-compiled step: XLA's stateless RNG need not produce the
        # host kernel's numbers, and the two pipelines must give the same batches.
        return self._replica_fn(self._in_graph_batch())

    def _one_step(self, iterator):
        if iterator is None:
            per_replica = self.strategy.run(self._replica_step_in_graph)
        else:
            per_replica = self.strategy.run(self._replica_fn, args=(next(iterator),))
        metrics = {
            k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
            for k, v in per_replica.items()
        }
        self.agent.update_targets()
        self.step.assign_add(1)
        return metrics

    def _train_loop(self, iterator, num_steps):
        """Runs up to `num_steps` steps; stops early at the first non-finite metric.

        Returns the metrics summed over the steps run, the number of steps run, and whether the
        last step's metrics were all finite.
        """
        totals = self._one_step(iterator)
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in totals.values()])
        ran = tf.constant(1, tf.int64)
        for _ in tf.range(num_steps - 1):
            if not finite:
                break
            metrics = self._one_step(iterator)
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in metrics.values()])
            totals = {k: totals[k] + metrics[k] for k in totals}
            ran += 1
        return totals, ran, finite

    # -- driver --------------------------------------------------------------------------------

    def train(
        self,
        num_steps: int,
        *,
        log_interval: int = 1000,
        on_log: Callable[[int, dict[str, float]], None] | None = None,
        eval_interval: int = 0,
        on_eval: Callable[[int], None] | None = None,
    ) -> dict[str, float]:
        """Trains until the global step reaches `num_steps`.

        Args:
          num_steps: the total step to stop at (not a number of new steps).
          log_interval: steps between progress lines, TensorBoard and CSV rows (rounded up to a
            multiple of steps_per_loop).
          on_log: called with (step, metrics) at every log point (e.g. to write operative
            config); only on the chief.
          eval_interval: steps between calls of `on_eval` (0: never). A loop that would run past
            a multiple of it stops there (the next one ends on a multiple of steps_per_loop
            again), so `on_eval` sees exact multiples.
          on_eval: called with the step at every multiple of `eval_interval`, after that step's
            log and checkpoint; only on the chief. Its time is left out of the steps/s figures.

        Returns:
          The last logged metrics (mean over the last log interval), or {} if nothing was run.

        Raises:
          TrainingError: a metric became NaN or infinite. The run stops before saving, so the
            latest checkpoint on disk is the last good one.
        """
        if eval_interval < 0:
            raise TrainingError(f"eval_interval={eval_interval} must be >= 0 (0 evaluates never)")
        start = self.current_step
        if start >= num_steps:
            logging.info("step %d >= num_steps %d: nothing to train", start, num_steps)
            print(f"Already at step {start} of {num_steps}: nothing to train.", flush=True)
            return {}
        if self.restored_from:
            print(f"Resuming from {self.restored_from} at step {start}.", flush=True)
        if self.input_pipeline == "tf_data" and self._iterator is None:
            self._iterator = self._make_iterator()
        if self.input_pipeline == "in_graph" and self._sampler is None:
            self._sampler = self._make_sampler()

        # Only the chief writes logs and runs callbacks (which write files too).
        writer = (
            tf.summary.create_file_writer(os.path.join(self.root_dir, "train"))
            if self.is_chief
            else None
        )
        on_log = on_log if self.is_chief else None
        on_eval = on_eval if self.is_chief else None
        csv_path = os.path.join(self.root_dir, METRICS_CSV)
        sums: dict[str, float] = {}
        count = 0
        last: dict[str, float] = {}
        t_start = t_log = t_progress = time.perf_counter()
        eval_seconds = 0.0
        steps_at_log = start
        while self.current_step < num_steps:
            step_before = self.current_step
            # Loops end on multiples of steps_per_loop and, when evaluating, of eval_interval
            # (every worker alike, so that evaluations land on exact steps).
            n = min(
                self.steps_per_loop - step_before % self.steps_per_loop, num_steps - step_before
            )
            if eval_interval:
                n = min(n, eval_interval - step_before % eval_interval)
            totals, ran, finite = self._loop(self._iterator, tf.constant(n, tf.int64))
            totals = {k: float(v) for k, v in totals.items()}
            if not bool(finite):
                bad = sorted(k for k, v in totals.items() if not math.isfinite(v))
                raise TrainingError(
                    f"non-finite {', '.join(bad) or 'metric'} at step {self.current_step} "
                    f"(run {self.root_dir}); stopped without saving, the latest checkpoint "
                    f"({self.manager.latest_checkpoint or 'none'}) is the last good state. "
                    "Lower the learning rate or check the dataset's rewards."
                )
            for k, v in totals.items():
                sums[k] = sums.get(k, 0.0) + v
            count += int(ran)
            step = self.current_step
            if _crossed(step_before, step, log_interval) or step >= num_steps:
                last = {k: v / count for k, v in sums.items()}
                now = time.perf_counter()
                rate = (step - steps_at_log) / max(now - t_log, 1e-9)
                last["perf/steps_per_second"] = rate
                self._log(writer, csv_path, step, last)
                shown = " · ".join(f"{k} {v:.4g}" for k, v in sorted(last.items())[:4])
                print(f"{_progress(step, num_steps, rate)} · {shown}", flush=True)
                if on_log is not None:
                    on_log(step, last)
                sums, count, t_log, steps_at_log = {}, 0, now, step
                t_progress = now
            elif self.is_chief and time.perf_counter() - t_progress >= PROGRESS_SECONDS:
                # Between log points a short line every few seconds, so that no run is silent.
                t_progress = time.perf_counter()
                rate = (step - start) / max(t_progress - t_start, 1e-9)
                print(_progress(step, num_steps, rate), flush=True)
            if _crossed(step_before, step, self.checkpoint_interval) or step >= num_steps:
                self.manager.save(checkpoint_number=step)
            if on_eval is not None and eval_interval and _crossed(step_before, step, eval_interval):
                t_eval = time.perf_counter()
                on_eval(step)
                spent = time.perf_counter() - t_eval
                # Evaluating is not training: the steps/s figures and the training time skip it.
                eval_seconds += spent
                t_start, t_log, t_progress = t_start + spent, t_log + spent, t_progress + spent
        if writer is not None:
            writer.flush()
        elapsed = time.perf_counter() - t_start
        evaluating = f" (and {eval_seconds:.1f}s evaluating)" if eval_seconds else ""
        print(
            f"Trained steps {start}..{self.current_step} in {elapsed:.1f}s{evaluating}.", flush=True
        )
        return last

    def _log(self, writer, csv_path: str, step: int, metrics: dict[str, float]) -> None:
        if writer is None:  # Not the chief.
            return
        with writer.as_default(step=step):
            for k, v in metrics.items():
                tf.summary.scalar(k, v)
        _append_csv(csv_path, step, metrics)


def _progress(step: int, num_steps: int, rate: float) -> str:
    """`step 300/1000 (30%) · 250 steps/s · eta 3s`."""
    eta = (num_steps - step) / max(rate, 1e-9)
    percent = 100 * step / num_steps
    return f"step {step}/{num_steps} ({percent:.0f}%) · {rate:.0f} steps/s · eta {eta:.0f}s"


def _worker_devices(strategy: tf.distribute.Strategy) -> list[str] | None:
    """The device names of this worker's replicas; None for the default strategy (no list)."""
    try:
        return list(strategy.extended.worker_devices)
    except (RuntimeError, AttributeError):
        return None


def _local_replicas(strategy: tf.distribute.Strategy) -> int:
    """The replicas of this worker (its devices); 1 for a strategy without a device list."""
    return max(1, len(_worker_devices(strategy) or ()))


def _is_accelerator(device: str) -> bool:
    return "GPU" in device.upper() or "TPU" in device.upper()


def _on_accelerators(strategy: tf.distribute.Strategy) -> bool:
    """Whether the strategy's replicas run on GPUs or TPUs (the default strategy: whether TF's
    default device is one, i.e. the host has one)."""
    devices = _worker_devices(strategy)
    if devices is None:
        devices = [d.name for d in tf.config.list_logical_devices()]
    return any(_is_accelerator(d) for d in devices)


def _replicas_share_one_cpu(strategy: tf.distribute.Strategy) -> bool:
    """Whether the strategy runs several replicas on (logical) CPU devices of one host."""
    devices = _worker_devices(strategy) or []
    return (
        strategy.num_replicas_in_sync > 1
        and len(devices) > 1
        and all("CPU" in d.upper() for d in devices)
    )


def _crossed(before: int, after: int, interval: int) -> bool:
    """Whether a multiple of `interval` lies in (before, after]."""
    return after // interval > before // interval


def _append_csv(path: str, step: int, metrics: dict[str, float]) -> None:
    """Appends one row; a new file (or a new set of metrics) starts with a header."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    keys = ["step", *sorted(metrics)]
    header_needed = True
    if os.path.exists(path):
        with open(path, newline="") as f:
            first = next(csv.reader(f), None)
        header_needed = first != keys
    with open(path, "a", newline="") as f:
        out = csv.writer(f)
        if header_needed:
            out.writerow(keys)
        out.writerow([step, *(np.format_float_positional(metrics[k], 6) for k in keys[1:])])


def read_metrics(root_dir: str) -> dict[int, dict[str, float]]:
    """{step: metrics} from a run's `train/metrics.csv` ({} before the first log).

    A header line recurs where the set of metrics changed, and a resumed run logs again the steps
    after its last checkpoint: the later row of a step wins.
    """
    path = os.path.join(root_dir, METRICS_CSV)
    if not os.path.isfile(path):
        return {}
    logged: dict[int, dict[str, float]] = {}
    keys: list[str] = []
    with open(path, newline="") as f:
        for line in csv.reader(f):
            if line and line[0] == "step":
                keys = line
            elif line and keys:
                logged[int(line[0])] = {
                    k: float(v) for k, v in zip(keys[1:], line[1:], strict=True)
                }
    return logged
