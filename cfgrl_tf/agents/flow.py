"""The flow-matching actor update shared by CFGRL and flow BC."""

from __future__ import annotations

import keras
import tensorflow as tf

from cfgrl_tf import losses
from cfgrl_tf.agents.base import apply_gradients, average, copy_weights, polyak_update, split_seed


class EMAFlow:
    """The flow network plus an exponential moving average of it, which sampling uses.

    Guidance multiplies the learned difference v_cond - v_null by w, so noise in the last
    weights is amplified at large w; averaging the weights (as diffusion policies do, e.g.
    Diffusion-QL) keeps the guided policy stable from one evaluation to the next.

    Args:
      make: builds a fresh `ConditionalVectorField` given a name.
      decay: EMA decay per train step; 0 samples the online network itself.
    """

    def __init__(self, make, decay: float):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema_decay={decay}: expected a value in [0, 1)")
        self.decay = float(decay)
        self.online = make("vector_field")
        self.ema = make("ema_vector_field") if self.decay > 0 else None

    @property
    def sampling(self) -> keras.Model:
        return self.ema if self.ema is not None else self.online

    def networks(self) -> dict:
        nets = {"vector_field": self.online}
        if self.ema is not None:
            nets["ema_vector_field"] = self.ema
        return nets

    def build(self, observations: tf.Tensor) -> None:
        """Creates both networks' variables with one forward pass each and starts the average
        at the online weights."""
        batch_size = tf.shape(observations)[0]
        inputs = {
            "observations": observations,
            "noisy_actions": tf.zeros([batch_size, self.online.action_dim]),
            "times": tf.zeros([batch_size]),
        }
        if self.online.conditional:
            inputs["labels"] = tf.zeros([batch_size], tf.int32)
        for net in self.networks().values():
            net(inputs)
        if self.ema is not None:
            copy_weights(self.ema, self.online)

    def update(self) -> None:
        if self.ema is not None:
            polyak_update(self.ema, self.online, 1.0 - self.decay)


def flow_actor_step(
    vector_field: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    batch: dict[str, tf.Tensor],
    seed: tf.Tensor,
    global_batch_size: int,
    labels: tf.Tensor | None = None,
) -> dict[str, tf.Tensor]:
    """One plain supervised flow-matching step: regress the velocity of noise -> action paths.

    Args:
      vector_field: the `ConditionalVectorField` to train.
      optimizer: its optimizer.
      batch: per-replica batch with `observations` and `actions`.
      seed: [2] stateless seed of this step and replica.
      global_batch_size: the batch summed over replicas.
      labels: [B] condition labels (0 = null) for a conditional field.

    Returns:
      `actor/flow_loss` and `actor/grad_norm` metrics.
    """
    actions = batch["actions"]
    batch_size = tf.shape(actions)[0]
    noise_seed, time_seed = split_seed(seed, 2)
    noise = tf.random.stateless_normal(tf.shape(actions), seed=noise_seed)
    times = tf.random.stateless_uniform([batch_size], seed=time_seed)
    x_t, target_velocity = losses.flow_path(noise, actions, times)
    inputs = {"observations": batch["observations"], "noisy_actions": x_t, "times": times}
    if labels is not None:
        inputs["labels"] = labels
    with tf.GradientTape() as tape:
        predicted = vector_field(inputs)
        loss = average(losses.flow_matching_loss(predicted, target_velocity), global_batch_size)
    grad_norm = apply_gradients(optimizer, tape, loss, vector_field.trainable_variables)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return {"actor/flow_loss": loss, "actor/grad_norm": grad_norm / replicas}
