"""Tests of the sharded TFRecord writer."""

import os

import numpy as np
import pytest

from cfgrl_tf import errors
from cfgrl_tf.data import bandit, reader, spec, writer

FEATURES = spec.transition_features(1, 2)


def _arrays(n=103, seed=0):
    arrays, _ = bandit.bandit_transitions("rings", n, seed)
    arrays["optimal"] = np.arange(n, dtype=np.int64) % 3 - 1
    return arrays


def _write(arrays, output_dir, num_shards=4, features=FEATURES):
    return writer.write_dataset(
        arrays,
        str(output_dir),
        features=features,
        num_shards=num_shards,
        source={"name": "test"},
        labels={"optimal": {"rule": "test"}},
        action_scale=0.3,
    )


def _snapshot(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


def test_round_trip_keeps_every_array_and_the_order(tmp_path):
    arrays = _arrays()
    info = _write(arrays, tmp_path / "ds")

    assert sorted(os.listdir(tmp_path / "ds")) == [
        "dataset_info.json",
        *(f"shard-0000{i}-of-00004.tfrecord" for i in range(4)),
    ]
    counts = [shard.num_records for shard in info.shards]
    assert sum(counts) == 103 and max(counts) - min(counts) <= 1
    for shard in info.shards:
        assert shard.num_bytes == os.path.getsize(tmp_path / "ds" / shard.file)
    assert spec.DatasetInfo.read(str(tmp_path / "ds")) == info
    assert (info.source, info.action_scale) == ({"name": "test"}, 0.3)

    loaded = reader.load_dataset(str(tmp_path / "ds"))
    assert loaded.num_records == 103
    for key, value in arrays.items():
        assert loaded.arrays[key].dtype == value.dtype, key
        np.testing.assert_array_equal(loaded.arrays[key], value, err_msg=key)


def test_shards_are_contiguous_runs_of_records(tmp_path):
    arrays = _arrays(10)
    info = _write(arrays, tmp_path / "ds", num_shards=3)
    first = reader.load_dataset(str(tmp_path / "ds")).arrays
    # Reading a single shard with the other two dropped from the info yields its run of records.
    counts = [shard.num_records for shard in info.shards]
    assert counts == [3, 4, 3]
    info.shards = info.shards[1:2]
    info.write(str(tmp_path / "ds"))
    middle = reader.load_dataset(str(tmp_path / "ds")).arrays
    np.testing.assert_array_equal(middle["actions"], first["actions"][3:7])


def test_one_shard_per_record_is_allowed(tmp_path):
    info = _write(_arrays(5), tmp_path / "ds", num_shards=5)
    assert [shard.num_records for shard in info.shards] == [1] * 5


def test_refuses_to_overwrite_a_finished_dataset(tmp_path):
    _write(_arrays(), tmp_path / "ds")
    before = _snapshot(tmp_path / "ds")
    with pytest.raises(errors.DatasetError, match="already exists and is not empty.*nothing was"):
        _write(_arrays(seed=1), tmp_path / "ds")
    assert _snapshot(tmp_path / "ds") == before
    assert os.listdir(tmp_path) == ["ds"]  # No staging folder left behind.


def test_an_empty_existing_folder_is_used(tmp_path):
    (tmp_path / "ds").mkdir()
    info = _write(_arrays(), tmp_path / "ds")
    assert reader.load_dataset(str(tmp_path / "ds")).num_records == info.num_records == 103


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    real_write_shard = writer._write_shard
    calls = []

    def failing_write_shard(path, columns, features):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        real_write_shard(path, columns, features)

    monkeypatch.setattr(writer, "_write_shard", failing_write_shard)
    with pytest.raises(OSError, match="disk full"):
        _write(_arrays(), tmp_path / "ds")
    assert os.listdir(tmp_path) == []


def _without(key):
    def mutate(arrays):
        del arrays[key]

    return mutate


def _replace(key, make):
    def mutate(arrays):
        arrays[key] = make(arrays.get(key))

    return mutate


def _nan_at_7(value):
    value = value.copy()
    value[7, 1] = np.nan
    return value


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (_without("masks"), r"missing \['masks'\], unexpected \[\]"),
        (_replace("goals", lambda _: np.zeros((103, 2), np.float32)), r"unexpected \['goals'\]"),
        (
            _replace("actions", lambda v: v[:, :1]),
            r"'actions': each record has shape \[1\], expected \[2\]",
        ),
        (
            _replace("rewards", lambda v: v[:, None]),
            r"'rewards': each record has shape \[1\], expected \[\]",
        ),
        (_replace("actions", _nan_at_7), r"'actions': non-finite value at record 7"),
        (
            _replace("rewards", lambda v: np.full(len(v), 1e300)),
            r"'rewards': non-finite value at record 0",
        ),
        (_replace("terminals", lambda v: v[:-1]), "different numbers of records.*'terminals': 102"),
        (_replace("optimal", lambda v: v.astype(np.float32)), "'optimal': array dtype float32"),
        (_replace("actions", lambda v: v.astype(str)), "'actions': array dtype <U"),
    ],
)
def test_bad_arrays_are_refused_before_writing(tmp_path, mutate, expected):
    arrays = _arrays()
    mutate(arrays)
    with pytest.raises(errors.DatasetError, match=expected):
        _write(arrays, tmp_path / "ds")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("num_shards", [0, 104])
def test_num_shards_must_be_between_1_and_the_record_count(tmp_path, num_shards):
    with pytest.raises(
        errors.DatasetError, match=rf"num_shards must be in \[1, 103\].*got {num_shards}"
    ):
        _write(_arrays(), tmp_path / "ds", num_shards=num_shards)
    assert os.listdir(tmp_path) == []


def test_no_records_is_refused(tmp_path):
    arrays = {key: value[:0] for key, value in _arrays().items()}
    with pytest.raises(errors.DatasetError, match="hold no records"):
        _write(arrays, tmp_path / "ds")
