"""The pieces of a train step that agents share: gradient updates, replica averaging, EMAs."""

from __future__ import annotations

import keras
import tensorflow as tf


def average(per_example: tf.Tensor, global_batch_size: int) -> tf.Tensor:
    """The replica's share of the global-batch mean."""
    return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)


def apply_gradients(
    optimizer: keras.optimizers.Optimizer,
    tape: tf.GradientTape,
    loss: tf.Tensor,
    variables: list,
    clip_norm: float = 0.0,
) -> tf.Tensor:
    """One optimizer update; returns the global gradient norm (a cheap health metric).

    Under a tf.distribute strategy the Keras optimizer all-reduces (sums) the gradients across
    replicas, which is why every loss is divided by the GLOBAL batch size.

    Args:
      clip_norm: if > 0, the gradients are rescaled to at most this global norm (of this
        replica's gradient) before the update; the norm returned is the one before clipping.
    """
    grads = tape.gradient(loss, variables)
    norm = tf.linalg.global_norm(grads)
    if clip_norm > 0:
        grads, _ = tf.clip_by_global_norm(grads, clip_norm, use_norm=norm)
    optimizer.apply_gradients(zip(grads, variables, strict=True))
    return norm


def global_mean(per_example: tf.Tensor, global_batch_size: int) -> tf.Tensor:
    """The mean over the GLOBAL batch, on every replica (an all-reduce in replica context).

    For a statistic that scales a loss (Diffusion-QL's 1 / mean |Q|), so every replica scales by
    the same number and the summed gradients are those of one global batch.
    """
    share = average(per_example, global_batch_size)
    context = tf.distribute.get_replica_context()
    if context is None:  # cross-replica context: `share` is already the whole mean
        return share
    return context.all_reduce(tf.distribute.ReduceOp.SUM, share)


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
      start: before this many updates the average is a copy of the online network
        (Diffusion-QL: 1000); 0 averages from the first step.
      every: the average moves once every this many updates (Diffusion-QL: 5).
    """

    def __init__(
        self, make, decay: float, name: str = "vector_field", start: int = 0, every: int = 1
    ):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema_decay={decay}: expected a value in [0, 1)")
        if start < 0 or every < 1:
            raise ValueError(f"ema start={start}, every={every}: expected start >= 0, every >= 1")
        self.decay = float(decay)
        self.start = int(start)
        self.every = int(every)
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

    def update(self, step: tf.Tensor | None = None) -> None:
        """One EMA update after train step `step` (needed when `start` or `every` is set)."""
        if self.ema is None:
            return
        if self.start == 0 and self.every == 1:
            polyak_update(self.ema, self.online, 1.0 - self.decay)
            return
        if step is None:
            raise ValueError("an EMA with a start or an interval needs the train step")
        step = tf.cast(step, tf.int64)
        # A copy before `start`, a move every `every` steps after it, and otherwise nothing.
        moves = tf.equal(step % self.every, 0)
        rate = tf.where(step < self.start, 1.0, tf.where(moves, 1.0 - self.decay, 0.0))
        polyak_update(self.ema, self.online, rate)


def example_inputs(context: dict[str, tf.Tensor], output_dim: int) -> dict[str, tf.Tensor]:
    """`context` plus zero `noisy_actions` and `times`: one forward pass that creates a
    generative network's variables."""
    batch_size = tf.shape(context["observations"])[0]
    return {
        **context,
        "noisy_actions": tf.zeros([batch_size, output_dim]),
        "times": tf.zeros([batch_size]),
    }
