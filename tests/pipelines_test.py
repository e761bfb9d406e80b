"""Every gin file under pipelines/ parses and builds a dataset with tiny overrides."""

import glob
import os
import pathlib
import re

import gin
import numpy as np
import pytest

from cfgrl_tf.cli import common
from cfgrl_tf.data import build, reader

_PIPELINES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pipelines")
_GIN_FILES = sorted(glob.glob(os.path.join(_PIPELINES, "**", "*.gin"), recursive=True))
# Shared fragments that other files include; they parse alone but bind no complete build.
_FRAGMENTS = [path for path in _GIN_FILES if path.endswith("_common.gin")]
# Files that bind `generate_ogbench` (OGBench collection, not a TFRecord build):
# tests/data/ogbench_generate_test.py and exorl_generate_test.py parse and run each of them.
_GENERATORS = [
    path
    for path in _GIN_FILES
    if re.search(r"^generate_\w+\.", pathlib.Path(path).read_text(), re.M)
]
# OGBench npz conversions (goal-conditioned and single-task), tested below on files they make.
_CONVERTERS = [p for p in _GIN_FILES if os.path.basename(p).startswith("convert")]
_BUILDS = [path for path in _GIN_FILES if path not in _FRAGMENTS + _GENERATORS + _CONVERTERS]


@pytest.fixture(autouse=True)
def clear_gin():
    gin.clear_config()
    yield
    gin.clear_config()


def test_the_bandit_pipelines_are_all_there():
    names = {os.path.relpath(path, _PIPELINES) for path in _BUILDS}
    assert {
        f"bandit/{n}.gin" for n in ("diffusion_ql", "8gaussians", "rings", "swissroll")
    } <= names


@pytest.mark.parametrize("path", _BUILDS, ids=lambda p: os.path.relpath(p, _PIPELINES))
def test_pipeline_builds(path, tmp_path):
    common.parse_gin(
        [path], ["bandit_source.num_samples = 40", "build_dataset.num_shards = 2"], tree="pipelines"
    )
    build.build_dataset(str(tmp_path / "ds"))
    dataset = reader.load_dataset(str(tmp_path / "ds"))
    assert dataset.num_records == 40 and len(dataset.info.shards) == 2
    stem = os.path.splitext(os.path.basename(path))[0]
    family = os.path.basename(os.path.dirname(path))
    assert dataset.info.source["name"] == f"{family}/{stem}"
    assert np.all(np.abs(dataset.arrays["actions"]) <= 1.0)


def test_ogbench_convert_pipeline_builds_a_goal_conditioned_dataset(tmp_path):
    from testutil import write_tiny_ogbench_npz

    from cfgrl_tf.data import ogbench_npz

    npz = write_tiny_ogbench_npz(tmp_path / "pointmaze-medium-navigate-v0.npz")
    common.parse_gin(
        ["ogbench/convert.gin"],
        [f"ogbench_source.path = '{npz}'", "build_dataset.num_shards = 2"],
        tree="pipelines",
    )
    build.build_dataset(str(tmp_path / "ds"))
    dataset = reader.load_dataset(str(tmp_path / "ds"))
    assert ogbench_npz.is_goal_conditioned(dataset.info)
    assert dataset.info.source["name"] == "ogbench/pointmaze-medium-navigate-v0"
    assert dataset.num_records == 6 * 40


def test_ogbench_convert_singletask_pipeline_builds_a_reward_dataset(tmp_path):
    from testutil import write_tiny_ogbench_npz

    from cfgrl_tf.data import ogbench_singletask

    npz = write_tiny_ogbench_npz(tmp_path / "pointmaze-medium-navigate-v0.npz")
    common.parse_gin(
        ["ogbench/convert_singletask.gin"],
        [f"ogbench_singletask_source.path = '{npz}'", "build_dataset.num_shards = 2"],
        tree="pipelines",
    )
    build.build_dataset(str(tmp_path / "ds"))
    dataset = reader.load_dataset(str(tmp_path / "ds"))
    assert ogbench_singletask.is_single_task(dataset.info)
    assert dataset.info.source["name"] == "ogbench/pointmaze-medium-navigate-singletask-v0"
    assert dataset.num_records == 6 * 40
    assert set(np.unique(dataset.arrays["rewards"])) <= {-1.0, 0.0}


@pytest.mark.parametrize("path", _FRAGMENTS, ids=lambda p: os.path.relpath(p, _PIPELINES))
def test_fragment_parses_and_is_included(path):
    common.parse_gin([path], [], tree="pipelines")
    include = f"include '{os.path.relpath(path, _PIPELINES)}'"
    includers = []
    for other in _BUILDS:
        with open(other) as f:
            if include in f.read():
                includers.append(other)
    assert includers
