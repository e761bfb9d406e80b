"""Tests of the dataset_info.json contract."""

import json
import os

import pytest

from cfgrl_tf import errors
from cfgrl_tf.data import spec


def _info(num_records=(3, 2)):
    return spec.DatasetInfo(
        format_version=spec.FORMAT_VERSION,
        features=spec.transition_features(5, 3),
        shards=[
            spec.ShardInfo(f"shard-{i}.tfrecord", n, 100 + n) for i, n in enumerate(num_records)
        ],
        source={"name": "bandit/rings", "seed": 7, "params": {"radii": [3.0, 1.5]}},
        labels={"optimal": {"rule": "none", "note": "n/a"}},
        action_scale=0.3,
    )


def test_transition_features_are_exactly_the_batch_keys():
    features = spec.transition_features(obs_dim=5, action_dim=3)
    assert features == {
        "observations": spec.FeatureSpec("float32", (5,)),
        "actions": spec.FeatureSpec("float32", (3,)),
        "next_observations": spec.FeatureSpec("float32", (5,)),
        "rewards": spec.FeatureSpec("float32", ()),
        "masks": spec.FeatureSpec("float32", ()),
        "terminals": spec.FeatureSpec("float32", ()),
        "optimal": spec.FeatureSpec("int64", ()),
    }
    assert features["observations"].size == 5
    assert features["rewards"].size == 1


def test_info_round_trips_through_json(tmp_path):
    info = _info()
    info.write(str(tmp_path))
    with open(tmp_path / spec.INFO_FILENAME) as f:
        raw = json.load(f)
    assert raw["features"]["rewards"] == {"dtype": "float32", "shape": []}
    assert raw["shards"][1] == {"file": "shard-1.tfrecord", "num_records": 2, "num_bytes": 102}

    read = spec.DatasetInfo.read(str(tmp_path))
    assert read == info
    assert read.num_records == 5
    assert (read.obs_dim, read.action_dim) == (5, 3)
    assert read.created_by.startswith("cfgrl_tf ")


def test_read_reports_a_missing_file(tmp_path):
    with pytest.raises(errors.DatasetError, match=spec.INFO_FILENAME):
        spec.DatasetInfo.read(str(tmp_path))
    with pytest.raises(errors.DatasetError, match="does not exist"):
        spec.DatasetInfo.read(str(tmp_path / "nowhere"))


def test_read_reports_invalid_json(tmp_path):
    (tmp_path / spec.INFO_FILENAME).write_text('{"format_version": 1,')
    with pytest.raises(errors.DatasetError, match=r"dataset_info\.json is not valid JSON"):
        spec.DatasetInfo.read(str(tmp_path))


def _set(path, value):
    def mutate(raw):
        node = raw
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _delete(key):
    return lambda raw: raw.pop(key)


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (_delete("shards"), r"missing key\(s\) 'shards'"),
        (_delete("action_scale"), r"missing key\(s\) 'action_scale'"),
        (_set(["format_version"], 2), r"'format_version' is 2.*reads only format_version 1"),
        (_set(["format_version"], "1"), r"'format_version' must be an integer"),
        (_set(["features", "actions", "dtype"], "float64"), r"'features\.actions\.dtype'"),
        (_set(["features", "actions", "shape"], [3, -1]), r"'features\.actions\.shape'"),
        (_set(["features", "actions"], {"dtype": "int64"}), r"'features\.actions'"),
        (_set(["features"], {}), r"'features' must be a non-empty object"),
        (_set(["shards"], []), r"'shards' must be a non-empty list"),
        (_set(["shards", 0, "file"], "../x.tfrecord"), r"'shards\[0\]\.file'"),
        (_set(["shards", 1, "num_records"], -1), r"'shards\[1\]\.num_records'"),
        (_set(["shards", 0, "num_bytes"], True), r"'shards\[0\]\.num_bytes'"),
        (_set(["source"], "bandit"), r"'source' must be an object"),
        (_set(["action_scale"], 0), r"'action_scale' must be a positive number"),
        (_set(["created_by"], 3), r"'created_by' must be a string"),
    ],
)
def test_read_names_the_key_at_fault(tmp_path, mutate, expected):
    raw = _info().to_json_dict()
    mutate(raw)
    (tmp_path / spec.INFO_FILENAME).write_text(json.dumps(raw))
    with pytest.raises(errors.DatasetError, match=expected) as raised:
        spec.DatasetInfo.read(str(tmp_path))
    assert os.path.join(str(tmp_path), spec.INFO_FILENAME) in str(raised.value)


def test_obs_dim_needs_a_vector_feature():
    info = _info()
    info.features["observations"] = spec.FeatureSpec("float32", (2, 2))
    with pytest.raises(errors.DatasetError, match="'observations' has shape \\[2, 2\\]"):
        _ = info.obs_dim
