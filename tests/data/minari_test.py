"""Minari datasets: the transitions of Minari's own episodes, read without Minari; clear errors."""

import collections
import json
import os
import sys
import warnings

import gymnasium as gym
import h5py
import numpy as np
import pytest

from cfgrl_tf import errors
from cfgrl_tf.agents import CFGRLAgent, IQLAWRAgent
from cfgrl_tf.cli import common
from cfgrl_tf.data import build, features, minari_reader, reader


class _DictObservations(gym.ObservationWrapper):
    """Pendulum's observation as {'velocity': [1], 'angle': [2]}, in that (unsorted) key order."""

    def __init__(self, env):
        super().__init__(env)
        self.observation_space = gym.spaces.Dict(
            collections.OrderedDict(
                velocity=gym.spaces.Box(-8.0, 8.0, (1,), np.float32),
                angle=gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
            )
        )

    def observation(self, observation):
        return {"velocity": observation[2:], "angle": observation[:2]}


def _collect(root, dataset_id, env, num_episodes, **create_kwargs):
    """Random-action episodes written by Minari's own DataCollector, and Minari's reading of them.

    Returns:
      (the dataset folder, Minari's episodes, the collection env's observation space).
    """
    minari = pytest.importorskip("minari")
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        # Minari writes under MINARI_DATASETS_PATH (default ~/.minari): keep it in tmp.
        patch.setenv("MINARI_DATASETS_PATH", str(root))
        warnings.simplefilter("ignore")  # Minari's warnings about missing authors and such
        collector = minari.DataCollector(env)
        collector.action_space.seed(0)
        for seed in range(num_episodes):
            collector.reset(seed=seed)
            done = False
            while not done:
                _, _, terminated, truncated, _ = collector.step(collector.action_space.sample())
                done = terminated or truncated
        collector.create_dataset(dataset_id=dataset_id, algorithm_name="random", **create_kwargs)
        episodes = list(minari.load_dataset(dataset_id).iterate_episodes())
        space = collector.observation_space
        collector.close()
    return os.path.join(str(root), *dataset_id.split("/")), episodes, space


@pytest.fixture(scope="module")
def inverted_pendulum(tmp_path_factory):
    """InvertedPendulum-v5, actions in [-3, 3], 8-step limit: episodes that fall and that don't."""
    env = gym.make("InvertedPendulum-v5", max_episode_steps=8)
    return _collect(
        tmp_path_factory.mktemp("minari"),
        "cfgrl/invertedpendulum/random-v0",
        env,
        num_episodes=6,
        eval_env="InvertedPendulum-v5",
        ref_min_score=0.0,
        ref_max_score=1000.0,
    )


def _expected(episodes, observation=lambda o: o):
    """Minari's episodes as transitions, by the rules of `minari_reader`'s docstring."""
    parts = collections.defaultdict(list)
    for episode in episodes:
        obs = np.asarray(observation(episode.observations), np.float32)
        ends = episode.terminations | episode.truncations
        ends[-1] = True
        parts["observations"].append(obs[:-1])
        parts["next_observations"].append(obs[1:])
        parts["actions"].append(episode.actions)
        parts["rewards"].append(episode.rewards)
        parts["masks"].append(1.0 - episode.terminations)
        parts["terminals"].append(ends)
    return {key: np.concatenate(value) for key, value in parts.items()}


def test_the_transitions_are_those_of_minaris_episodes(inverted_pendulum):
    path, episodes, _ = inverted_pendulum
    terminated = [bool(e.terminations[-1]) for e in episodes]
    truncated = [bool(e.truncations[-1]) for e in episodes]
    # The data has both kinds of episode end, so masks and terminals are both tested.
    assert any(terminated) and any(truncated)
    source = minari_reader.minari_source(path)
    expected = _expected(episodes)
    arrays = source.arrays
    for key in ("observations", "next_observations", "rewards", "masks", "terminals"):
        np.testing.assert_array_equal(arrays[key], expected[key].astype(np.float32), err_msg=key)
    # Actions are scaled from InvertedPendulum's [-3, 3] into [-1, 1].
    assert source.action_scale == pytest.approx(1.0 / 3.0)
    np.testing.assert_allclose(arrays["actions"], expected["actions"] / 3.0, rtol=1e-6)
    assert np.abs(arrays["actions"]).max() <= 1.0
    np.testing.assert_array_equal(arrays["optimal"], -1)
    assert len(arrays["rewards"]) == sum(len(e.rewards) for e in episodes)
    assert source.features["observations"].shape == (4,)
    assert source.features["actions"].shape == (1,)
    info = source.source
    assert info["env_name"] == "InvertedPendulum-v5" == info["eval_env_name"]
    assert info["max_episode_steps"] == 8
    assert info["name"] == "minari/cfgrl/invertedpendulum/random-v0"
    assert info["num_trajectories"] == 6 and info["num_clipped_action_values"] == 0
    assert info["num_terminations"] == sum(terminated)
    assert info["action_space"] == {"low": [-3.0], "high": [3.0]}
    assert (info["ref_min_score"], info["ref_max_score"]) == (0.0, 1000.0)
    # Its data/ folder is read the same.
    data = minari_reader.minari_source(os.path.join(path, "data")).arrays
    np.testing.assert_array_equal(data["observations"], arrays["observations"])


def test_a_flat_dict_observation_space_is_concatenated_in_the_envs_order(tmp_path):
    env = _DictObservations(gym.make("Pendulum-v1", max_episode_steps=5))
    path, episodes, space = _collect(tmp_path, "cfgrl/pendulum/dict-v0", env, num_episodes=2)
    source = minari_reader.minari_source(path)
    # Gymnasium's flatten of the env's own space: velocity first, although hdf5 lists angle first.
    flatten = lambda obs: np.stack(  # noqa: E731
        [
            gym.spaces.flatten(space, {k: v[t] for k, v in obs.items()})
            for t in range(len(obs["angle"]))
        ]
    )
    expected = _expected(episodes, flatten)
    for key in ("observations", "next_observations", "rewards", "masks", "terminals"):
        np.testing.assert_array_equal(
            source.arrays[key], expected[key].astype(np.float32), err_msg=key
        )
    assert source.arrays["observations"][0, 0] == episodes[0].observations["velocity"][0, 0]
    assert source.source["observation_keys"] == ["velocity", "angle"]
    # Pendulum never terminates: every episode is cut by its time limit.
    np.testing.assert_array_equal(source.arrays["masks"], 1.0)
    np.testing.assert_array_equal(source.arrays["terminals"], [0, 0, 0, 0, 1] * 2)
    assert source.action_scale == 0.5  # Pendulum's torque is in [-2, 2]


def test_the_pipeline_converts_it_without_minari(inverted_pendulum, tmp_path, monkeypatch):
    path, episodes, _ = inverted_pendulum
    monkeypatch.setitem(sys.modules, "minari", None)  # any `import minari` now fails
    common.parse_gin(
        ["minari/convert.gin"],
        [f"minari_source.path = '{path}'", "build_dataset.num_shards = 2"],
        tree="pipelines",
    )
    info = build.build_dataset(str(tmp_path / "ds"))
    dataset = reader.load_dataset(str(tmp_path / "ds"))
    assert dataset.num_records == info.num_records == sum(len(e.rewards) for e in episodes)
    assert dataset.info.action_scale == pytest.approx(1.0 / 3.0)
    assert dataset.info.source["env_name"] == "InvertedPendulum-v5"
    assert dataset.info.labels["optimal"]["rule"] == "none"
    np.testing.assert_array_equal(dataset.arrays["masks"], _expected(episodes)["masks"])
    for agent in (CFGRLAgent, IQLAWRAgent):
        features.check_features(dataset.info, agent.batch_features, agent.__name__)
    assert not features.has_trajectories(dataset.info)


# Hand-written folders in Minari's layout, for exact expectations and malformed input.

_ENV_SPEC = json.dumps({"id": "Hopper-v5", "max_episode_steps": 1000, "kwargs": {}})
_BOX = {"type": "Box", "dtype": "float32"}


def _episode(steps, obs_dim=2, terminated=False, start=0.0):
    observations = start + np.arange((steps + 1) * obs_dim, dtype=np.float32)
    last = np.arange(steps) == steps - 1
    return {
        "observations": observations.reshape(steps + 1, obs_dim),
        "actions": np.linspace(-1, 1, steps * 2, dtype=np.float32).reshape(steps, 2),
        "rewards": np.arange(steps, dtype=np.float64),
        "terminations": last & terminated,
        "truncations": last & (not terminated),
    }


def write_minari(folder, episodes, **metadata):
    """Writes `folder/data/metadata.json` and `folder/data/main_data.hdf5` as Minari does."""
    data = os.path.join(str(folder), "data")
    os.makedirs(data, exist_ok=True)
    content = {
        "dataset_id": "test/hopper/tiny-v0",
        "data_format": "hdf5",
        "total_episodes": len(episodes),
        "env_spec": _ENV_SPEC,
        "observation_space": json.dumps({**_BOX, "shape": [2], "low": [-9] * 2, "high": [9] * 2}),
        "action_space": json.dumps({**_BOX, "shape": [2], "low": [-1] * 2, "high": [1] * 2}),
    }
    content.update(metadata)
    content = {key: value for key, value in content.items() if value is not None}
    with open(os.path.join(data, "metadata.json"), "w") as f:
        json.dump(content, f)
    with h5py.File(os.path.join(data, "main_data.hdf5"), "w") as f:
        for i, episode in enumerate(episodes):
            group = f.create_group(f"episode_{i}")
            for key, value in episode.items():
                group.create_dataset(key, data=value)
            group.create_group("infos")
    return str(folder)


def test_hand_written_episodes_give_exact_masks_and_terminals(tmp_path):
    episodes = [_episode(3, terminated=True), _episode(2, start=100.0)]
    source = minari_reader.minari_source(write_minari(tmp_path / "tiny", episodes))
    arrays = source.arrays
    np.testing.assert_array_equal(
        arrays["observations"], [[0, 1], [2, 3], [4, 5], [100, 101], [102, 103]]
    )
    np.testing.assert_array_equal(
        arrays["next_observations"], [[2, 3], [4, 5], [6, 7], [102, 103], [104, 105]]
    )
    np.testing.assert_array_equal(arrays["rewards"], [0, 1, 2, 0, 1])
    np.testing.assert_array_equal(arrays["masks"], [1, 1, 0, 1, 1])
    np.testing.assert_array_equal(arrays["terminals"], [0, 0, 1, 0, 1])
    assert source.action_scale == 1.0
    # Without an eval_env_spec, Minari evaluates in the collection env.
    assert source.source["env_name"] == "Hopper-v5" == source.source["eval_env_name"]
    assert source.source["max_episode_steps"] == 1000
    assert source.source["num_trajectories"] == 2 and source.source["num_terminations"] == 1


def _set(episode, key, value):
    def change(episodes):
        episodes[episode][key] = value

    return change


def _drop(episode, key):
    return lambda episodes: episodes[episode].pop(key)


_IMAGE = {**_BOX, "shape": [8, 8, 3], "low": 0, "high": 255}


@pytest.mark.parametrize(
    ("change", "metadata", "file", "message"),
    [
        (_drop(0, "rewards"), {}, "main_data.hdf5", r"episode_0 lacks key\(s\) 'rewards'"),
        (
            _set(1, "observations", np.zeros((2, 2), np.float32)),
            {},
            "main_data.hdf5",
            "episode_1: 'observations' has 2 rows but 'actions' has 2",
        ),
        (
            _set(0, "terminations", np.zeros(2, bool)),
            {},
            "main_data.hdf5",
            "episode_0: 'terminations' has shape",
        ),
        (
            _set(1, "actions", np.zeros(2, np.float32)),
            {},
            "main_data.hdf5",
            "episode_1: 'actions' has shape",
        ),
        (None, {"total_episodes": 3}, "main_data.hdf5", "'total_episodes' says 3"),
        (None, {"data_format": "arrow"}, "metadata.json", "'data_format' is 'arrow'"),
        (
            None,
            {"action_space": json.dumps({"type": "Discrete", "n": 3, "start": 0})},
            "metadata.json",
            "'action_space' is a Discrete space",
        ),
        (
            None,
            {"observation_space": json.dumps({"type": "Dict", "subspaces": {"pixels": _IMAGE}})},
            "metadata.json",
            "'observation_space' is a Dict space",
        ),
    ],
    ids=["key", "length", "flags", "discrete", "count", "arrow", "actions", "image"],
)
def test_bad_datasets_name_the_file_and_the_key(tmp_path, change, metadata, file, message):
    episodes = [_episode(3), _episode(2)]
    if change is not None:
        change(episodes)
    folder = write_minari(tmp_path / "bad", episodes, **metadata)
    with pytest.raises(errors.DatasetError, match=message) as caught:
        minari_reader.minari_source(folder)
    assert os.path.join(folder, "data", file) in str(caught.value)


def test_a_missing_folder_or_file_is_a_dataset_error(tmp_path):
    with pytest.raises(errors.DatasetError, match="does not exist"):
        minari_reader.minari_source(str(tmp_path / "nothing"))
    os.makedirs(tmp_path / "empty")
    with pytest.raises(errors.DatasetError, match="not a Minari dataset folder") as caught:
        minari_reader.minari_source(str(tmp_path / "empty"))
    assert "metadata.json" in str(caught.value)
    folder = write_minari(tmp_path / "nodata", [_episode(2)])
    os.remove(os.path.join(folder, "data", "main_data.hdf5"))
    with pytest.raises(errors.DatasetError, match="main_data.hdf5 not found") as caught:
        minari_reader.minari_source(folder)
    assert os.path.join(folder, "data", "main_data.hdf5") in str(caught.value)
    with open(os.path.join(folder, "data", "metadata.json"), "w") as f:
        f.write("{not json")
    with pytest.raises(errors.DatasetError, match="metadata.json is not valid JSON"):
        minari_reader.minari_source(folder)
