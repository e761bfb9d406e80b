"""Per-example losses. Each returns one value per example ([B]); callers reduce with
`tf.nn.compute_average_loss(..., global_batch_size=...)` so the sum over replicas is the mean over
the global batch."""

from __future__ import annotations

import tensorflow as tf


def expectile_loss(diff: tf.Tensor, expectile: float) -> tf.Tensor:
    """Asymmetric squared loss |tau - 1(diff < 0)| * diff^2, with diff = target - prediction.

    With expectile tau > 0.5, V(s) regressed on Q(s, a) this way approaches an upper expectile of Q
    over the data's actions: IQL's in-sample approximation of max_a Q(s, a).
    """
    weight = tf.where(diff < 0.0, 1.0 - expectile, expectile)
    return weight * tf.square(diff)


def squared_td_loss(q_values: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """Squared TD error summed over the Q ensemble: q_values [E, B], targets [B] -> [B]."""
    return tf.reduce_sum(tf.square(q_values - tf.stop_gradient(targets)[None, :]), axis=0)


def awr_weights(advantages: tf.Tensor, temperature: float, max_weight: float = 100.0) -> tf.Tensor:
    """exp(temperature * A), clipped at `max_weight` so a few large advantages cannot dominate."""
    return tf.minimum(tf.exp(temperature * tf.stop_gradient(advantages)), max_weight)


def awr_loss(
    log_probs: tf.Tensor, advantages: tf.Tensor, temperature: float, max_weight: float = 100.0
) -> tf.Tensor:
    """Advantage-weighted regression: -exp(temperature * A) * log pi(a | s), [B]."""
    return -awr_weights(advantages, temperature, max_weight) * log_probs
