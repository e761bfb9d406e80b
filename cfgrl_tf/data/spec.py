"""The on-disk dataset format: feature spec, shard list and `dataset_info.json`.

A dataset is a directory of TFRecord shards (`tf.train.Example` records, one per transition) and a
`dataset_info.json` that says what every record holds. The reader trusts nothing but this file, so
`DatasetInfo.read` checks it thoroughly and names the key at fault when it is wrong.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from cfgrl_tf import __version__, errors, fileio

FORMAT_VERSION = 1
INFO_FILENAME = "dataset_info.json"
# The `optimal` feature of a record whose source gives no optimality label; agents that need one
# compute it from their critic at training time.
NO_LABEL = -1

DTYPES = ("float32", "int64")
_INFO_KEYS = (
    "format_version",
    "features",
    "shards",
    "source",
    "labels",
    "action_scale",
    "created_by",
)


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """The dtype and per-record shape of one feature.

    Attributes:
      dtype: "float32" or "int64" (the two `tf.train.Example` list types we store).
      shape: the shape of one record's value; `()` for a scalar.
    """

    dtype: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        """The number of values one record holds for this feature (the flattened length)."""
        size = 1
        for dim in self.shape:
            size *= dim
        return size

    def to_json_dict(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "shape": list(self.shape)}


def transition_features(obs_dim: int, action_dim: int) -> dict[str, FeatureSpec]:
    """The feature spec of a dataset of transitions.

    Args:
      obs_dim: the length of an observation vector.
      action_dim: the length of an action vector.

    Returns:
      Feature name to spec, in the OGBench/D4RL batch-key convention.
    """
    return {
        "observations": FeatureSpec("float32", (obs_dim,)),
        "actions": FeatureSpec("float32", (action_dim,)),
        "next_observations": FeatureSpec("float32", (obs_dim,)),
        "rewards": FeatureSpec("float32", ()),
        "masks": FeatureSpec("float32", ()),
        "terminals": FeatureSpec("float32", ()),
        "optimal": FeatureSpec("int64", ()),
    }


@dataclasses.dataclass
class ShardInfo:
    """One TFRecord shard.

    Attributes:
      file: the shard's file name, relative to the dataset directory.
      num_records: how many records it holds.
      num_bytes: its size on disk.
    """

    file: str
    num_records: int
    num_bytes: int


@dataclasses.dataclass
class DatasetInfo:
    """The contents of `dataset_info.json`.

    Attributes:
      format_version: the version of this format the dataset was written in.
      features: feature name to spec; every record holds exactly these features.
      shards: the shards, in record order.
      source: where the data came from, e.g. `{"name": "bandit/8gaussians", "seed": 0, ...}`.
      labels: provenance of each label feature, e.g. `{"optimal": {"rule": "none", ...}}`.
      action_scale: the fixed factor raw actions were multiplied by to land in [-1, 1] (1.0 if
        none); a policy's actions divided by it are in the source's units.
      created_by: the cfgrl_tf version that wrote the dataset.
    """

    format_version: int
    features: dict[str, FeatureSpec]
    shards: list[ShardInfo]
    source: dict
    labels: dict
    action_scale: float
    created_by: str = f"cfgrl_tf {__version__}"

    @property
    def num_records(self) -> int:
        """The total number of records across all shards."""
        return sum(shard.num_records for shard in self.shards)

    @property
    def obs_dim(self) -> int:
        """The observation length, from the `observations` feature."""
        return self._vector_length("observations")

    @property
    def action_dim(self) -> int:
        """The action length, from the `actions` feature."""
        return self._vector_length("actions")

    def _vector_length(self, key: str) -> int:
        if key not in self.features:
            raise errors.DatasetError(f"the dataset has no {key!r} feature")
        shape = self.features[key].shape
        if len(shape) != 1:
            raise errors.DatasetError(f"feature {key!r} has shape {list(shape)}, expected a vector")
        return shape[0]

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON-serialisable form written to `dataset_info.json`."""
        return {
            "format_version": self.format_version,
            "features": {name: spec.to_json_dict() for name, spec in self.features.items()},
            "shards": [dataclasses.asdict(shard) for shard in self.shards],
            "source": self.source,
            "labels": self.labels,
            "action_scale": self.action_scale,
            "created_by": self.created_by,
        }

    def write(self, dataset_dir: str) -> None:
        """Writes `dataset_info.json` into `dataset_dir`, atomically."""
        fileio.atomic_write_json(os.path.join(dataset_dir, INFO_FILENAME), self.to_json_dict())

    @classmethod
    def read(cls, dataset_dir: str) -> DatasetInfo:
        """Reads and validates `dataset_info.json` from `dataset_dir`.

        Raises:
          DatasetError: the file is missing, is not JSON, or a key is missing or malformed; the
            message names the file and the key.
        """
        path = os.path.join(dataset_dir, INFO_FILENAME)
        if not os.path.isdir(dataset_dir):
            raise errors.DatasetError(f"dataset directory {dataset_dir} does not exist")
        if not os.path.isfile(path):
            raise errors.DatasetError(
                f"{path} not found: {dataset_dir} is not a dataset written by cfgrl-convert "
                "(or its build did not finish)"
            )
        try:
            with open(path, encoding="utf-8") as f:
                raw = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise errors.DatasetError(f"{path} is not valid JSON: {e}") from None
        return _parse_info(raw, path)


def _parse_info(raw: Any, path: str) -> DatasetInfo:
    """Builds a `DatasetInfo` from parsed JSON, raising `DatasetError` naming `path` and the key."""

    def fail(key: str, problem: str) -> errors.DatasetError:
        return errors.DatasetError(f"{path}: key {key!r} {problem}")

    if not isinstance(raw, dict):
        raise errors.DatasetError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    missing = [key for key in _INFO_KEYS if key not in raw]
    if missing:
        raise errors.DatasetError(f"{path}: missing key(s) {', '.join(map(repr, missing))}")

    version = raw["format_version"]
    if not _is_int(version):
        raise fail("format_version", f"must be an integer, got {version!r}")
    if version != FORMAT_VERSION:
        raise fail(
            "format_version",
            f"is {version}, but this version of cfgrl_tf reads only "
            f"format_version {FORMAT_VERSION}",
        )

    if not isinstance(raw["features"], dict) or not raw["features"]:
        raise fail("features", "must be a non-empty object of feature name to {dtype, shape}")
    features = {}
    for name, spec in raw["features"].items():
        key = f"features.{name}"
        if not isinstance(spec, dict) or set(spec) != {"dtype", "shape"}:
            raise fail(key, f"must be an object with exactly 'dtype' and 'shape', got {spec!r}")
        if spec["dtype"] not in DTYPES:
            raise fail(f"{key}.dtype", f"is {spec['dtype']!r}, expected one of {list(DTYPES)}")
        shape = spec["shape"]
        if not isinstance(shape, list) or not all(_is_int(d) and d > 0 for d in shape):
            raise fail(f"{key}.shape", f"must be a list of positive integers, got {shape!r}")
        features[name] = FeatureSpec(spec["dtype"], tuple(shape))

    if not isinstance(raw["shards"], list) or not raw["shards"]:
        raise fail("shards", "must be a non-empty list of {file, num_records, num_bytes}")
    shards = []
    for i, shard in enumerate(raw["shards"]):
        key = f"shards[{i}]"
        if not isinstance(shard, dict) or set(shard) != {"file", "num_records", "num_bytes"}:
            raise fail(key, f"must be an object with 'file', 'num_records', 'num_bytes': {shard!r}")
        name = shard["file"]
        # A shard path must stay inside the dataset directory.
        if not isinstance(name, str) or not name or os.path.basename(name) != name:
            raise fail(f"{key}.file", f"must be a plain file name, got {name!r}")
        for count in ("num_records", "num_bytes"):
            if not _is_int(shard[count]) or shard[count] < 0:
                raise fail(
                    f"{key}.{count}", f"must be a non-negative integer, got {shard[count]!r}"
                )
        shards.append(ShardInfo(name, shard["num_records"], shard["num_bytes"]))

    for key in ("source", "labels"):
        if not isinstance(raw[key], dict):
            raise fail(key, f"must be an object, got {raw[key]!r}")
    scale = raw["action_scale"]
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
        raise fail("action_scale", f"must be a positive number, got {scale!r}")
    if not isinstance(raw["created_by"], str):
        raise fail("created_by", f"must be a string, got {raw['created_by']!r}")

    return DatasetInfo(
        format_version=version,
        features=features,
        shards=shards,
        source=raw["source"],
        labels=raw["labels"],
        action_scale=float(scale),
        created_by=raw["created_by"],
    )


def _is_int(value: Any) -> bool:
    # JSON true/false parse to bool, which is an int subclass.
    return isinstance(value, int) and not isinstance(value, bool)


@dataclasses.dataclass
class SourceData:
    """What a source hands to `build.build_dataset`.

    Attributes:
      arrays: feature name to array, matching `features`.
      features: the feature spec.
      source: the provenance stored as `source` in `dataset_info.json`.
      action_scale: the factor raw actions were multiplied by (1.0 if none).
    """

    arrays: dict[str, Any]  # feature name -> np.ndarray
    features: dict[str, FeatureSpec]
    source: dict
    action_scale: float
