"""Converting OGBench npz files: transitions, trajectory positions, goal tables, and bad input."""

import hashlib
import os

import numpy as np
import pytest
from testutil import run_cli, write_tiny_ogbench_npz

from cfgrl_tf import errors
from cfgrl_tf.data import build, ogbench_npz, spec
from cfgrl_tf.data.reader import load_dataset

NAME = "pointmaze-medium-navigate-v0.npz"


def _digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_names(tmp_path):
    assert ogbench_npz.dataset_name_from_path("/a/cube-single-play-v0-val.npz") == (
        "cube-single-play-v0"
    )
    # The environment comes from the file name by OGBench's rule (ogbench_generate.env_name_of);
    # a file named otherwise needs ogbench_source.env_name.
    path = write_tiny_ogbench_npz(tmp_path / "mydata.npz")
    with pytest.raises(
        errors.UserError, match="not an OGBench dataset name.*ogbench_source.env_name"
    ):
        ogbench_npz.ogbench_source(path)


def test_transitions_match_ogbench_load_dataset(tmp_path):
    """Our transitions are exactly those `ogbench.load_dataset` makes from the same file."""
    from ogbench.utils import load_dataset as ogbench_load

    path = write_tiny_ogbench_npz(tmp_path / NAME, num_trajectories=3, length=7)
    ours = ogbench_npz.to_transitions(ogbench_npz.read_npz(path))
    reference = ogbench_load(path, add_info=True)
    for key in ("observations", "actions", "next_observations", "terminals", "qpos"):
        np.testing.assert_array_equal(ours[key], reference[key], err_msg=key)
    # 3 trajectories of 7 states: 6 transitions each.
    np.testing.assert_array_equal(ours["trajectory_start"], np.repeat([0, 6, 12], 6))
    np.testing.assert_array_equal(ours["trajectory_end"], np.repeat([5, 11, 17], 6))
    np.testing.assert_array_equal(ours["trajectory_step"], np.tile(np.arange(6), 3))


def test_source_writes_goal_conditioned_dataset(tmp_path):
    path = write_tiny_ogbench_npz(tmp_path / NAME, num_trajectories=4, length=11)
    out = str(tmp_path / "data")
    info = build.build_dataset(out, source=lambda: ogbench_npz.ogbench_source(path), num_shards=2)
    assert info.num_records == 40
    assert ogbench_npz.is_goal_conditioned(info)
    assert ogbench_npz.goal_dim(info) == 2  # goals are observations
    assert info.source["env_name"] == "pointmaze-medium-v0"
    assert info.source["num_trajectories"] == 4
    assert info.labels["optimal"]["rule"] == "goal"
    stats = info.source["statistics"]["observations"]
    data = load_dataset(out)
    np.testing.assert_allclose(stats["mean"], data.arrays["observations"].mean(0), rtol=1e-5)
    assert "goal_reps" not in data.arrays
    assert set(np.unique(data.arrays["trajectory_step"])) == set(range(10))


def test_oracle_reps_are_maze_xy(tmp_path):
    path = write_tiny_ogbench_npz(tmp_path / NAME, num_trajectories=2, length=5)
    data = ogbench_npz.ogbench_source(path, goal_key="oracle_reps")
    np.testing.assert_allclose(data.arrays["goal_reps"], data.arrays["observations"][:, :2])
    assert data.features["goal_reps"] == spec.FeatureSpec("float32", (2,))


def test_missing_key_is_named(tmp_path):
    path = write_tiny_ogbench_npz(tmp_path / NAME, actions=None)
    with pytest.raises(errors.DatasetError, match="lacks key.*'actions'"):
        ogbench_npz.ogbench_source(path)


def test_inconsistent_lengths_are_named(tmp_path):
    path = write_tiny_ogbench_npz(tmp_path / NAME, terminals=np.zeros(5, np.float32))
    with pytest.raises(errors.DatasetError, match="'terminals' has 5 rows but 'observations' has"):
        ogbench_npz.ogbench_source(path)


def test_truncated_file_is_refused(tmp_path):
    terminals = np.zeros(6 * 41, np.float32)
    terminals[40] = 1
    path = write_tiny_ogbench_npz(tmp_path / NAME, terminals=terminals)
    with pytest.raises(errors.DatasetError, match="looks truncated"):
        ogbench_npz.ogbench_source(path)


def test_unknown_goal_key(tmp_path):
    path = write_tiny_ogbench_npz(tmp_path / NAME)
    with pytest.raises(errors.UserError, match="unknown ogbench_source.goal_key 'xy'"):
        ogbench_npz.ogbench_source(path, goal_key="xy")


def test_oracle_reps_need_qpos(tmp_path):
    path = write_tiny_ogbench_npz(tmp_path / NAME, qpos=None)
    with pytest.raises(errors.DatasetError, match="needs 'qpos'"):
        ogbench_npz.ogbench_source(path, goal_key="oracle_reps")


def test_unknown_env_name(tmp_path):
    path = write_tiny_ogbench_npz(tmp_path / NAME)
    with pytest.raises(errors.UserError, match="unknown environment 'pointmaze-tiny-v0'"):
        ogbench_npz.ogbench_source(path, env_name="pointmaze-tiny-v0")


def test_observation_size_must_match_env(tmp_path):
    path = write_tiny_ogbench_npz(tmp_path / NAME)
    with pytest.raises(errors.DatasetError, match="observations have size .*2.* cube-single-v0"):
        ogbench_npz.ogbench_source(path, env_name="cube-single-v0")


def test_cli_converts_and_refuses_bad_input(tmp_path):
    path = write_tiny_ogbench_npz(tmp_path / NAME)
    out = str(tmp_path / "data")
    ok = run_cli(
        "convert",
        "--gin_file=ogbench/convert.gin",
        f"--output_dir={out}",
        f"--gin_bindings=ogbench_source.path='{path}'",
    )
    assert ok.returncode == 0, ok.stderr
    assert "source ogbench/pointmaze-medium-navigate-v0" in ok.stdout
    before = _digest(os.path.join(out, spec.INFO_FILENAME))
    bad = write_tiny_ogbench_npz(tmp_path / "bad" / NAME, observations=None)
    failed = run_cli(
        "convert",
        "--gin_file=ogbench/convert.gin",
        f"--output_dir={tmp_path / 'other'}",
        f"--gin_bindings=ogbench_source.path='{bad}'",
    )
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines()[-1].startswith("error:")
    assert "'observations'" in failed.stderr
    assert not os.path.exists(tmp_path / "other")
    assert _digest(os.path.join(out, spec.INFO_FILENAME)) == before
