"""Goal draws: the reference semantics, fresh goals every pass, exact resume, subgoal clipping."""

import numpy as np
import pytest
import tensorflow as tf

from cfgrl_tf import errors
from cfgrl_tf.data.goals import GoalSampler
from cfgrl_tf.data.reader import load_dataset, make_batch_dataset

SEED = tf.constant([3, 4], tf.int64)


def _trajectories(num=4, length=50):
    indices = np.arange(num * length)
    end = (indices // length + 1) * length - 1
    return indices, end


def _goal_indices(sampler, indices, end, seed=SEED):
    return sampler.goal_indices(
        tf.constant(indices), tf.constant(end), int(end.max()) + 1, seed
    ).numpy()


def test_trajectory_goals_are_uniform_future_states():
    indices, end = _trajectories()
    indices = np.repeat(indices[::7], 200)
    end = np.repeat(end[::7], 200)
    goals = _goal_indices(GoalSampler(), indices, end)
    not_last = indices < end
    assert np.all(goals[not_last] > indices[not_last])  # strictly in the future...
    assert np.all(goals <= end)  # ...within the trajectory
    np.testing.assert_array_equal(goals[~not_last], indices[~not_last])
    # Uniform over (i, e]: from index 0 of a 50-step trajectory the mean offset is 25.
    first = indices % 50 == 0
    assert abs(np.mean(goals[first] - indices[first]) - 25.0) < 2.0


def test_probabilities_mix_current_future_and_random():
    indices, end = _trajectories(num=10)
    indices = np.repeat(indices[::10], 100)
    end = np.repeat(end[::10], 100)
    sampler = GoalSampler(p_current=0.2, p_trajectory=0.5, p_random=0.3)
    goals = _goal_indices(sampler, indices, end)
    current = np.mean(goals == indices)
    outside = np.mean((goals < indices) | (goals > end))
    assert abs(current - 0.2) < 0.04
    # A random goal lands outside the row's own remaining trajectory 90%+ of the time here.
    assert 0.2 < outside < 0.31


def test_geometric_offsets():
    indices = np.zeros(4000, np.int64)
    end = np.full(4000, 10_000, np.int64)
    goals = _goal_indices(GoalSampler(geometric=True, discount=0.9), indices, end)
    assert goals.min() >= 1
    assert abs(goals.mean() - 10.0) < 0.6  # mean of Geometric(p = 0.1) on {1, 2, ...}


def test_subgoals_are_ahead_and_clipped_at_the_goal():
    sampler = GoalSampler(subgoal_steps=5)
    sub = sampler.subgoal_indices(
        tf.constant([0, 0, 10, 10]), tf.constant([20, 3, 12, 2]), tf.constant([30, 30, 11, 11])
    ).numpy()
    # ahead by 5; clipped at a goal 3 ahead; goal beyond the trajectory -> clipped at its end
    # (11); a goal behind (another trajectory) -> clipped at the end too.
    np.testing.assert_array_equal(sub, [5, 3, 11, 11])


def test_bad_probabilities():
    with pytest.raises(errors.ConfigError, match="sum to 1"):
        GoalSampler(p_current=0.5, p_trajectory=0.6)
    with pytest.raises(errors.ConfigError, match="subgoal_steps"):
        GoalSampler(subgoal_steps=0)


def test_pipeline_draws_fresh_goals_and_resumes_exactly(tiny_goal_dir):
    arrays = load_dataset(tiny_goal_dir).arrays
    sampler = GoalSampler(subgoal_steps=3)
    stream = iter(make_batch_dataset(arrays, 4096, seed=1, goal_sampler=sampler))
    first, second = next(stream), next(stream)
    for batch in (first, second):
        obs = batch["observations"].numpy()
        goals = batch["goals"].numpy()
        distance = batch["goal_distance"].numpy()
        assert np.all(distance >= 0)
        # The goal is a state of the same trajectory: the observation `distance` records ahead.
        records = arrays["observations"]
        idx = np.array([np.flatnonzero((records == o).all(1))[0] for o in obs[:50]])
        np.testing.assert_array_equal(goals[:50], records[idx + distance[:50]])
    # The same transition gets different goals on different passes (not one frozen draw).
    index = {tuple(o): i for i, o in enumerate(first["observations"].numpy())}
    pairs = [
        (first["goals"].numpy()[index[tuple(o)]], g)
        for o, g in zip(second["observations"].numpy(), second["goals"].numpy(), strict=True)
        if tuple(o) in index
    ]
    assert len(pairs) > 100
    assert np.mean([np.any(a != b) for a, b in pairs]) > 0.5
    # Resuming at element 1 yields element 1 exactly, goals included.
    resumed = next(
        iter(make_batch_dataset(arrays, 4096, seed=1, start_element=1, goal_sampler=sampler))
    )
    for key in ("goals", "subgoals", "observations"):
        np.testing.assert_array_equal(resumed[key].numpy(), second[key].numpy())


def test_goals_need_a_goal_conditioned_dataset(tiny_bandit_dir):
    arrays = load_dataset(tiny_bandit_dir).arrays
    with pytest.raises(errors.UserError, match="goal-conditioned dataset"):
        make_batch_dataset(arrays, 8, seed=0, goal_sampler=GoalSampler())
