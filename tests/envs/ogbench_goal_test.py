"""Tests for cfgrl_tf.envs.ogbench_goal: the policy's inputs, w rows paired and kept apart, bad
input, a manipulation env, and env_dims."""

from __future__ import annotations

import numpy as np
import pytest
from envs.goal_testutil import ENV, EPISODES, STEPS, TASKS, WEIGHTS, Recorder, controller

from cfgrl_tf import errors
from cfgrl_tf.envs.ogbench_goal import env_dims, evaluate_lockstep, evaluate_one_at_a_time


def test_policy_inputs_are_observations_and_goals(lockstep_run, one_at_a_time_run):
    for _, recorder in (lockstep_run, one_at_a_time_run):
        assert all(keys == ["observations", "goals"] for keys in recorder.keys)
        observations, goals, sweeps, seed = recorder.calls[0]
        assert observations.dtype == goals.dtype == sweeps.dtype == np.float32
        assert observations.shape[1] == goals.shape[1] == 2  # the maze's x-y
        assert isinstance(seed, int)


def test_every_w_row_starts_from_the_same_observation_and_goal(lockstep_run):
    _, recorder = lockstep_run
    observations, goals, sweeps, _ = recorder.calls[0]
    shape = (len(TASKS), EPISODES, len(WEIGHTS))
    obs = observations.reshape(*shape, -1)
    goal = goals.reshape(*shape, -1)
    np.testing.assert_array_equal(sweeps.reshape(shape), np.broadcast_to(WEIGHTS, shape))
    for w in range(1, len(WEIGHTS)):
        np.testing.assert_array_equal(obs[:, :, w], obs[:, :, 0])
        np.testing.assert_array_equal(goal[:, :, w], goal[:, :, 0])
    # ...while episodes and tasks differ (start noise, and goal noise in the maze's default setup).
    assert not np.array_equal(obs[:, 0], obs[:, 1])
    assert not np.array_equal(goal[0], goal[1])


def test_w_reaches_its_own_rows(lockstep_run):
    results, recorder = lockstep_run
    # w = 0 stands still: never a success, always the full time limit. Mixed-up rows would move.
    still = [r for r in results if r.sweep_value == 0.0]
    assert all(not r.success and r.length == STEPS for r in still)
    # w = 1 reaches task 1's goal from every start.
    assert all(r.success for r in results if r.sweep_value == 1.0 and r.task_id == 1)
    # The rows at w = 0 still hold their starts at the last step: they got the zero actions.
    first, last = recorder.calls[0], recorder.calls[-1]
    starts = first[0][first[2] == 0.0]
    now = last[0][last[2] == 0.0]
    assert len(now) >= len(starts) == 4  # (padding may repeat a row)
    distance = np.linalg.norm(now[:, None] - starts[None], axis=-1).min(axis=1)
    assert distance.max() < 1e-3
    moved = last[0][last[2] == 1.0]
    assert len(moved) and np.linalg.norm(moved[:, None] - starts[None], axis=-1).min() > 0.1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"env_name": "pointmaze-mediun-v0"}, "unknown environment 'pointmaze-mediun-v0'"),
        ({"env_name": "visual-cube-single-v0"}, "not a state-based OGBench"),
        ({"env_name": "CartPole-v1"}, "not a state-based OGBench"),
        ({"task_ids": (0, 1)}, "task_ids must be integers in 1..5"),
        ({"task_ids": (6,)}, "got 6"),
        ({"goal_key": "goals"}, "goal_key must be one of ('observations', 'oracle_reps')"),
        ({"sweep_values": (1.0, 1.0)}, "repeats a value"),
        ({"sweep_values": ()}, "sweep_values is empty"),
        ({"episodes_per_task": 0}, "episodes_per_task must be a positive integer"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"video_dir": "/tmp/x", "video_sweep_value": 7.0}, "video_sweep_value 7.0 is not one"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = dict(env_name=ENV, sweep_values=WEIGHTS, task_ids=(1,), episodes_per_task=1)
    args.update(kwargs)
    env_name = args.pop("env_name")
    for fn in (evaluate_lockstep, evaluate_one_at_a_time):
        with pytest.raises(errors.UserError, match=None) as info:
            fn(env_name, controller, progress=False, **args)
        assert message in str(info.value)
    if "env_name" in kwargs and "unknown" in message:
        assert "pointmaze-medium-v0" in str(info.value)  # names valid ones


def test_one_at_a_time_takes_the_lockstep_arguments_but_max_envs():
    kwargs = dict(sweep_values=WEIGHTS, task_ids=(1,), episodes_per_task=1, progress=False)
    with pytest.raises(TypeError, match="takes no max_envs"):
        evaluate_one_at_a_time(ENV, controller, max_envs=2, **kwargs)
    with pytest.raises(TypeError, match="episodes"):
        evaluate_one_at_a_time(ENV, controller, episodes=2, **kwargs)
    with pytest.raises(TypeError, match="sweep_values"):
        evaluate_one_at_a_time(ENV, controller)
    # The defaults are evaluate_lockstep's: 10 episodes per task.
    one = evaluate_one_at_a_time(
        ENV, controller, sweep_values=(1.0,), max_episode_steps=2, task_ids=(1,), progress=False
    )
    assert [r.episode for r in one] == list(range(10))


def test_cube_single_smoke_pairs_w_rows():
    recorder = Recorder(lambda x, w, s: np.tile(np.where(w[:, None] > 0, 0.5, -0.5), (1, 5)))
    kwargs = dict(sweep_values=(0.0, 1.0), task_ids=(2,), episodes_per_task=1, progress=False)
    results = evaluate_lockstep("cube-single-v0", recorder, max_episode_steps=4, **kwargs)
    assert [(r.sweep_value, r.length, r.success) for r in results] == [
        (0.0, 4, False),
        (1.0, 4, False),
    ]
    observations, goals, _, _ = recorder.calls[0]
    assert observations.shape == (2, 28) and goals.shape == (2, 28)
    # Manipulation resets step the arm randomly while making the goal: pinned and seeded here.
    np.testing.assert_array_equal(observations[0], observations[1])
    np.testing.assert_array_equal(goals[0], goals[1])
    # Opposite actions took the two rows apart.
    assert not np.array_equal(recorder.calls[-1][0][0], recorder.calls[-1][0][1])
    # Oracle goals are the cube position only.
    oracle = Recorder(recorder.policy)
    evaluate_lockstep(
        "cube-single-v0", oracle, max_episode_steps=1, goal_key="oracle_reps", **kwargs
    )
    assert oracle.calls[0][1].shape == (2, 3)


def test_env_dims():
    assert env_dims(ENV) == (2, 2, 2)
    assert env_dims("cube-single-v0", goal_key="oracle_reps") == (28, 3, 5)
    with pytest.raises(errors.UserError, match="goal_key must be one of"):
        env_dims(ENV, goal_key="goals")
    with pytest.raises(errors.UserError, match="unknown environment 'pointmaze-mediun-v0'"):
        env_dims("pointmaze-mediun-v0")
