"""The pieces of a train step that agents share: gradient updates, replica averaging, EMAs."""

from __future__ import annotations

import keras
import tensorflow as tf


def average(per_example: tf.Tensor, global_batch_size: int) -> tf.Tensor:
    """The replica's share of the global-batch mean."""
    return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)


def apply_gradients(
    optimizer: keras.optimizers.Optimizer, tape: tf.GradientTape, loss: tf.Tensor, variables: list
) -> tf.Tensor:
    """One optimizer update; returns the global gradient norm (a cheap health metric).

    Under a tf.distribute strategy the Keras optimizer all-reduces (sums) the gradients across
    replicas, which is why every loss is divided by the GLOBAL batch size.
    """
    grads = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(grads, variables, strict=True))
    return tf.linalg.global_norm(grads)


def replica_mean(value: tf.Tensor) -> tf.Tensor:
    """A per-replica statistic (a gradient norm) scaled so its sum over replicas is its mean."""
    return value / tf.distribute.get_strategy().num_replicas_in_sync


def polyak_update(target: keras.Model, source: keras.Model, rate: float) -> None:
    """target <- rate * source + (1 - rate) * target, weight by weight (cross-replica context)."""
    for t, s in zip(target.weights, source.weights, strict=True):
        t.assign(rate * s + (1.0 - rate) * t)


def copy_weights(target: keras.Model, source: keras.Model) -> None:
    """target <- source, weight by weight."""
    polyak_update(target, source, 1.0)


class EMANetwork:
    """A network plus an exponential moving average of it, which sampling uses.

    Guidance multiplies the learned difference v_cond - v_null by w, so noise in the last
    weights is amplified at large w; averaging the weights (as diffusion policies do, e.g.
    Diffusion-QL) keeps the guided policy stable from one evaluation to the next.

    Args:
      make: builds a fresh network given a name suffix ("vector_field", "ema_vector_field").
      decay: EMA decay per train step; 0 samples the online network itself.
      name: the online network's name; the average is `ema_<name>`.
    """

    def __init__(self, make, decay: float, name: str = "vector_field"):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema_decay={decay}: expected a value in [0, 1)")
        self.decay = float(decay)
        self.name = name
        self.online = make(name)
        self.ema = make(f"ema_{name}") if self.decay > 0 else None

    @property
    def sampling(self) -> keras.Model:
        return self.ema if self.ema is not None else self.online

    def networks(self) -> dict:
        nets = {self.name: self.online}
        if self.ema is not None:
            nets[f"ema_{self.name}"] = self.ema
        return nets

    def build(self, inputs: dict[str, tf.Tensor]) -> None:
        """Creates both networks' variables with one forward pass each and starts the average
        at the online weights."""
        for net in self.networks().values():
            net(inputs)
        if self.ema is not None:
            copy_weights(self.ema, self.online)

    def update(self) -> None:
        if self.ema is not None:
            polyak_update(self.ema, self.online, 1.0 - self.decay)


def example_inputs(context: dict[str, tf.Tensor], output_dim: int) -> dict[str, tf.Tensor]:
    """`context` plus zero `noisy_actions` and `times`: one forward pass that creates a
    generative network's variables."""
    batch_size = tf.shape(context["observations"])[0]
    return {
        **context,
        "noisy_actions": tf.zeros([batch_size, output_dim]),
        "times": tf.zeros([batch_size]),
    }
