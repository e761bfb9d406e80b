"""ExORL folders as single-task datasets: dm_control's rewards of the next state, ExORL's layout,
clear errors, and the cfgrl-convert pipeline end to end.

The folders are written here in ExORL's layout by stepping the real dm_control environments with
random actions, so every expected reward is one a live environment returned."""

import os
import shutil

import numpy as np
import pytest
from testutil import place_jaco_hand, run_cli, user_error

from cfgrl_tf import configurables, errors
from cfgrl_tf.data import build, exorl, reader, spec
from cfgrl_tf.envs import dmc_tasks

_STEPS = 20
# domain -> (the task the episodes are collected with, episodes).
_COLLECT = {
    "walker": ("walker_walk", 3),
    "quadruped": ("quadruped_run", 2),
    "cheetah": ("cheetah_run", 2),
    "jaco": ("jaco_reach_top_left", 2),
}
# Where a jaco episode starts its tool centre point: between the two targets, 9 cm from each,
# so that both reach tasks have rewards that vary (a random start is usually too far for any).
_JACO_START = (0.0, 0.09, 0.041)


def _collect_episode(env, rng):
    """One episode in ExORL's layout (row 0: the reset step, zero action, reward 0) and the
    rewards the live environment returned at steps 1..T."""
    time_step = env.reset()
    if env.name.startswith("jaco"):
        place_jaco_hand(env, _JACO_START)
        time_step = env.step(np.zeros(env.action_spec().shape))  # observe the placed hand
    shape = env.action_spec().shape
    rows = {
        "observation": [time_step.observation],
        "action": [np.zeros(shape, np.float32)],
        "reward": [np.zeros(1, np.float32)],
        "discount": [np.ones(1, np.float32)],
        "physics": [env.physics.get_state()],
    }
    for _ in range(_STEPS):
        action = rng.uniform(-1.0, 1.0, shape).astype(np.float32)
        time_step = env.step(action)
        rows["observation"].append(time_step.observation)
        rows["action"].append(action)
        rows["reward"].append(np.full(1, time_step.reward, np.float32))
        rows["discount"].append(np.full(1, time_step.discount, np.float32))
        rows["physics"].append(env.physics.get_state())
    episode = {key: np.stack(values) for key, values in rows.items()}
    return episode, episode["reward"][1:, 0].copy()


def _write(folder, name, episode):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    np.savez_compressed(path, **episode)
    return path


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """{domain: (the <domain>/rnd folder, episodes in sorted file order, live rewards)}.

    Episodes are written newest first, so the file order (ExORL's timestamps) is the reverse of
    the collection order: a reader that took the directory's order would fail the tests."""
    root = tmp_path_factory.mktemp("exorl")
    out = {}
    for domain, (task, num) in _COLLECT.items():
        env = dmc_tasks.make_task(task, seed=0)
        rng = np.random.default_rng(0)
        folder = os.path.join(root, domain, "rnd")
        episodes, live = [], []
        for k in range(num):
            episode, rewards = _collect_episode(env, rng)
            stamp = f"20220101T0000{num - k:02d}"
            _write(os.path.join(folder, "buffer"), f"{stamp}_{num - 1 - k}_{_STEPS}.npz", episode)
            episodes.insert(0, episode)
            live.insert(0, rewards)
        env.close()
        out[domain] = (folder, episodes, live)
    return out


def _replayed_rewards(task, episodes):
    """The rewards a live environment of `task` returns replaying each episode's actions from
    its stored reset state."""
    env = dmc_tasks.make_task(task, seed=0)
    rewards = []
    for episode in episodes:
        env.reset()
        with env.physics.reset_context():
            env.physics.set_state(episode["physics"][0])
        rewards.extend(env.step(action).reward for action in episode["action"][1:])
    env.close()
    return np.asarray(rewards, np.float32)


@pytest.mark.parametrize("domain", sorted(_COLLECT))
def test_rewards_are_those_the_live_environment_returned(collected, domain):
    folder, _, live = collected[domain]
    arrays = exorl.exorl_source(folder, task=_COLLECT[domain][0]).arrays
    expected = np.concatenate(live)
    np.testing.assert_array_equal(arrays["rewards"], expected)
    assert np.ptp(expected) > 1e-3  # the rewards vary: equality means something


@pytest.mark.parametrize(
    ("domain", "task"),
    [
        ("walker", "walker_stand"),
        ("walker", "walker_run"),
        ("quadruped", "quadruped_walk"),
        ("cheetah", "cheetah_run_backward"),
        ("jaco", "jaco_reach_top_right"),
    ],
)
def test_rewards_of_another_task_are_a_live_replays(collected, domain, task):
    folder, episodes, _ = collected[domain]
    rewards = exorl.exorl_source(folder, task=task).arrays["rewards"]
    expected = _replayed_rewards(task, episodes)
    np.testing.assert_allclose(rewards, expected, rtol=1e-6, atol=1e-9)
    assert np.ptp(expected) > 1e-3
    collected_rewards = exorl.exorl_source(folder, task=_COLLECT[domain][0]).arrays["rewards"]
    assert not np.allclose(rewards, collected_rewards)  # another task: other rewards


def test_transitions_follow_exorls_layout(collected, capsys):
    """obs[t], action[t+1], obs[t+1] for t < T, in file order; masks 1; terminals at ends."""
    folder, episodes, _ = collected["walker"]
    data = exorl.exorl_source(folder, task="walker_walk")
    arrays = data.arrays
    num = 3 * _STEPS
    assert {key: len(value) for key, value in arrays.items()} == dict.fromkeys(arrays, num)
    for key, rows in [
        ("observations", [e["observation"][:-1] for e in episodes]),
        ("actions", [e["action"][1:] for e in episodes]),
        ("next_observations", [e["observation"][1:] for e in episodes]),
    ]:
        np.testing.assert_array_equal(arrays[key], np.concatenate(rows), err_msg=key)
    np.testing.assert_array_equal(arrays["masks"], np.ones(num))
    assert np.flatnonzero(arrays["terminals"]).tolist() == [19, 39, 59]
    np.testing.assert_array_equal(arrays["optimal"], np.full(num, spec.NO_LABEL))
    assert data.features == spec.transition_features(24, 6)
    for key, feature in data.features.items():
        assert arrays[key].dtype == np.dtype(feature.dtype), key
    assert data.source["name"] == "exorl/rnd/walker_walk"
    assert data.source["env_name"] == "walker_walk"
    assert data.source["num_trajectories"] == 3
    assert data.source["first_episode"] == "20220101T000001_0_20.npz"
    assert data.source["num_clipped_action_values"] == 0
    out = capsys.readouterr().out
    assert "relabelling 3 ExORL episodes" in out and "3/3 episodes (100%)" in out


def test_the_buffer_folder_and_max_episodes(collected):
    folder, episodes, live = collected["walker"]
    whole = exorl.exorl_source(folder, task="walker_walk").arrays
    from_buffer = exorl.exorl_source(os.path.join(folder, "buffer"), task="walker_walk").arrays
    for key in whole:
        np.testing.assert_array_equal(from_buffer[key], whole[key], err_msg=key)
    first = exorl.exorl_source(folder, task="walker_walk", max_episodes=2).arrays
    assert len(first["rewards"]) == 2 * _STEPS
    np.testing.assert_array_equal(first["rewards"], np.concatenate(live[:2]))
    np.testing.assert_array_equal(first["actions"][:_STEPS], episodes[0]["action"][1:])


def _one_episode_folder(collected, tmp_path, domain="walker", **changes):
    """A `<domain>/rnd` folder holding the first collected episode with `changes` applied (a
    value of None drops the key); returns (folder, episode file)."""
    episode = dict(collected[domain][1][0])
    for key, value in changes.items():
        if value is None:
            del episode[key]
        else:
            episode[key] = value
    folder = str(tmp_path / domain / "rnd")
    path = _write(os.path.join(folder, "buffer"), f"20220101T000000_0_{_STEPS}.npz", episode)
    return folder, path


def test_out_of_range_actions_are_clipped_and_counted(collected, tmp_path):
    action = collected["walker"][1][0]["action"].copy()
    action[3, :2] = [1.5, -2.0]
    folder, path = _one_episode_folder(collected, tmp_path, action=action)
    data = exorl.exorl_source(folder, task="walker_walk")
    assert data.source["num_clipped_action_values"] == 2
    np.testing.assert_array_equal(data.arrays["actions"][2, :2], [1.0, -1.0])
    with pytest.raises(errors.DatasetError, match=r"2 action values lie outside \[-1, 1\]"):
        exorl.exorl_source(folder, task="walker_walk", clip_actions=False)


def _episode(collected, key):
    return collected["walker"][1][0][key]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: {"physics": None}, r"lacks key\(s\) 'physics'"),
        (
            lambda c: {"action": _episode(c, "action")[:-1]},
            rf"'action' has {_STEPS} rows but 'observation' has {_STEPS + 1}",
        ),
        (
            lambda c: {"physics": np.pad(_episode(c, "physics"), ((0, 0), (0, 1)))},
            r"'physics' has size 19 but walker_walk's environment has 18",
        ),
        (
            lambda c: {k: v[:-1] for k, v in c["walker"][1][0].items()},
            rf"its name says {_STEPS} steps but its arrays hold {_STEPS - 1}",
        ),
        (
            lambda c: {"physics": _episode(c, "physics")[:, 0]},
            rf"'physics' must be 2-D \[steps \+ 1, size\], got shape \({_STEPS + 1},\)",
        ),
    ],
    ids=["missing-key", "lengths-differ", "physics-size", "truncated", "physics-shape"],
)
def test_a_bad_episode_is_refused_naming_file_and_key(collected, tmp_path, change, message):
    folder, path = _one_episode_folder(collected, tmp_path, **change(collected))
    with pytest.raises(errors.DatasetError, match=message) as raised:
        exorl.exorl_source(folder, task="walker_walk")
    assert path in str(raised.value)


def test_a_non_finite_state_is_refused(collected, tmp_path):
    physics = _episode(collected, "physics").copy()
    physics[7, 2] = np.nan
    folder, path = _one_episode_folder(collected, tmp_path, physics=physics)
    with pytest.raises(errors.DatasetError, match=r"'physics' row 7 is not finite"):
        exorl.exorl_source(folder, task="walker_walk")


def test_episodes_of_another_domain_are_refused(collected, tmp_path):
    # A folder not named after its domain: the sizes catch it (walker and cheetah both have
    # 18 physics values, but 24 and 17 observation values).
    source = os.path.join(collected["walker"][0], "buffer")
    folder = str(tmp_path / "mystery")
    shutil.copytree(source, os.path.join(folder, "buffer"))
    with pytest.raises(errors.DatasetError, match=r"'observation' has size 24 but cheetah_run's"):
        exorl.exorl_source(folder, task="cheetah_run")
    # A folder named after its domain: refused before reading it.
    with pytest.raises(errors.UserError, match=r"is a cheetah task but .* holds walker episodes"):
        exorl.exorl_source(collected["walker"][0], task="cheetah_run")


def test_bad_folders_tasks_and_counts_are_named(collected, tmp_path):
    with pytest.raises(errors.DatasetError, match=r"does not exist"):
        exorl.exorl_source(str(tmp_path / "nowhere"), task="walker_walk")
    os.makedirs(tmp_path / "walker" / "rnd" / "buffer")
    with pytest.raises(errors.DatasetError, match=r"buffer holds no episodes \(\*\.npz\)"):
        exorl.exorl_source(str(tmp_path / "walker" / "rnd"), task="walker_walk")
    with pytest.raises(errors.UserError, match=r"'walker_flip'; known tasks: walker_stand, "):
        exorl.exorl_source(collected["walker"][0], task="walker_flip")
    with pytest.raises(errors.UserError, match=r"max_episodes must be a positive integer"):
        exorl.exorl_source(collected["walker"][0], task="walker_walk", max_episodes=0)


def test_the_pipeline_builds_a_dataset_the_reader_loads(collected, tmp_path):
    folder, _, live = collected["quadruped"]
    configurables.parse_gin(
        ["exorl/convert.gin"],
        [
            f"exorl_source.path = '{folder}'",
            "exorl_source.task = 'quadruped_run'",
            "build_dataset.num_shards = 2",
        ],
        tree="pipelines",
    )
    build.build_dataset(str(tmp_path / "ds"))
    dataset = reader.load_dataset(str(tmp_path / "ds"))
    assert dataset.num_records == 2 * _STEPS and len(dataset.info.shards) == 2
    assert dataset.info.source["name"] == "exorl/rnd/quadruped_run"
    assert dataset.info.labels["optimal"]["rule"] == "none"
    np.testing.assert_array_equal(dataset.arrays["rewards"], np.concatenate(live))


def test_cfgrl_convert_end_to_end(collected, tmp_path):
    folder, _, _ = collected["cheetah"]
    output_dir = str(tmp_path / "cheetah_run_backward")
    result = run_cli(
        "convert",
        "--gin_file=exorl/convert.gin",
        f"--output_dir={output_dir}",
        f"--gin_bindings=exorl_source.path='{folder}'",
        "--gin_bindings=exorl_source.task='cheetah_run_backward'",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"wrote {2 * _STEPS} records in 8 shards to {output_dir}" in result.stdout
    dataset = reader.load_dataset(output_dir)
    expected = exorl.exorl_source(folder, task="cheetah_run_backward").arrays
    for key in ("observations", "actions", "rewards", "masks", "terminals"):
        np.testing.assert_array_equal(dataset.arrays[key], expected[key], err_msg=key)
    assert dataset.info.source["env_name"] == "cheetah_run_backward"

    result = run_cli(
        "convert",
        "--gin_file=exorl/convert.gin",
        f"--output_dir={tmp_path / 'other'}",
        f"--gin_bindings=exorl_source.path='{folder}'",
        "--gin_bindings=exorl_source.task='cheetah_walk'",
        timeout=300,
    )
    line = user_error(result)
    assert "'cheetah_walk'; known tasks: walker_stand" in line
    assert not os.path.exists(tmp_path / "other")
