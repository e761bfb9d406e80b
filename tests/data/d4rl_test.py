"""D4RL hdf5 files: `qlearning_dataset`'s transitions, episode ends, clear errors, cfgrl-convert."""

import os

import h5py
import numpy as np
import pytest
from testutil import run_cli

from cfgrl_tf import errors
from cfgrl_tf.agents import CFGRLAgent, IQLAWRAgent
from cfgrl_tf.cli import common
from cfgrl_tf.data import build, d4rl, features, ogbench_singletask, reader

# Eight rows, three episodes: rows 0-2 end in a terminal state, rows 3-5 hit the time limit at
# row 5, rows 6-7 are cut off by the end of the file.
_TERMINALS = np.array([0, 0, 1, 0, 0, 0, 0, 0], bool)
_TIMEOUTS = np.array([0, 0, 0, 0, 0, 1, 0, 0], bool)


def _observations(num):
    """Row i observes (i, 10 + i), so every state names its row."""
    return np.stack([np.arange(num), 10 + np.arange(num)], axis=1).astype(np.float32)


def _rows(num=8):
    return {
        "observations": _observations(num),
        "actions": np.linspace(-0.9, 0.9, 2 * num, dtype=np.float32).reshape(num, 2),
        "rewards": np.arange(num, dtype=np.float32),
        "terminals": _TERMINALS[:num].copy(),
        "timeouts": _TIMEOUTS[:num].copy(),
    }


def write_d4rl(path, arrays, attrs=None, metadata=None, infos=True):
    """Writes `arrays` as flat datasets in D4RL's layout, with an `infos/` and `metadata/` group."""
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
        if infos:
            num = len(arrays["observations"])
            f.create_dataset("infos/qpos", data=np.zeros((num, 3), np.float32))
            f.create_dataset("infos/qvel", data=np.zeros((num, 3), np.float32))
        for key, value in (metadata or {}).items():
            f.create_dataset(f"metadata/{key}", data=value)
        f.create_dataset("metadata/policy/fc0/weight", data=np.zeros((4, 4)))
        f.attrs.update(attrs or {})
    return str(path)


def _qlearning_dataset(arrays):
    """D4RL's `qlearning_dataset` (with timeouts, terminate_on_end=False) as a plain loop."""
    out = {"observations": [], "next_observations": [], "actions": [], "rewards": [], "dones": []}
    for i in range(len(arrays["rewards"]) - 1):
        if arrays["timeouts"][i]:
            continue
        out["observations"].append(arrays["observations"][i])
        out["next_observations"].append(arrays["observations"][i + 1])
        out["actions"].append(arrays["actions"][i])
        out["rewards"].append(arrays["rewards"][i])
        out["dones"].append(bool(arrays["terminals"][i]))
    return {key: np.asarray(value) for key, value in out.items()}


def test_timeout_and_final_rows_are_dropped(tmp_path):
    rows = _rows()
    source = d4rl.d4rl_source(write_d4rl(tmp_path / "hopper_medium-v2.hdf5", rows))
    arrays = source.arrays
    kept = [0, 1, 2, 3, 4, 6]  # row 5 is a timeout, row 7 has no successor
    np.testing.assert_array_equal(arrays["observations"], rows["observations"][kept])
    np.testing.assert_array_equal(
        arrays["next_observations"], rows["observations"][[1, 2, 3, 4, 5, 7]]
    )
    np.testing.assert_array_equal(arrays["actions"], rows["actions"][kept])
    np.testing.assert_array_equal(arrays["rewards"], [0, 1, 2, 3, 4, 6])
    np.testing.assert_array_equal(arrays["masks"], [1, 1, 0, 1, 1, 1])
    # Episode ends: the terminal row 2, row 4 before the timeout, the last transition.
    np.testing.assert_array_equal(arrays["terminals"], [0, 0, 1, 0, 1, 1])
    np.testing.assert_array_equal(arrays["optimal"], [-1] * 6)
    info = source.source
    assert info["num_rows"] == 8 and info["num_trajectories"] == 3 and info["num_terminals"] == 1
    assert info["num_dropped_timeouts"] == 1 and info["num_dropped_without_successor"] == 1
    assert info["next_observations_from"] == "observations[i + 1]"
    assert info["name"] == "d4rl/hopper_medium-v2" and info["env_name"] is None
    assert info["file_metadata"] == {}
    assert source.features["observations"].shape == (2,)
    assert source.features["actions"].shape == (2,)
    assert source.action_scale == 1.0


def test_the_transitions_are_qlearning_datasets(tmp_path):
    """On a longer random file, the same rows as a plain loop over D4RL's rules."""
    rng = np.random.default_rng(0)
    num = 500
    rows = {
        "observations": rng.normal(size=(num, 3)).astype(np.float32),
        "actions": rng.uniform(-1, 1, size=(num, 2)).astype(np.float32),
        "rewards": rng.normal(size=num).astype(np.float32),
        "terminals": rng.random(num) < 0.03,
        "timeouts": rng.random(num) < 0.03,
    }
    arrays = d4rl.d4rl_source(write_d4rl(tmp_path / "random.hdf5", rows)).arrays
    expected = _qlearning_dataset(rows)
    for key in ("observations", "next_observations", "actions", "rewards"):
        np.testing.assert_array_equal(arrays[key], expected[key], err_msg=key)
    np.testing.assert_array_equal(arrays["masks"], 1.0 - expected["dones"])
    assert len(arrays["rewards"]) == num - 1 - int(rows["timeouts"][:-1].sum())


def test_next_observations_are_used_when_present(tmp_path):
    rows = _rows()
    following = np.concatenate([rows["observations"][1:], [[300, 300]]]).astype(np.float32)
    following[2] = [100, 100]  # the terminal state reached, not row 3 (the next reset)
    following[5] = [200, 200]
    rows["next_observations"] = following
    source = d4rl.d4rl_source(write_d4rl(tmp_path / "walker.hdf5", rows))
    arrays = source.arrays
    kept = [0, 1, 2, 3, 4, 6, 7]  # only the timeout is dropped: row 7's successor is known
    np.testing.assert_array_equal(arrays["observations"], rows["observations"][kept])
    np.testing.assert_array_equal(
        arrays["next_observations"],
        [[1, 11], [2, 12], [100, 100], [4, 14], [5, 15], [7, 17], [300, 300]],
    )
    np.testing.assert_array_equal(arrays["masks"], [1, 1, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(arrays["terminals"], [0, 0, 1, 0, 1, 0, 1])
    assert source.source["next_observations_from"] == "next_observations"
    assert source.source["num_dropped_without_successor"] == 0
    assert source.source["num_unflagged_episode_ends"] == 0


def test_an_unflagged_boundary_ends_an_episode(tmp_path):
    """Without timeouts, next_observations that are not the next row's mark an episode end."""
    rows = _rows(6)
    del rows["timeouts"]
    rows["terminals"][:] = False
    following = np.concatenate([rows["observations"][1:], [[60, 60]]]).astype(np.float32)
    following[2] = [50, 50]
    rows["next_observations"] = following
    source = d4rl.d4rl_source(write_d4rl(tmp_path / "cut.hdf5", rows))
    np.testing.assert_array_equal(source.arrays["next_observations"], following)
    np.testing.assert_array_equal(source.arrays["masks"], np.ones(6))
    np.testing.assert_array_equal(source.arrays["terminals"], [0, 0, 1, 0, 0, 1])
    assert source.source["num_unflagged_episode_ends"] == 1
    assert source.source["num_trajectories"] == 2


def test_without_timeouts_a_terminal_goes_to_the_next_row_with_a_warning(tmp_path, capsys):
    rows = _rows(4)
    del rows["timeouts"]
    rows["terminals"] = np.array([0.0, 1.0, 0.0, 0.0], np.float32)  # floats, as some files hold
    rows["rewards"] = rows["rewards"][:, None]  # [N, 1], which D4RL accepts too
    source = d4rl.d4rl_source(write_d4rl(tmp_path / "old.hdf5", rows))
    np.testing.assert_array_equal(source.arrays["next_observations"], rows["observations"][1:])
    np.testing.assert_array_equal(source.arrays["rewards"], [0, 1, 2])
    np.testing.assert_array_equal(source.arrays["masks"], [1, 0, 1])
    np.testing.assert_array_equal(source.arrays["terminals"], [0, 1, 1])
    err = capsys.readouterr().err
    assert "neither 'timeouts' nor 'next_observations'" in err and "old.hdf5" in err


def test_env_name_from_the_argument_or_the_file(tmp_path):
    path = write_d4rl(
        tmp_path / "file.hdf5",
        _rows(),
        attrs={"env_name": "hopper-medium-v2"},
        metadata={"algorithm": "SAC", "iteration": 7},
    )
    source = d4rl.d4rl_source(path).source
    assert source["env_name"] == "hopper-medium-v2" and source["env_name_from"] == "file metadata"
    assert source["name"] == "d4rl/hopper-medium-v2"
    assert source["file_metadata"] == {
        "env_name": "hopper-medium-v2",
        "metadata/algorithm": "SAC",
        "metadata/iteration": 7,
    }
    source = d4rl.d4rl_source(path, env_name="walker2d-medium-v2").source
    assert source["env_name"] == "walker2d-medium-v2"
    assert source["env_name_from"] == "d4rl_source.env_name"
    path = write_d4rl(tmp_path / "meta.hdf5", _rows(), metadata={"env_id": "antmaze-umaze-v2"})
    assert d4rl.d4rl_source(path).source["env_name"] == "antmaze-umaze-v2"


def test_actions_outside_are_clipped_and_counted_or_refused(tmp_path):
    rows = _rows()
    rows["actions"][0] = [1.5, -2.0]
    rows["actions"][6] = [0.5, 1.25]
    path = write_d4rl(tmp_path / "wide.hdf5", rows)
    source = d4rl.d4rl_source(path)
    assert source.source["num_clipped_action_values"] == 3
    np.testing.assert_array_equal(source.arrays["actions"][[0, 5]], [[1.0, -1.0], [0.5, 1.0]])
    with pytest.raises(errors.DatasetError, match="3 action values lie outside"):
        d4rl.d4rl_source(path, clip_actions=False)


def _drop(key):
    return lambda rows: rows.pop(key)


def _shorten(key):
    return lambda rows: rows.__setitem__(key, rows[key][:-1])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_drop("rewards"), r"lacks key\(s\) 'rewards'"),
        (_drop("observations"), r"lacks key\(s\) 'observations'"),
        (_shorten("actions"), "'actions' has 7 rows but 'observations' has 8"),
        (_shorten("timeouts"), "'timeouts' has 7 rows but 'observations' has 8"),
        (lambda rows: rows.__setitem__("terminals", np.full(8, 2.0)), "'terminals' must hold"),
        (lambda rows: rows.__setitem__("actions", np.zeros(8)), "'actions' must be 2-D"),
        (
            lambda rows: rows["observations"].__setitem__((3, 1), np.nan),
            "'observations' row 3 is not finite",
        ),
        (lambda rows: rows.__setitem__("timeouts", np.ones(8, bool)), "no transitions"),
    ],
    ids=["rewards", "observations", "length", "timeouts", "flags", "shape", "nan", "empty"],
)
def test_bad_files_name_the_file_and_the_key(tmp_path, change, message):
    rows = _rows()
    change(rows)
    path = write_d4rl(tmp_path / "bad.hdf5", rows, infos=False)
    with pytest.raises(errors.DatasetError, match=message) as caught:
        d4rl.d4rl_source(path)
    assert path in str(caught.value)


def test_a_missing_or_foreign_file_is_a_dataset_error(tmp_path):
    missing = str(tmp_path / "nothing.hdf5")
    with pytest.raises(errors.DatasetError, match="does not exist") as caught:
        d4rl.d4rl_source(missing)
    assert missing in str(caught.value)
    text = tmp_path / "text.hdf5"
    text.write_text("not hdf5")
    with pytest.raises(errors.DatasetError, match="not a readable hdf5 file"):
        d4rl.d4rl_source(str(text))
    with pytest.raises(errors.UserError, match="env_name"):
        d4rl.d4rl_source(str(text), env_name=3)


def test_cfgrl_convert_builds_a_single_task_dataset(tmp_path):
    rows = _rows()
    path = write_d4rl(tmp_path / "hopper_medium-v2.hdf5", rows)
    out = str(tmp_path / "ds")
    result = run_cli(
        "convert",
        "--gin_file=d4rl/convert.gin",
        f"--gin_bindings=d4rl_source.path='{path}'",
        "--gin_bindings=d4rl_source.env_name='hopper-medium-v2'",
        "--gin_bindings=build_dataset.num_shards=2",
        f"--output_dir={out}",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "wrote 6 records in 2 shards" in result.stdout
    dataset = reader.load_dataset(out)
    assert dataset.info.source["name"] == "d4rl/hopper-medium-v2"
    assert dataset.info.source["env_name"] == "hopper-medium-v2"
    assert dataset.info.labels["optimal"]["rule"] == "none"
    np.testing.assert_array_equal(dataset.arrays["rewards"], [0, 1, 2, 3, 4, 6])
    np.testing.assert_array_equal(dataset.arrays["masks"], [1, 1, 0, 1, 1, 1])
    np.testing.assert_array_equal(dataset.arrays["next_observations"][-1], rows["observations"][7])
    # The single-task agents train on it (the check their constructor makes).
    for agent in (CFGRLAgent, IQLAWRAgent):
        features.check_features(dataset.info, agent.batch_features, agent.__name__)
    assert not features.has_trajectories(dataset.info)
    assert not ogbench_singletask.is_single_task(dataset.info)  # not an OGBench task's rewards


def test_the_pipeline_refuses_a_missing_file_and_writes_nothing(tmp_path):
    missing = str(tmp_path / "missing.hdf5")
    common.parse_gin(["d4rl/convert.gin"], [f"d4rl_source.path = '{missing}'"], tree="pipelines")
    with pytest.raises(errors.DatasetError, match="does not exist") as caught:
        build.build_dataset(str(tmp_path / "ds"))
    assert missing in str(caught.value)
    assert not os.path.exists(tmp_path / "ds")
