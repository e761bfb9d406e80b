"""Tests of the 2-D bandit sources."""

import numpy as np
import pytest

from cfgrl_tf import errors
from cfgrl_tf.data import bandit, spec


@pytest.mark.parametrize("name", bandit.BANDITS)
def test_transitions_match_the_spec_and_are_one_terminal_step(name):
    arrays, source = bandit.bandit_transitions(name, 400, seed=3)
    features = spec.transition_features(1, 2)
    assert set(arrays) == set(features)
    for key, feature in features.items():
        assert arrays[key].shape == (400, *feature.shape), key
        assert arrays[key].dtype == np.dtype(feature.dtype), key
    assert np.all(np.abs(arrays["actions"]) <= 1.0)
    assert np.all(arrays["observations"] == 0.0)
    np.testing.assert_array_equal(arrays["next_observations"], arrays["observations"])
    assert np.all(arrays["masks"] == 0.0) and np.all(arrays["terminals"] == 1.0)
    assert np.all(arrays["optimal"] == spec.NO_LABEL)
    assert source["name"] == f"bandit/{name}"
    assert (source["seed"], source["num_samples"]) == (3, 400)
    assert 0 <= source["num_clipped"] < 400 * 0.02


@pytest.mark.parametrize("name", bandit.BANDITS)
def test_a_seed_reproduces_and_another_differs(name):
    first, _ = bandit.bandit_transitions(name, 200, seed=0)
    again, _ = bandit.bandit_transitions(name, 200, seed=0)
    other, _ = bandit.bandit_transitions(name, 200, seed=1)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first["actions"], other["actions"])


def test_diffusion_ql_modes_have_their_rewards():
    arrays, _ = bandit.bandit_transitions("diffusion_ql", 8000, seed=0)
    actions, rewards = arrays["actions"], arrays["rewards"]
    corners = {(-1, 1): 3.0, (-1, -1): 0.0, (1, 1): 1.5, (1, -1): 5.0}
    for (sx, sy), mean in corners.items():
        in_mode = (np.sign(actions[:, 0]) == sx) & (np.sign(actions[:, 1]) == sy)
        assert in_mode.sum() == 2000  # Equal mass, exactly.
        assert abs(rewards[in_mode].mean() - mean) < 0.05, (sx, sy)
        assert abs(rewards[in_mode].std() - 0.5) < 0.05
        centre = np.array([0.8 * sx, 0.8 * sy])
        assert np.allclose(actions[in_mode].mean(axis=0), centre, atol=0.01)
        assert np.allclose(actions[in_mode].std(axis=0), 0.05, atol=0.005)


def test_8gaussians_centre_0_is_at_the_top_and_rewards_go_counter_clockwise():
    problem = bandit.get_bandit("8gaussians")
    arrays, _ = bandit.bandit_transitions("8gaussians", 8000, seed=0)
    radius = 4.0 / 1.414 * problem.action_scale
    for k in range(8):
        in_mode = np.isclose(arrays["rewards"], k / 7)
        assert in_mode.sum() == 1000
        angle = np.deg2rad(90 + 45 * k)
        expected = radius * np.array([np.cos(angle), np.sin(angle)])
        assert np.allclose(arrays["actions"][in_mode].mean(axis=0), expected, atol=0.01), k
    # Modes are 3 noise stds apart, so the nearest centre is the sampled one almost always.
    agree = np.isclose(problem.expected_reward(arrays["actions"]), arrays["rewards"])
    assert agree.mean() > 0.99


def test_rings_best_ring_is_the_third():
    problem = bandit.get_bandit("rings")
    arrays, _ = bandit.bandit_transitions("rings", 4000, seed=0)
    radius = np.linalg.norm(arrays["actions"], axis=1) / problem.action_scale
    by_reward = {}
    for reward in np.unique(arrays["rewards"]):
        in_ring = arrays["rewards"] == reward
        assert in_ring.sum() == 1000
        by_reward[round(float(reward), 3)] = radius[in_ring].mean()
    assert by_reward == pytest.approx({0.667: 3.0, 0.333: 2.25, 1.0: 1.5, 0.0: 0.75}, abs=0.02)
    # Ring noise (0.08) is small next to the ring spacing (0.75): nearest ring = sampled ring.
    np.testing.assert_allclose(
        problem.expected_reward(arrays["actions"]), arrays["rewards"], rtol=1e-6
    )


def test_swissroll_reward_is_squared_norm_over_9():
    problem = bandit.get_bandit("swissroll")
    arrays, source = bandit.bandit_transitions("swissroll", 2000, seed=0)
    raw = arrays["actions"].astype(np.float64) / problem.action_scale
    unclipped = np.all(np.abs(arrays["actions"]) < 1.0, axis=1)
    assert unclipped.sum() == 2000 - source["num_clipped"]
    expected = np.sum(raw**2, axis=1) / 9
    np.testing.assert_allclose(arrays["rewards"][unclipped], expected[unclipped], rtol=1e-5)
    # Before noise the roll's radius is t / 5, uniform over [0.3 pi, 0.9 pi].
    radius = np.linalg.norm(raw, axis=1)
    assert np.median(radius) == pytest.approx(0.6 * np.pi, abs=0.1)
    assert np.quantile(radius, 0.99) < 0.9 * np.pi + 0.5


def test_expected_reward_at_known_points():
    dql = bandit.get_bandit("diffusion_ql")
    np.testing.assert_array_equal(
        dql.expected_reward(
            np.array([[-0.8, 0.8], [-0.7, -0.9], [0.8, 0.8], [0.9, -0.2], [1, -1]])
        ),
        [3.0, 0.0, 1.5, 5.0, 5.0],
    )
    eight = bandit.get_bandit("8gaussians")
    r = 4 / 1.414 * 0.25
    np.testing.assert_allclose(
        eight.expected_reward(np.array([[0, r], [-r, 0], [0, -r], [r, 0], [r * 0.7, r * 0.7]])),
        [0, 2 / 7, 4 / 7, 6 / 7, 7 / 7],
    )
    rings = bandit.get_bandit("rings")
    np.testing.assert_array_equal(
        rings.expected_reward(np.array([[0.9, 0], [0, -0.675], [0.45, 0], [0.0, 0.0], [1, 1]])),
        [0.667, 0.333, 1.0, 0.0, 0.667],
    )
    swiss = bandit.get_bandit("swissroll")
    np.testing.assert_allclose(
        swiss.expected_reward(np.array([[0.33, 0.0], [0.0, -0.66]])), [1 / 9, 4 / 9]
    )
    # Any leading shape works.
    assert dql.expected_reward(np.zeros((2, 3, 2))).shape == (2, 3)


def test_bad_arguments_raise_user_errors():
    with pytest.raises(errors.UserError, match="unknown bandit 'moons'.*diffusion_ql, 8gaussians"):
        bandit.get_bandit("moons")
    with pytest.raises(errors.UserError, match="num_samples must be a positive integer, got 0"):
        bandit.bandit_transitions("rings", 0, seed=0)
    with pytest.raises(errors.UserError, match="seed must be a non-negative integer"):
        bandit.bandit_transitions("rings", 10, seed=-1)
    with pytest.raises(errors.UserError, match=r"shape \[\.\.\., 2\], got \[4, 3\]"):
        bandit.get_bandit("rings").expected_reward(np.zeros((4, 3)))
