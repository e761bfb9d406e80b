"""Tests of local OGBench dataset generation (tiny sizes: a few short episodes each)."""

import functools
import glob
import os
import pathlib
import warnings

import gin
import gymnasium
import numpy as np
import ogbench
import pytest
from testutil import REPO_ROOT, run_cli

from cfgrl_tf import errors
from cfgrl_tf.cli import common
from cfgrl_tf.data import ogbench_generate

# The pipelines that generate a dataset (pipelines/ogbench/ also holds the conversion's).
_OGBENCH_PIPELINES = [
    path
    for path in sorted(glob.glob(os.path.join(REPO_ROOT, "pipelines", "ogbench", "*.gin")))
    if "generate_ogbench.dataset_name" in pathlib.Path(path).read_text()
]
_INFO_KEYS = {"qpos", "qvel"}


def _generate(output_dir, dataset_name, **kwargs):
    kwargs.setdefault("num_workers", 1)
    kwargs.setdefault("progress", False)
    return ogbench_generate.generate_ogbench(str(output_dir), dataset_name, **kwargs)


def _raw(path):
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


@functools.lru_cache
def _observation_size(env_name):
    import ogbench.locomaze  # noqa: F401 - registers the environments.
    import ogbench.manipspace  # noqa: F401

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = gymnasium.make(env_name)
        try:
            return env.observation_space.shape[0]
        finally:
            env.close()


def _check_layout(path, env_name, num_episodes, steps, button_states=False):
    """The file has OGBench's keys and dtypes, and `ogbench.load_dataset` reads it."""
    raw = _raw(path)
    keys = {"observations", "actions", "terminals"} | _INFO_KEYS
    assert set(raw) == (keys | {"button_states"} if button_states else keys)
    num = num_episodes * steps
    ob_size = _observation_size(env_name)
    assert raw["observations"].shape == (num, ob_size)
    assert raw["observations"].dtype == np.float32
    assert raw["actions"].dtype == np.float32 and raw["actions"].shape[0] == num
    assert np.all(np.abs(raw["actions"]) <= 1.0)
    assert raw["terminals"].dtype == bool and raw["terminals"].shape == (num,)
    # One terminal, at the last step of each episode.
    assert np.array_equal(
        np.flatnonzero(raw["terminals"]), np.arange(1, num_episodes + 1) * steps - 1
    )
    assert raw["qpos"].dtype == np.float32 and raw["qvel"].dtype == np.float32
    assert raw["qpos"].shape[0] == raw["qvel"].shape[0] == num
    if button_states:
        assert raw["button_states"].dtype == np.int64 and raw["button_states"].shape[0] == num

    loaded = ogbench.load_dataset(path, add_info=True)
    # Regular loading drops each episode's last step, which has no successor.
    assert loaded["observations"].shape == (num - num_episodes, ob_size)
    assert loaded["next_observations"].shape == (num - num_episodes, ob_size)
    assert loaded["terminals"].sum() == num_episodes
    assert set(loaded) >= _INFO_KEYS
    return raw


@pytest.fixture(scope="module")
def pointmaze(tmp_path_factory):
    """pointmaze-medium-navigate: 3 episodes of 100 steps (and 1 val episode), seed 0."""
    output_dir = tmp_path_factory.mktemp("pointmaze")
    paths = _generate(
        output_dir, "pointmaze-medium-navigate-v0", num_episodes=3, max_episode_steps=100
    )
    return output_dir, paths


def test_pointmaze_navigate_files_have_ogbench_layout(pointmaze):
    output_dir, paths = pointmaze
    assert paths == [
        str(output_dir / "pointmaze-medium-navigate-v0.npz"),
        str(output_dir / "pointmaze-medium-navigate-v0-val.npz"),
    ]
    train = _check_layout(paths[0], "pointmaze-medium-v0", num_episodes=3, steps=100)
    val = _check_layout(paths[1], "pointmaze-medium-v0", num_episodes=1, steps=100)
    # The point mass observes its own position: the observation is qpos.
    assert np.array_equal(train["observations"], train["qpos"])
    assert not np.array_equal(train["observations"][:100], val["observations"])


def test_pointmaze_agent_travels_through_the_maze(pointmaze):
    _, paths = pointmaze
    xy = _raw(paths[0])["observations"].reshape(3, 100, 2)
    # Each step moves at most 0.2 per coordinate (actions in [-1, 1] times 0.2); the oracle's
    # direction dominates the noise, so 100 steps cover several 4-unit cells.
    path_length = np.linalg.norm(np.diff(xy, axis=1), axis=-1).sum(axis=1)
    assert np.all(path_length > 8.0)
    assert np.max(np.linalg.norm(xy[:, -1] - xy[:, 0], axis=-1)) > 4.0


def test_same_seed_same_data_whatever_the_workers(pointmaze, tmp_path):
    _, paths = pointmaze
    again = _generate(
        tmp_path / "again",
        "pointmaze-medium-navigate-v0",
        num_episodes=3,
        max_episode_steps=100,
        num_workers=2,
    )
    for first, second in zip(paths, again, strict=True):
        a, b = _raw(first), _raw(second)
        assert set(a) == set(b)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_another_seed_gives_other_data(pointmaze, tmp_path):
    _, paths = pointmaze
    other = _generate(
        tmp_path, "pointmaze-medium-navigate-v0", num_episodes=3, max_episode_steps=100, seed=1
    )
    for first, second in zip(paths, other, strict=True):
        assert not np.array_equal(_raw(first)["observations"], _raw(second)["observations"])


def test_existing_files_are_never_overwritten(pointmaze):
    output_dir, paths = pointmaze
    before = {path: pathlib.Path(path).read_bytes() for path in paths}
    with pytest.raises(errors.DatasetError, match="already exist") as raised:
        _generate(output_dir, "pointmaze-medium-navigate-v0", num_episodes=1, seed=3)
    assert paths[0] in str(raised.value)
    assert {path: pathlib.Path(path).read_bytes() for path in paths} == before


def test_an_existing_val_file_alone_stops_the_run(tmp_path):
    val_path = tmp_path / "pointmaze-large-stitch-v0-val.npz"
    val_path.write_bytes(b"mine")
    with pytest.raises(errors.DatasetError, match="pointmaze-large-stitch-v0-val.npz"):
        _generate(tmp_path, "pointmaze-large-stitch-v0", num_episodes=1)
    assert val_path.read_bytes() == b"mine"
    assert sorted(os.listdir(tmp_path)) == ["pointmaze-large-stitch-v0-val.npz"]


def test_stitch_episodes_are_ogbench_length_and_go_somewhere(tmp_path):
    # Stitch defaults to OGBench's 201-step episodes; 12 episodes give 1 val episode.
    paths = _generate(tmp_path, "pointmaze-teleport-stitch-v0", num_episodes=12)
    raw = _check_layout(paths[0], "pointmaze-teleport-v0", num_episodes=12, steps=201)
    _check_layout(paths[1], "pointmaze-teleport-v0", num_episodes=1, steps=201)
    xy = raw["observations"].reshape(12, 201, 2)
    # The goal is 4 cells (16 units along the corridors) from the start: most episodes end
    # well over a cell (4 units) away from where they began.
    displacement = np.linalg.norm(xy[:, -1] - xy[:, 0], axis=-1)
    assert np.median(displacement) > 6.0


def test_cube_play_moves_the_cube(tmp_path):
    paths = _generate(tmp_path, "cube-single-play-v0", num_episodes=2, max_episode_steps=200)
    raw = _check_layout(paths[0], "cube-single-v0", num_episodes=2, steps=200)
    _check_layout(paths[1], "cube-single-v0", num_episodes=1, steps=200)
    # qpos: 6 arm joints, 8 gripper joints, then the cube's free joint (xyz, quaternion).
    cube_xyz = raw["qpos"].reshape(2, 200, -1)[:, :, 14:17]
    moved = np.linalg.norm(cube_xyz[:, -1] - cube_xyz[:, 0], axis=-1)
    assert np.max(moved) > 0.05
    assert np.max(cube_xyz[:, :, 2]) > 0.05  # Lifted off the table (it rests at z = 0.02).


def test_puzzle_play_presses_buttons(tmp_path):
    paths = _generate(tmp_path, "puzzle-3x3-play-v0", num_episodes=1, max_episode_steps=200)
    raw = _check_layout(paths[0], "puzzle-3x3-v0", num_episodes=1, steps=200, button_states=True)
    buttons = raw["button_states"]
    assert buttons.shape == (200, 9) and set(np.unique(buttons)) <= {0, 1}
    assert np.any(buttons[1:] != buttons[:-1])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dataset_name": "antmaze-large-navigate-v0"}, "pointmaze-medium-navigate-v0"),
        ({"num_episodes": 0}, "num_episodes must be an integer >= 1, got 0"),
        ({"num_workers": 0}, "num_workers must be an integer >= 1, got 0"),
        ({"max_episode_steps": 1}, "max_episode_steps must be an integer >= 2, got 1"),
        ({"seed": -1}, "seed must be an integer >= 0, got -1"),
        ({"noise": -0.1}, "noise must be a finite number >= 0, got -0.1"),
    ],
)
def test_bad_input_is_a_user_error(tmp_path, kwargs, message):
    kwargs = {"dataset_name": "pointmaze-medium-navigate-v0", **kwargs}
    with pytest.raises(errors.UserError, match=message) as raised:
        ogbench_generate.generate_ogbench(str(tmp_path), **kwargs)
    if "antmaze" in kwargs["dataset_name"]:
        assert "antmaze-large-navigate-v0" in str(raised.value)
        assert all(name in str(raised.value) for name in ogbench_generate.SUPPORTED_DATASETS)
    assert os.listdir(tmp_path) == []


def test_env_name_of():
    assert ogbench_generate.env_name_of("pointmaze-medium-navigate-v0") == "pointmaze-medium-v0"
    assert ogbench_generate.env_name_of("pointmaze-giant-stitch-v0") == "pointmaze-giant-v0"
    assert ogbench_generate.env_name_of("cube-single-play-v0") == "cube-single-v0"
    assert ogbench_generate.env_name_of("puzzle-3x3-play-v0") == "puzzle-3x3-v0"
    assert ogbench_generate.env_name_of("scene-play-v0") == "scene-v0"
    for bad in ("pointmaze-medium-v0", "cube-single-play", "pointmaze-medium-walk-v0"):
        with pytest.raises(errors.UserError, match="not an OGBench dataset name"):
            ogbench_generate.env_name_of(bad)


def test_every_supported_dataset_names_a_registered_environment():
    import ogbench.locomaze  # noqa: F401 - registers the environments.
    import ogbench.manipspace  # noqa: F401

    assert len(ogbench_generate.SUPPORTED_DATASETS) == 12
    for name in ogbench_generate.SUPPORTED_DATASETS:
        assert ogbench_generate.env_name_of(name) in gymnasium.registry, name


def test_every_supported_dataset_has_a_pipeline():
    stems = {os.path.basename(path)[: -len(".gin")] for path in _OGBENCH_PIPELINES}
    assert stems == {name[: -len("-v0")] for name in ogbench_generate.SUPPORTED_DATASETS}


@pytest.mark.parametrize("path", _OGBENCH_PIPELINES, ids=os.path.basename)
def test_pipeline_generates(path, tmp_path):
    common.parse_gin(
        [path],
        [
            "generate_ogbench.num_episodes = 1",
            "generate_ogbench.max_episode_steps = 10",
            "generate_ogbench.num_workers = 1",
            "generate_ogbench.progress = False",
        ],
        tree="pipelines",
    )
    dataset_name = os.path.basename(path)[: -len(".gin")] + "-v0"
    assert gin.query_parameter("generate_ogbench.dataset_name") == dataset_name
    paths = ogbench_generate.generate_ogbench(str(tmp_path))
    assert [os.path.basename(p) for p in paths] == [
        f"{dataset_name}.npz",
        f"{dataset_name}-val.npz",
    ]
    for generated in paths:
        raw = _raw(generated)
        assert raw["terminals"].shape == (10,) and raw["terminals"].sum() == 1
        env_name = ogbench_generate.env_name_of(dataset_name)
        assert raw["observations"].shape == (10, _observation_size(env_name))
        assert ("button_states" in raw) == dataset_name.startswith(("scene", "puzzle"))


def test_cli_generates_and_refuses_to_overwrite(tmp_path):
    args = [
        "--gin_file=ogbench/pointmaze-medium-stitch.gin",
        "--gin_bindings=generate_ogbench.num_episodes = 2",
        "--gin_bindings=generate_ogbench.max_episode_steps = 50",
        "--gin_bindings=generate_ogbench.num_workers = 1",
        f"--output_dir={tmp_path}",
    ]
    result = run_cli("generate", *args, timeout=300)
    assert result.returncode == 0, result.stderr
    train = tmp_path / "pointmaze-medium-stitch-v0.npz"
    val = tmp_path / "pointmaze-medium-stitch-v0-val.npz"
    assert f"wrote {train}: 100 transitions in 2 episodes" in result.stdout
    assert f"wrote {val}: 50 transitions in 1 episode" in result.stdout
    assert "3/3 episodes (100%)" in result.stdout
    assert "Traceback" not in result.stderr
    assert "DISPLAY" not in result.stderr and "precision lowered" not in result.stderr

    before = train.read_bytes()
    again = run_cli("generate", *args, timeout=300)
    assert again.returncode == 2
    [line] = [line for line in again.stderr.splitlines() if line.startswith("error:")]
    assert str(train) in line and "already exist" in line
    assert train.read_bytes() == before
