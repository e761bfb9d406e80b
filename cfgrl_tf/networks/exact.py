"""The exact flow-matching velocity field of a Gaussian mixture: ground truth for samplers.

For the straight path x_t = (1 - t) x0 + t x1 with x0 ~ N(0, I) and x1 ~ sum_k pi_k N(mu_k, s^2 I),
write s_t^2 = (1 - t)^2 + t^2 s^2 and d_k = x - t mu_k. Then

  p(k | x_t) ∝ pi_k exp(-|d_k|^2 / (2 s_t^2)),
  E[x1 | x_t, k] = mu_k + (t s^2 / s_t^2) d_k,
  v(x, t) = (sum_k p(k | x_t) E[x1 | x_t, k] - x) / (1 - t).

A field with no learning error isolates what the sampler itself does: what guidance does at each
w, and how many Euler steps it needs (tests/guidance_test.py, benchmarks/exact_guidance.py).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from cfgrl_tf.networks.vector_field import NULL_LABEL


class GaussianMixtureField:
    """Behaves like a conditional `ConditionalVectorField` whose labels pick mixture weights.

    Args:
      means: [K, action_dim] component means.
      std: the components' isotropic standard deviation.
      weights: {label: [K] mixture weights}; must include NULL_LABEL (the unconditional mixture).
        Weights are normalised; zeros are allowed.
    """

    conditional = True

    def __init__(self, means: np.ndarray, std: float, weights: dict[int, np.ndarray]):
        if NULL_LABEL not in weights:
            raise ValueError(f"weights need the null label {NULL_LABEL}")
        means = np.asarray(means, np.float32)
        self.action_dim = means.shape[1]
        self.means = tf.constant(means)
        self.std = float(std)
        labels = sorted(weights)
        table = np.stack([np.asarray(weights[k], np.float64) for k in labels])
        table = table / table.sum(axis=1, keepdims=True)
        # Labels index rows of this table (missing labels map to the null row).
        lookup = np.zeros(max(labels) + 1, np.int32)
        for row, label in enumerate(labels):
            lookup[label] = row
        self._lookup = tf.constant(lookup)
        self._log_weights = tf.constant(np.log(np.maximum(table, 1e-30)), tf.float32)

    def __call__(self, inputs: dict) -> tf.Tensor:
        x = inputs["noisy_actions"]  # [N, A]
        t = tf.reshape(tf.cast(inputs["times"], tf.float32), [-1, 1, 1])  # [N, 1, 1]
        labels = tf.cast(inputs["labels"], tf.int32)
        if "condition_mask" in inputs:  # the null condition reads the null label's weights
            labels = tf.where(inputs["condition_mask"] > 0.5, labels, NULL_LABEL)
        log_pi = tf.gather(self._log_weights, tf.gather(self._lookup, labels))
        s2 = self.std**2
        var_t = (1.0 - t) ** 2 + t**2 * s2
        d = x[:, None, :] - t * self.means[None]  # [N, K, A]
        logits = log_pi - tf.reduce_sum(tf.square(d), axis=-1) / (2.0 * var_t[:, :, 0])
        posterior = tf.nn.softmax(logits, axis=-1)
        component_means = self.means[None] + (t * s2 / var_t) * d
        x1_mean = tf.reduce_sum(posterior[:, :, None] * component_means, axis=1)
        return (x1_mean - x) / (1.0 - t[:, :, 0])
