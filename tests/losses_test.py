"""Tests of the per-example losses against hand-computed numpy values."""

import numpy as np
import tensorflow as tf

from cfgrl_tf import losses
from cfgrl_tf.generative import flow_matching


def test_flow_path_endpoints_and_velocity():
    noise = np.array([[0.5, -1.0], [2.0, 0.0], [-0.3, 0.7]], np.float32)
    actions = np.array([[0.1, 0.2], [-0.9, 0.4], [1.0, -1.0]], np.float32)
    times = np.array([0.0, 1.0, 0.25], np.float32)
    x_t, velocity = flow_matching.flow_path(
        tf.constant(noise), tf.constant(actions), tf.constant(times)
    )
    assert x_t.shape == (3, 2) and velocity.shape == (3, 2)
    np.testing.assert_allclose(x_t[0], noise[0], rtol=1e-6)  # t = 0: the noise
    np.testing.assert_allclose(x_t[1], actions[1], rtol=1e-6)  # t = 1: the action
    np.testing.assert_allclose(x_t[2], 0.75 * noise[2] + 0.25 * actions[2], rtol=1e-6)
    np.testing.assert_allclose(velocity, actions - noise, rtol=1e-6)
    # Following the velocity from x_t for the remaining time lands on the action.
    np.testing.assert_allclose(x_t + (1.0 - times[:, None]) * velocity, actions, atol=1e-6)


def test_flow_matching_loss_averages_squared_error_over_action_dims():
    predicted = tf.constant([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    target = tf.constant([[1.0, 0.0, 0.0], [1.0, -1.0, 2.0]])
    loss = flow_matching.flow_matching_loss(predicted, target).numpy()
    np.testing.assert_allclose(loss, [(0 + 4 + 9) / 3, (1 + 1 + 4) / 3], rtol=1e-6)


def test_expectile_loss_is_asymmetric():
    diff = tf.constant([2.0, -2.0, 0.5, -0.5, 0.0])
    loss = losses.expectile_loss(diff, 0.9).numpy()
    np.testing.assert_allclose(loss, [0.9 * 4, 0.1 * 4, 0.9 * 0.25, 0.1 * 0.25, 0.0], rtol=1e-6)
    # tau = 0.5 is half the squared error, symmetric in the sign of diff.
    half = losses.expectile_loss(diff, 0.5).numpy()
    np.testing.assert_allclose(half, 0.5 * diff.numpy() ** 2, rtol=1e-6)


def test_expectile_minimiser_is_the_upper_expectile():
    # Minimising the mean expectile loss over a scalar v gives the tau-expectile of the targets,
    # which lies above the mean for tau > 0.5.
    targets = np.array([0.0, 0.0, 0.0, 1.0], np.float32)
    grid = np.linspace(-0.5, 1.5, 2001, dtype=np.float32)
    diffs = tf.constant(targets[None, :] - grid[:, None])
    mean_loss = tf.reduce_mean(losses.expectile_loss(diffs, 0.9), axis=1).numpy()
    v = grid[np.argmin(mean_loss)]
    # The 0.9-expectile solves 0.9 * (1 - v) = 0.1 * 3 * v, i.e. v = 0.9 / 1.2 = 0.75.
    np.testing.assert_allclose(v, 0.75, atol=1e-3)


def test_squared_td_loss_sums_over_the_ensemble_and_stops_target_gradients():
    q = tf.Variable([[1.0, 2.0], [3.0, 0.0]])  # [E=2, B=2]
    targets = tf.Variable([2.0, 1.0])
    with tf.GradientTape(persistent=True) as tape:
        loss = losses.squared_td_loss(q, targets)
        total = tf.reduce_sum(loss)
    np.testing.assert_allclose(loss.numpy(), [(1 - 2) ** 2 + (3 - 2) ** 2, 1 + 1], rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(total, q).numpy(), 2 * (q.numpy() - [[2, 1], [2, 1]]))
    assert tape.gradient(total, targets) is None


def test_awr_weights_are_exponentiated_and_clipped():
    advantages = tf.constant([-1.0, 0.0, 0.5, 2.0, 10.0])
    weights = losses.awr_weights(advantages, temperature=3.0, max_weight=100.0).numpy()
    expected = np.minimum(np.exp(3.0 * np.array([-1.0, 0.0, 0.5, 2.0, 10.0])), 100.0)
    np.testing.assert_allclose(weights, expected, rtol=1e-5)
    # exp(3 * 2) = 403 and exp(30) are clipped; exp(1.5) = 4.5 is not.
    np.testing.assert_array_equal(weights[3:], [100.0, 100.0])
    assert weights[2] < 100.0
    clipped = losses.awr_weights(advantages, temperature=1.0, max_weight=2.0).numpy()
    np.testing.assert_allclose(clipped, [np.exp(-1.0), 1.0, np.exp(0.5), 2.0, 2.0], rtol=1e-5)


def test_awr_loss_value_and_gradients_stop_through_advantages():
    log_probs = tf.Variable([-1.0, -2.0, 0.5])
    advantages = tf.Variable([0.0, 1.0, 5.0])
    with tf.GradientTape(persistent=True) as tape:
        loss = losses.awr_loss(log_probs, advantages, temperature=1.0, max_weight=10.0)
        total = tf.reduce_sum(loss)
    weights = np.minimum(np.exp([0.0, 1.0, 5.0]), 10.0)
    np.testing.assert_allclose(loss.numpy(), -weights * np.array([-1.0, -2.0, 0.5]), rtol=1e-5)
    np.testing.assert_allclose(tape.gradient(total, log_probs).numpy(), -weights, rtol=1e-5)
    assert tape.gradient(total, advantages) is None
