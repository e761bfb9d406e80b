"""Stateless randomness: every draw is a function of a [2] seed, so resumed runs reproduce."""

from __future__ import annotations

import tensorflow as tf


def split_seed(seed: tf.Tensor, num: int) -> list[tf.Tensor]:
    """Splits a stateless seed ([2] int) into `num` independent seeds."""
    return list(tf.unstack(tf.random.experimental.stateless_split(seed, num=num)))
