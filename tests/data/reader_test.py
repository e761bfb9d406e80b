"""Tests of the validated dataset reader and the training input pipeline."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from cfgrl_tf import errors
from cfgrl_tf.data import reader, spec, writer


def _arrays(n):
    # Every feature encodes the record index, so a batch shows which records it gathered.
    index = np.arange(n)
    return {
        "observations": index[:, None].astype(np.float32),
        "actions": np.stack([index, -index], axis=1).astype(np.float32) / n,
        "next_observations": index[:, None].astype(np.float32) + 1,
        "rewards": index.astype(np.float32) * 0.5,
        "masks": (index % 2).astype(np.float32),
        "terminals": 1.0 - (index % 2).astype(np.float32),
        "optimal": index.astype(np.int64),
    }


@pytest.fixture
def dataset_dir(tmp_path):
    path = tmp_path / "ds"
    writer.write_dataset(
        _arrays(60),
        str(path),
        features=spec.transition_features(1, 2),
        num_shards=3,
        source={"name": "test"},
        labels={},
        action_scale=1.0,
    )
    return path


def _edit_info(dataset_dir, edit):
    path = dataset_dir / spec.INFO_FILENAME
    raw = json.loads(path.read_text())
    edit(raw)
    path.write_text(json.dumps(raw))


def test_load_returns_the_written_arrays(dataset_dir):
    dataset = reader.load_dataset(str(dataset_dir))
    assert dataset.num_records == 60
    assert dataset.path == str(dataset_dir)
    assert (dataset.info.obs_dim, dataset.info.action_dim) == (1, 2)
    for key, value in _arrays(60).items():
        np.testing.assert_array_equal(dataset.arrays[key], value, err_msg=key)


def test_missing_info_file(tmp_path):
    with pytest.raises(errors.DatasetError, match="dataset_info.json not found"):
        reader.load_dataset(str(tmp_path))


def test_missing_shard_is_named(dataset_dir):
    os.remove(dataset_dir / "shard-00001-of-00003.tfrecord")
    with pytest.raises(errors.DatasetError, match=r"shard-00001-of-00003\.tfrecord is missing"):
        reader.load_dataset(str(dataset_dir))


def test_truncated_shard_is_named(dataset_dir):
    shard = dataset_dir / "shard-00002-of-00003.tfrecord"
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(errors.DatasetError, match=r"shard-00002-of-00003\.tfrecord is \d+ bytes"):
        reader.load_dataset(str(dataset_dir))


def test_corrupt_shard_is_named(dataset_dir):
    shard = dataset_dir / "shard-00001-of-00003.tfrecord"
    data = bytearray(shard.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    shard.write_bytes(bytes(data))
    with pytest.raises(errors.DatasetError, match=r"shard-00001-of-00003\.tfrecord is corrupt"):
        reader.load_dataset(str(dataset_dir))


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda raw: raw["features"]["observations"].update(shape=[3]), "observations"),
        (lambda raw: raw["features"]["optimal"].update(dtype="float32"), "optimal"),
        (lambda raw: raw["features"].update(goals={"dtype": "float32", "shape": [2]}), "goals"),
    ],
)
def test_records_not_matching_the_spec_are_reported(dataset_dir, edit, key):
    _edit_info(dataset_dir, edit)
    with pytest.raises(errors.DatasetError) as raised:
        reader.load_dataset(str(dataset_dir))
    message = str(raised.value)
    assert "shard-00000-of-00003.tfrecord" in message
    assert "records do not match the feature spec in dataset_info.json" in message
    assert f"(feature {key!r})" in message
    assert "\n" not in message


def test_record_count_mismatch_is_named(dataset_dir):
    _edit_info(dataset_dir, lambda raw: raw["shards"][1].update(num_records=21))
    with pytest.raises(
        errors.DatasetError,
        match=r"shard-00001-of-00003\.tfrecord holds 20 records but dataset_info.json records 21",
    ):
        reader.load_dataset(str(dataset_dir))


def _take(dataset, count):
    return [{k: v.numpy() for k, v in element.items()} for element in dataset.take(count)]


def test_batches_have_the_keys_shapes_and_consistent_rows():
    arrays = _arrays(50)
    dataset = reader.make_batch_dataset(arrays, batch_size=16, seed=3)
    assert dataset.element_spec["actions"].shape == (16, 2)
    assert dataset.element_spec["optimal"].dtype == tf.int64
    seen = set()
    for batch in _take(dataset, 40):
        assert set(batch) == set(arrays)
        indices = batch["optimal"]
        assert indices.shape == (16,)
        assert np.all((indices >= 0) & (indices < 50))
        # Every feature of a row comes from the same record.
        for key, value in arrays.items():
            np.testing.assert_array_equal(batch[key], value[indices], err_msg=key)
        seen.update(indices.tolist())
    # 640 draws with replacement from 50 records reach every record.
    assert seen == set(range(50))


def test_resuming_at_element_s_continues_the_same_stream():
    arrays = _arrays(1000)
    from_start = _take(reader.make_batch_dataset(arrays, batch_size=8, seed=11), 9)
    resumed = _take(reader.make_batch_dataset(arrays, batch_size=8, seed=11, start_element=6), 3)
    skipped = _take(reader.make_batch_dataset(arrays, batch_size=8, seed=11).skip(6), 3)
    for expected, got, via_skip in zip(from_start[6:], resumed, skipped, strict=True):
        for key in arrays:
            np.testing.assert_array_equal(got[key], expected[key])
            np.testing.assert_array_equal(via_skip[key], expected[key])
    # Consecutive elements are different batches.
    assert not np.array_equal(from_start[0]["optimal"], from_start[1]["optimal"])


def test_the_seed_decides_the_stream():
    arrays = _arrays(1000)
    first = _take(reader.make_batch_dataset(arrays, batch_size=8, seed=1), 2)
    again = _take(reader.make_batch_dataset(arrays, batch_size=8, seed=1), 2)
    other = _take(reader.make_batch_dataset(arrays, batch_size=8, seed=2), 2)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a["optimal"], b["optimal"])
    assert not np.array_equal(first[0]["optimal"], other[0]["optimal"])


@pytest.mark.parametrize(
    "arrays, kwargs, expected",
    [
        ({}, {}, "at least one array"),
        ({"a": np.zeros(3), "b": np.zeros(4)}, {}, "same non-zero number of records"),
        ({"a": np.zeros(3)}, {"batch_size": 0}, "batch_size must be positive"),
        ({"a": np.zeros(3)}, {"start_element": -1}, "start_element must be non-negative"),
    ],
)
def test_make_batch_dataset_rejects_bad_arguments(arrays, kwargs, expected):
    with pytest.raises(errors.UserError, match=expected):
        reader.make_batch_dataset(arrays, **{"batch_size": 4, "seed": 0, **kwargs})
