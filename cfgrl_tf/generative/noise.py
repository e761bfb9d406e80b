"""The noise of every sampler, from a scalar seed: drawn outside XLA so every sampler agrees."""

from __future__ import annotations

import tensorflow as tf

_RNG_ALG = "philox"
# One scalar seed feeds several independent streams, told apart by the seed's second word:
# 0 is the initial noise, 1 the diffusion policies' candidate pick (agents/diffusion_policy.py),
# 2 the per-step noise of an ancestral sampler.
_INITIAL_STREAM = 0
_STEP_STREAM = 2


def _stream_seed(seed: tf.Tensor, stream: int) -> tf.Tensor:
    seed = tf.cast(tf.reshape(seed, []), tf.int64)
    return tf.stack([seed, tf.constant(stream, tf.int64)])


def initial_noise(batch_size: tf.Tensor, dim: int, seed: tf.Tensor) -> tf.Tensor:
    """N(0, I) noise of shape [batch_size, dim] from a scalar integer seed.

    Must run outside XLA: with a seed that is a runtime input, XLA's stateless philox draws
    different numbers than the TF kernel, and then a compiled sampler, an eager one and an exported
    SavedModel would disagree for the same seed. Samplers therefore draw the noise here and
    compile only their (deterministic) integration.
    """
    return tf.random.stateless_normal(
        [batch_size, dim], seed=_stream_seed(seed, _INITIAL_STREAM), alg=_RNG_ALG
    )


def step_noise(num_steps: int, batch_size: tf.Tensor, dim: int, seed: tf.Tensor) -> tf.Tensor:
    """N(0, I) noise of shape [num_steps, batch_size, dim] from a scalar integer seed: the noise
    an ancestral (DDPM) sampler adds at each step, independent of `initial_noise` of the same
    seed. Drawn outside XLA for the same reason."""
    return tf.random.stateless_normal(
        [num_steps, batch_size, dim], seed=_stream_seed(seed, _STEP_STREAM), alg=_RNG_ALG
    )
