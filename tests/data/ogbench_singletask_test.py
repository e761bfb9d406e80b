"""Single-task OGBench datasets: OGBench's own rewards and masks, and clear errors."""

import json
import os
import warnings

import numpy as np
import ogbench
import pytest
from testutil import write_tiny_ogbench_npz

from cfgrl_tf import errors
from cfgrl_tf.agents import CFGRLAgent, GCCFGRLAgent, base
from cfgrl_tf.data import build, ogbench_generate, ogbench_singletask, spec

# (dataset, task, episodes, steps): a maze, and manipulation with cubes, buttons, drawer, window.
_CASES = [
    ("pointmaze-large-navigate-v0", None, 6, 1000),
    ("pointmaze-large-navigate-v0", 3, 6, 1000),
    ("cube-single-play-v0", None, 2, 200),
    ("scene-play-v0", 4, 2, 200),
    ("puzzle-3x3-play-v0", None, 2, 200),
]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Small files generated with OGBench's environments and oracles, one per dataset."""
    out = tmp_path_factory.mktemp("raw")
    files = {}
    for name, _, episodes, steps in _CASES:
        if name not in files:
            ogbench_generate.generate_ogbench(
                str(out),
                name,
                num_episodes=episodes,
                max_episode_steps=steps,
                num_workers=1,
                progress=False,
            )
            files[name] = os.path.join(str(out), f"{name}.npz")
    return files


@pytest.mark.parametrize(("name", "task"), [(c[0], c[1]) for c in _CASES])
def test_rewards_and_masks_are_ogbenchs(generated, name, task):
    """The same arrays `ogbench.make_env_and_datasets` gives for that file and task."""
    path = generated[name]
    source = ogbench_singletask.ogbench_singletask_source(path, task=task)
    stem = name[: -len("-v0")]
    task_name = f"{stem}-singletask{'' if task is None else f'-task{task}'}-v0"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, train, _ = ogbench.make_env_and_datasets(task_name, dataset_path=path)
    for key in ("observations", "actions", "next_observations", "rewards", "masks"):
        np.testing.assert_array_equal(source.arrays[key], train[key], err_msg=key)
    assert source.source["dataset_name"] == task_name
    assert source.source["name"] == f"ogbench/{task_name}"
    # Rewards are OGBench's: 0 exactly where the task is solved (mask 0), negative elsewhere.
    solved = source.arrays["masks"] == 0.0
    assert np.all(source.arrays["rewards"][solved] == 0.0)
    assert np.all(source.arrays["rewards"][~solved] < 0.0)
    expected_task = task or {"pointmaze": 1, "cube": 2, "scene": 2, "puzzle": 4}[stem.split("-")[0]]
    assert source.source["task_id"] == expected_task


def test_the_data_varies_the_reward(generated):
    """Relabelling is meaningful on these files: rewards are not all equal."""
    arrays = ogbench_singletask.ogbench_singletask_source(generated["puzzle-3x3-play-v0"]).arrays
    assert len(np.unique(arrays["rewards"])) > 1


def test_converted_dataset_is_single_task(generated, tmp_path):
    out = str(tmp_path / "data")
    path = generated["cube-single-play-v0"]
    info = build.build_dataset(
        out, source=lambda: ogbench_singletask.ogbench_singletask_source(path), num_shards=2
    )
    assert ogbench_singletask.is_single_task(info)
    assert {"rewards", "masks", "next_observations", "terminals"} <= set(info.features)
    assert "trajectory_start" not in info.features
    with open(os.path.join(out, spec.INFO_FILENAME)) as f:
        assert json.load(f)["source"]["env_name"] == "cube-single-singletask-v0"


def test_a_task_the_environment_lacks_is_named(tmp_path):
    npz = write_tiny_ogbench_npz(tmp_path / "pointmaze-medium-navigate-v0.npz")
    with pytest.raises(errors.UserError, match=r"no single-task task 7: its tasks are 1, 2, 3"):
        ogbench_singletask.ogbench_singletask_source(npz, task=7)


def test_a_file_without_qpos_is_refused_naming_the_key(tmp_path):
    npz = write_tiny_ogbench_npz(tmp_path / "pointmaze-medium-navigate-v0.npz", qpos=None)
    with pytest.raises(errors.DatasetError, match=r"lacks 'qpos', which the single-task rewards"):
        ogbench_singletask.ogbench_singletask_source(npz)


def test_all_equal_rewards_warn(tmp_path, capsys):
    npz = write_tiny_ogbench_npz(tmp_path / "pointmaze-medium-navigate-v0.npz")
    arrays = ogbench_singletask.ogbench_singletask_source(npz).arrays
    assert np.all(arrays["rewards"] == -1.0)
    assert "never solves the task, so a critic has no signal" in capsys.readouterr().err


def test_agents_and_datasets_of_the_other_family_are_refused(tiny_task_dir, tiny_goal_dir):
    from cfgrl_tf.data.spec import DatasetInfo

    task_info, goal_info = DatasetInfo.read(tiny_task_dir), DatasetInfo.read(tiny_goal_dir)
    assert base.agent_arguments(CFGRLAgent, task_info)["observation_dim"] == 2
    with pytest.raises(errors.DatasetError, match="no trajectories to draw goals from"):
        base.agent_arguments(GCCFGRLAgent, task_info)
    with pytest.raises(errors.DatasetError, match="is goal-conditioned: its rewards depend"):
        base.agent_arguments(CFGRLAgent, goal_info)
