"""Tests for cfgrl_tf.envs.ogbench_task: OGBench single-task rollouts in lockstep."""

from __future__ import annotations

import numpy as np
import pytest

from cfgrl_tf import errors
from cfgrl_tf.envs import ogbench_env, ogbench_task

ENV = "pointmaze-medium-singletask-v0"  # task 1, which a straight line reaches
WEIGHTS = (0.0, 1.0)
EPISODES = 3
STEPS = 150


def _policy(calls):
    goal = ogbench_env.maze_layout(ENV)["tasks"][1]["goal"]

    def policy(inputs, sweep_values, seed):
        del seed
        calls.append((sorted(inputs), inputs["observations"].copy(), sweep_values.copy()))
        heading = goal - inputs["observations"][:, :2]
        return np.clip(sweep_values[:, None] * 5.0 * heading, -1.0, 1.0)

    return policy


@pytest.fixture(scope="module")
def runs():
    out = {}
    for one_at_a_time in (False, True):
        calls = []
        results = ogbench_task.evaluate_lockstep(
            ENV,
            _policy(calls),
            sweep_values=WEIGHTS,
            episodes=EPISODES,
            max_episode_steps=STEPS,
            progress=False,
            one_at_a_time=one_at_a_time,
        )
        out[one_at_a_time] = (results, calls)
    return out


def test_the_policy_sees_observations_only_and_every_w_the_same_start(runs):
    results, calls = runs[False]
    keys, observations, sweeps = calls[0]
    assert keys == ["observations"]
    obs = observations.reshape(EPISODES, len(WEIGHTS), -1)
    np.testing.assert_array_equal(sweeps.reshape(EPISODES, -1), np.broadcast_to(WEIGHTS, (3, 2)))
    np.testing.assert_array_equal(obs[:, 1], obs[:, 0])
    assert not np.array_equal(obs[0, 0], obs[1, 0])  # episodes start apart
    assert {r.task_id for r in results} == {1}


def test_success_and_ogbench_return(runs):
    results, _ = runs[False]
    still = [r for r in results if r.sweep_value == 0.0]
    going = [r for r in results if r.sweep_value == 1.0]
    assert all(not r.success and r.length == STEPS and r.episode_return == -STEPS for r in still)
    # OGBench's single-task reward: -1 per step before the goal, 0 at the step that finds it
    # there (which ends the episode).
    assert all(r.success and r.episode_return == -(r.length - 1) for r in going)


def test_lockstep_agrees_with_the_reference_loop(runs):
    (lock, _), (ref, _) = runs[False], runs[True]
    assert [(r.success, r.length, r.episode_return) for r in lock] == [
        (r.success, r.length, r.episode_return) for r in ref
    ]


def test_maze_rollouts_keep_their_path(runs):
    results, calls = runs[False]
    first_obs = calls[0][1]
    for i, r in enumerate(results):
        assert r.path.shape == (r.length + 1, 2)
        np.testing.assert_allclose(r.path[0], first_obs[i, :2], atol=1e-6)
    moved = [r for r in results if r.sweep_value == 1.0]
    assert all(np.linalg.norm(r.path[-1] - r.path[0]) > 1.0 for r in moved)


@pytest.mark.parametrize(
    "env_name", ["pointmaze-medium-v0", "pointmaze-medium-singletask-task9-v0", "nope"]
)
def test_an_env_that_is_no_single_task_env_is_named(env_name):
    with pytest.raises(errors.UserError, match=f"{env_name!r} is not a state-based OGBench"):
        ogbench_task.evaluate_lockstep(env_name, None, sweep_values=(1.0,))


def test_env_dims():
    assert ogbench_task.env_dims("cube-single-singletask-v0") == (28, 5)
