"""Tests of the gin-bound dataset build."""

import os

import gin
import numpy as np
import pytest

from cfgrl_tf import errors
from cfgrl_tf.data import build, reader, spec


@pytest.fixture(autouse=True)
def clear_gin():
    gin.clear_config()
    yield
    gin.clear_config()


def _bind(name="rings", num_samples=100, extra=()):
    gin.parse_config(
        [
            "build_dataset.source = @bandit_source",
            f"bandit_source.name = '{name}'",
            f"bandit_source.num_samples = {num_samples}",
            "bandit_source.seed = 5",
            "build_dataset.num_shards = 2",
            *extra,
        ]
    )


def test_build_from_gin_bindings(tmp_path):
    _bind()
    info = build.build_dataset(str(tmp_path / "ds"))
    assert info.num_records == 100 and len(info.shards) == 2
    assert info.action_scale == 0.3
    assert info.source["name"] == "bandit/rings" and info.source["seed"] == 5
    assert info.labels["optimal"]["rule"] == "none"
    assert "critic" in info.labels["optimal"]["note"]

    dataset = reader.load_dataset(str(tmp_path / "ds"))
    assert dataset.info == info
    assert np.all(dataset.arrays["optimal"] == spec.NO_LABEL)
    np.testing.assert_allclose(
        np.unique(dataset.arrays["rewards"]), [0.0, 0.333, 0.667, 1.0], rtol=1e-6
    )


def test_the_same_bindings_build_the_same_data(tmp_path):
    _bind(name="swissroll")
    build.build_dataset(str(tmp_path / "a"))
    build.build_dataset(str(tmp_path / "b"))
    first = reader.load_dataset(str(tmp_path / "a")).arrays
    second = reader.load_dataset(str(tmp_path / "b")).arrays
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])


def test_reward_quantile_labels_the_top_rewards(tmp_path):
    # Four rings of 25 records with rewards 0, 0.333, 0.667, 1: the 0.75 quantile lies between
    # 0.667 and 1, so exactly the best ring is optimal.
    _bind(
        extra=[
            "build_dataset.label_rule = 'reward_quantile'",
            "build_dataset.label_quantile = 0.75",
        ]
    )
    info = build.build_dataset(str(tmp_path / "ds"))
    labels = info.labels["optimal"]
    assert labels["rule"] == "reward_quantile" and labels["quantile"] == 0.75
    assert labels["threshold"] == pytest.approx(0.667 + 0.25 * 0.333, abs=1e-6)
    assert labels["num_optimal"] == 25

    arrays = reader.load_dataset(str(tmp_path / "ds")).arrays
    np.testing.assert_array_equal(arrays["optimal"], (arrays["rewards"] == 1.0).astype(np.int64))


def test_unknown_label_rule_is_refused_before_writing(tmp_path):
    _bind(extra=["build_dataset.label_rule = 'top_k'"])
    with pytest.raises(errors.UserError, match="'top_k'; valid rules: none, reward_quantile"):
        build.build_dataset(str(tmp_path / "ds"))
    assert not os.path.exists(tmp_path / "ds")


def test_quantile_outside_0_1_is_refused(tmp_path):
    _bind(
        extra=["build_dataset.label_rule = 'reward_quantile'", "build_dataset.label_quantile = 90"]
    )
    with pytest.raises(errors.UserError, match=r"label_quantile must be in \[0, 1\], got 90"):
        build.build_dataset(str(tmp_path / "ds"))


def test_an_existing_dataset_is_refused_before_the_source_runs(tmp_path, monkeypatch):
    _bind()
    build.build_dataset(str(tmp_path / "ds"))
    before = {name: (tmp_path / "ds" / name).read_bytes() for name in os.listdir(tmp_path / "ds")}

    def source_must_not_run():
        raise AssertionError("the source ran")

    with pytest.raises(errors.DatasetError, match="already exists"):
        build.build_dataset(str(tmp_path / "ds"), source=source_must_not_run)
    after = {name: (tmp_path / "ds" / name).read_bytes() for name in os.listdir(tmp_path / "ds")}
    assert after == before
