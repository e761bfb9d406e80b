"""The initial noise of every sampler, from a scalar seed."""

from __future__ import annotations

import tensorflow as tf

_RNG_ALG = "philox"


def initial_noise(batch_size: tf.Tensor, dim: int, seed: tf.Tensor) -> tf.Tensor:
    """N(0, I) noise of shape [batch_size, dim] from a scalar integer seed.

    Must run outside XLA: with a seed that is a runtime input, XLA's stateless philox draws
    different numbers than the TF kernel, and then a compiled sampler, an eager one and an exported
    SavedModel would disagree for the same seed. Samplers therefore draw the noise here and
    compile only their (deterministic) integration.
    """
    seed = tf.cast(tf.reshape(seed, []), tf.int64)
    return tf.random.stateless_normal(
        [batch_size, dim], seed=tf.stack([seed, tf.constant(0, tf.int64)]), alg=_RNG_ALG
    )
