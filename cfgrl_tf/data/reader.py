"""Reads a dataset written by `writer.write_dataset` and feeds it to training.

`load_dataset` checks the directory against its `dataset_info.json` and reads it shard by shard, so
that any problem is reported as a `DatasetError` naming the shard at fault instead of a
TensorFlow traceback. `make_batch_dataset` turns the loaded arrays into the infinite, resumable
stream of uniformly sampled batches that training consumes.
"""

from __future__ import annotations

import dataclasses
import os
import re

import numpy as np
import tensorflow as tf

from cfgrl_tf import errors
from cfgrl_tf.data import spec
from cfgrl_tf.data.goals import GoalSampler

_TF_DTYPES = {"float32": tf.float32, "int64": tf.int64}
_READ_BATCH = 8192
# Both the per-element seed derivation and the sampling name the algorithm rather than use
# "auto_select", which may pick a different one per device type and break bit-exact resume.
_RNG_ALG = "philox"


@dataclasses.dataclass
class Dataset:
    """A dataset loaded into memory.

    Attributes:
      path: the dataset directory.
      info: its `dataset_info.json`.
      arrays: feature name to an array of shape `[num_records, *shape]`, in written order.
    """

    path: str
    info: spec.DatasetInfo
    arrays: dict[str, np.ndarray]

    @property
    def num_records(self) -> int:
        return self.info.num_records


def load_dataset(path: str) -> Dataset:
    """Loads every record of the dataset at `path` into numpy arrays.

    Args:
      path: a directory written by `write_dataset` (e.g. by `cfgrl-convert`).

    Returns:
      The dataset, with the records of all shards concatenated in shard order.

    Raises:
      DatasetError: `dataset_info.json` is missing or invalid, a shard is missing, has a size
        other than the recorded one, is corrupt, holds records that do not match the feature spec,
        or holds a number of records other than the recorded one. The message names the file.
    """
    info = spec.DatasetInfo.read(path)
    shard_paths = [os.path.join(path, shard.file) for shard in info.shards]
    # Check every shard before reading any, so a missing one fails fast.
    for shard, shard_path in zip(info.shards, shard_paths, strict=True):
        if not os.path.isfile(shard_path):
            raise errors.DatasetError(
                f"shard {shard_path} is missing (listed in {spec.INFO_FILENAME})"
            )
        size = os.path.getsize(shard_path)
        if size != shard.num_bytes:
            raise errors.DatasetError(
                f"shard {shard_path} is {size} bytes but {spec.INFO_FILENAME} records "
                f"{shard.num_bytes}: it was truncated or modified after the dataset was written"
            )

    parse_spec = {
        key: tf.io.FixedLenFeature(feature.shape, _TF_DTYPES[feature.dtype])
        for key, feature in info.features.items()
    }
    parts: dict[str, list[np.ndarray]] = {key: [] for key in info.features}
    for shard, shard_path in zip(info.shards, shard_paths, strict=True):
        shard_arrays = _read_shard(shard_path, parse_spec)
        count = len(next(iter(shard_arrays.values())))
        if count != shard.num_records:
            raise errors.DatasetError(
                f"shard {shard_path} holds {count} records but {spec.INFO_FILENAME} records "
                f"{shard.num_records}"
            )
        for key, value in shard_arrays.items():
            parts[key].append(value)
    arrays = {key: np.concatenate(value, axis=0) for key, value in parts.items()}
    return Dataset(path=path, info=info, arrays=arrays)


def _read_shard(
    shard_path: str, parse_spec: dict[str, tf.io.FixedLenFeature]
) -> dict[str, np.ndarray]:
    """Reads and parses one shard, translating TensorFlow's errors into `DatasetError`."""
    records = (
        tf.data.TFRecordDataset(shard_path)
        .batch(_READ_BATCH)
        .map(lambda serialized: tf.io.parse_example(serialized, parse_spec))
    )
    batches: dict[str, list[np.ndarray]] = {key: [] for key in parse_spec}
    try:
        for batch in records:
            for key, value in batch.items():
                batches[key].append(value.numpy())
    except tf.errors.DataLossError as e:
        raise errors.DatasetError(
            f"shard {shard_path} is corrupt ({_clean_message(e)}); rebuild the dataset"
        ) from None
    except tf.errors.InvalidArgumentError as e:
        # parse_example names the feature as "Key: x" (wrong size or type) or "Feature: x"
        # (missing).
        match = re.search(r"\b(?:Key|Feature): (\w+)", e.message)
        culprit = f" (feature {match.group(1)!r})" if match else ""
        raise errors.DatasetError(
            f"shard {shard_path}: records do not match the feature spec in "
            f"{spec.INFO_FILENAME}{culprit}: {_clean_message(e)}"
        ) from None
    except tf.errors.OpError as e:
        raise errors.DatasetError(
            f"shard {shard_path} cannot be read: {_clean_message(e)}"
        ) from None
    return {
        key: (
            np.concatenate(values, axis=0)
            if values
            else np.zeros((0, *parse_spec[key].shape), parse_spec[key].dtype.as_numpy_dtype)
        )
        for key, values in batches.items()
    }


def _clean_message(error: tf.errors.OpError) -> str:
    """TensorFlow's explanation without the function, iterator and op context around it."""
    lines = error.message.strip().splitlines()
    message = lines[0] if lines else ""
    for pattern in (
        r"\{\{function_node [^}]*\}\}\s*",
        r"Error in user-defined function passed to .*? transformation with iterator: \S+: ",
        r"Name: <unknown>, ",
        r"\s*\[Op:\w+\].*$",
    ):
        message = re.sub(pattern, "", message)
    return message.strip() or type(error).__name__


class BatchSampler:
    """Element k of a seeded stream of batches, as a pure TensorFlow function of (k, seed).

    Element k gathers the records at
    `stateless_uniform([batch_size], seed=stateless_fold_in([seed, 0], k), 0, N)`, plus the goals
    a `GoalSampler` draws for them from the same element seed. Being a pure function of `(k,
    seed)`, it serves both input pipelines alike: `make_batch_dataset` maps it over a tf.data
    counter on the host, and the learner's in-graph pipeline calls it inside the compiled train
    loop on arrays held on the device. Either way, element k is the same batch, and a run resumes
    exactly with no input-pipeline state in the checkpoint. `stateless_fold_in` hashes k into the
    seed rather than using `[seed, k]` directly, so the batches are not correlated with other
    stateless randomness that training seeds with the raw pair `(seed, step)`.

    Args:
      tensors: feature name to a tensor (or variable) of N > 0 records on the first axis.
      batch_size: records per batch.
      goal_sampler: for a goal-conditioned dataset (with trajectory features), draws each
        batch's goals (`goals`, `subgoals`, `goal_reached`, `goal_distance`).

    Raises:
      UserError: a goal sampler for a dataset without trajectory features.
    """

    def __init__(
        self,
        tensors: dict[str, tf.Tensor | tf.Variable],
        batch_size: int,
        goal_sampler: GoalSampler | None = None,
    ):
        if goal_sampler is not None and "trajectory_end" not in tensors:
            raise errors.UserError(
                "goals can only be drawn from a goal-conditioned dataset (one with trajectory "
                "features, e.g. converted from an OGBench file)"
            )
        self.tensors = tensors
        self.batch_size = int(batch_size)
        self.goal_sampler = goal_sampler
        self.num_records = int(next(iter(tensors.values())).shape[0])

    def __call__(self, element: tf.Tensor, seed: tf.Tensor | int) -> dict[str, tf.Tensor]:
        """Batch `element` of the stream with seed `seed` (int64 scalars)."""
        base_seed = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
        element = tf.cast(element, tf.int64)
        element_seed = tf.random.experimental.stateless_fold_in(base_seed, element, alg=_RNG_ALG)
        indices = tf.random.stateless_uniform(
            [self.batch_size],
            seed=element_seed,
            minval=0,
            maxval=self.num_records,
            dtype=tf.int64,
            alg=_RNG_ALG,
        )
        batch = {key: tf.gather(value, indices) for key, value in self.tensors.items()}
        if self.goal_sampler is not None:
            goal_seed = tf.random.experimental.stateless_fold_in(element_seed, 1, alg=_RNG_ALG)
            goal_table = self.tensors.get("goal_reps", self.tensors["observations"])
            batch.update(self.goal_sampler.sample(self.tensors, indices, goal_table, goal_seed))
        return batch


def check_arrays(arrays: dict[str, np.ndarray]) -> int:
    """The number of records of `arrays`; raises a UserError for none, or ragged ones."""
    if not arrays:
        raise errors.UserError("a batch stream needs at least one array")
    lengths = {key: len(value) for key, value in arrays.items()}
    if len(set(lengths.values())) != 1 or not next(iter(lengths.values())):
        raise errors.UserError(f"arrays must have the same non-zero number of records: {lengths}")
    return next(iter(lengths.values()))


def make_batch_dataset(
    arrays: dict[str, np.ndarray],
    batch_size: int,
    seed: int,
    start_element: int = 0,
    goal_sampler: GoalSampler | None = None,
) -> tf.data.Dataset:
    """An infinite stream of batches sampled uniformly with replacement, resumable by position.

    Element k of the stream is `BatchSampler(...)(k, seed)`. A stream started at
    `start_element=s` yields exactly elements s, s + 1, ... of a stream started at 0.

    Args:
      arrays: feature name to an array with N > 0 records on the first axis.
      batch_size: records per batch.
      seed: the sampling seed.
      start_element: the index of the first element produced.
      goal_sampler: for a goal-conditioned dataset (with trajectory features), draws each
        batch's goals (`goals`, `subgoals`, `goal_reached`, `goal_distance`) from the same
        element seed, so goals are fresh on every pass and resume exactly too.

    Returns:
      A `tf.data.Dataset` of dicts with the keys of `arrays` (and the drawn goal features) and a
      leading dimension `batch_size`.

    Raises:
      UserError: empty or ragged arrays, or a non-positive batch size or negative start element.
    """
    check_arrays(arrays)
    if batch_size <= 0:
        raise errors.UserError(f"batch_size must be positive, got {batch_size}")
    if start_element < 0:
        raise errors.UserError(f"start_element must be non-negative, got {start_element}")
    # Constants captured by the map function: the data is copied into TF once, not per element.
    tensors = {key: tf.constant(value) for key, value in arrays.items()}
    sampler = BatchSampler(tensors, batch_size, goal_sampler)
    return (
        tf.data.Dataset.counter(start_element)
        .map(
            lambda element: sampler(element, seed),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        .prefetch(tf.data.AUTOTUNE)
    )
