"""Writes a dataset: sharded TFRecord files of `tf.train.Example` records and `dataset_info.json`.

Everything is checked before the first byte is written, the shards are written into a staging
folder beside the destination, and the folder is renamed into place only after
`dataset_info.json` is written: a reader never sees a half-written dataset, and a finished one is
never overwritten.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
from absl import logging

from cfgrl_tf import errors, fileio
from cfgrl_tf.data import spec

_NUMPY_DTYPES = {"float32": np.float32, "int64": np.int64}


def shard_filename(index: int, num_shards: int) -> str:
    """The file name of shard `index` (0-based) of `num_shards`."""
    return f"shard-{index:05d}-of-{num_shards:05d}.tfrecord"


def write_dataset(
    arrays: dict[str, np.ndarray],
    output_dir: str,
    *,
    features: dict[str, spec.FeatureSpec],
    num_shards: int,
    source: dict,
    labels: dict,
    action_scale: float,
) -> spec.DatasetInfo:
    """Writes `arrays` as a new dataset directory.

    Records are split contiguously across the shards (shard 0 holds the first records), so reading
    the shards in order gives the records in the order of `arrays`.

    Args:
      arrays: feature name to an array of shape `[N, *features[name].shape]`.
      output_dir: the dataset directory to create; must not exist or be empty.
      features: the feature spec; `arrays` must have exactly these keys.
      num_shards: the number of TFRecord files, in [1, N].
      source: provenance of the data, stored as `source` in `dataset_info.json`.
      labels: provenance of each label feature, stored as `labels`.
      action_scale: the factor raw actions were multiplied by (1.0 if none).

    Returns:
      The `DatasetInfo` written to `dataset_info.json`.

    Raises:
      DatasetError: the arrays do not match `features`, hold non-finite floats, `num_shards` is
        out of range, or `output_dir` already holds files (which are left untouched).
    """
    columns = _validated_columns(arrays, features)
    num_records = len(next(iter(columns.values())))
    if isinstance(num_shards, bool) or not isinstance(num_shards, int):
        raise errors.DatasetError(f"num_shards must be an integer, got {num_shards!r}")
    if not 1 <= num_shards <= num_records:
        raise errors.DatasetError(
            f"num_shards must be in [1, {num_records}] (the number of records), got {num_shards}"
        )
    if not action_scale > 0:
        raise errors.DatasetError(f"action_scale must be positive, got {action_scale!r}")
    check_output_dir(output_dir)

    bounds = np.linspace(0, num_records, num_shards + 1).round().astype(int)
    shards = []
    with fileio.staged_directory(output_dir) as staging:
        for index in range(num_shards):
            name = shard_filename(index, num_shards)
            path = os.path.join(staging, name)
            start, stop = bounds[index], bounds[index + 1]
            _write_shard(path, {key: col[start:stop] for key, col in columns.items()}, features)
            shards.append(spec.ShardInfo(name, int(stop - start), os.path.getsize(path)))
            logging.info("wrote %s (%d records)", os.path.join(output_dir, name), stop - start)
        info = spec.DatasetInfo(
            format_version=spec.FORMAT_VERSION,
            features=dict(features),
            shards=shards,
            source=source,
            labels=labels,
            action_scale=float(action_scale),
        )
        # Written last: its presence marks the dataset as complete.
        info.write(staging)
    return info


def _validated_columns(
    arrays: dict[str, np.ndarray], features: dict[str, spec.FeatureSpec]
) -> dict[str, np.ndarray]:
    """Checks `arrays` against `features`; returns them as `[N, size]` arrays of the spec dtype."""
    missing = sorted(set(features) - set(arrays))
    extra = sorted(set(arrays) - set(features))
    if missing or extra:
        raise errors.DatasetError(
            f"the arrays do not match the feature spec: missing {missing}, unexpected {extra}"
        )
    lengths = {}
    columns = {}
    for key, feature in features.items():
        if feature.dtype not in _NUMPY_DTYPES:
            raise errors.DatasetError(
                f"feature {key!r} has dtype {feature.dtype!r}, expected one of {list(spec.DTYPES)}"
            )
        array = np.asarray(arrays[key])
        if array.ndim == 0:
            raise errors.DatasetError(f"feature {key!r}: got a scalar, expected one row per record")
        if array.shape[1:] != tuple(feature.shape):
            raise errors.DatasetError(
                f"feature {key!r}: each record has shape {list(array.shape[1:])}, expected "
                f"{list(feature.shape)} (array shape {list(array.shape)})"
            )
        kind_ok = (
            array.dtype.kind in "iub" if feature.dtype == "int64" else array.dtype.kind in "iuf"
        )
        if not kind_ok:
            raise errors.DatasetError(
                f"feature {key!r}: array dtype {array.dtype} cannot be stored as {feature.dtype}"
            )
        # An overflow to inf in the cast is reported as a non-finite value just below.
        with np.errstate(over="ignore"):
            column = array.astype(_NUMPY_DTYPES[feature.dtype]).reshape(len(array), feature.size)
        if feature.dtype == "float32":
            # Checked after the cast, so a float64 too large for float32 is caught as well.
            finite = np.isfinite(column).all(axis=1)
            if not finite.all():
                first = int(np.argmin(finite))
                raise errors.DatasetError(
                    f"feature {key!r}: non-finite value at record {first}: {array[first]!r}"
                )
        lengths[key] = len(array)
        columns[key] = column
    if len(set(lengths.values())) != 1:
        raise errors.DatasetError(f"the arrays have different numbers of records: {lengths}")
    if not next(iter(lengths.values())):
        raise errors.DatasetError("the arrays hold no records")
    return columns


def check_output_dir(output_dir: str) -> None:
    """Checks that a dataset can be written to `output_dir`; removes it if it is an empty folder.

    Raises:
      DatasetError: `output_dir` holds files or is not a directory; nothing is changed.
    """
    if os.path.isdir(output_dir):
        if os.listdir(output_dir):
            raise errors.DatasetError(
                f"{output_dir} already exists and is not empty; a finished dataset is never "
                "overwritten, so nothing was changed (choose a new --output_dir or delete it)"
            )
        # An empty folder (e.g. made by a job scheduler) is replaced by the staged one.
        os.rmdir(output_dir)
    elif os.path.exists(output_dir):
        raise errors.DatasetError(
            f"{output_dir} exists and is not a directory; nothing was changed"
        )


def _write_shard(
    path: str, columns: dict[str, np.ndarray], features: dict[str, spec.FeatureSpec]
) -> None:
    # One `tolist()` per column converts to Python numbers in C, far faster than per record.
    rows = {key: column.tolist() for key, column in columns.items()}
    float_keys = [key for key in features if features[key].dtype == "float32"]
    int_keys = [key for key in features if features[key].dtype == "int64"]
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(len(next(iter(columns.values())))):
            example = tf.train.Example()
            feature_map = example.features.feature
            for key in float_keys:
                feature_map[key].float_list.value.extend(rows[key][i])
            for key in int_keys:
                feature_map[key].int64_list.value.extend(rows[key][i])
            writer.write(example.SerializeToString())
