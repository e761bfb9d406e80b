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

    def build(self, context: dict[str, tf.Tensor]) -> None:
        """Creates both networks' variables with one forward pass each and starts the average
        at the online weights.

        Args:
          context: example inputs besides x_t and t (observations, and labels or goals).
        """
        batch_size = tf.shape(context["observations"])[0]
        inputs = {
            **context,
            "noisy_actions": tf.zeros([batch_size, self.online.action_dim]),
            "times": tf.zeros([batch_size]),
        }
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
    context: dict[str, tf.Tensor],
    targets: tf.Tensor,
    seed: tf.Tensor,
    global_batch_size: int,
    metric_prefix: str = "actor",
) -> dict[str, tf.Tensor]:
    """One plain supervised flow-matching step: regress the velocity of noise -> target paths.

    Args:
      vector_field: the field to train (a `ConditionalVectorField` or `GoalVectorField`).
      optimizer: its optimizer.
      context: per-replica inputs besides x_t and t: `observations`, plus `labels` (0 = null) for
        a label-conditioned field or `goals` and `goal_mask` for a goal-conditioned one.
      targets: [B, D] what the flow learns to sample (actions, or subgoals).
      seed: [2] stateless seed of this step and replica.
      global_batch_size: the batch summed over replicas.
      metric_prefix: the metrics' namespace (`actor`, `high_actor`).

    Returns:
      `<prefix>/flow_loss` and `<prefix>/grad_norm` metrics.
    """
    batch_size = tf.shape(targets)[0]
    noise_seed, time_seed = split_seed(seed, 2)
    noise = tf.random.stateless_normal(tf.shape(targets), seed=noise_seed)
    times = tf.random.stateless_uniform([batch_size], seed=time_seed)
    x_t, target_velocity = losses.flow_path(noise, targets, times)
    inputs = {**context, "noisy_actions": x_t, "times": times}
    with tf.GradientTape() as tape:
        predicted = vector_field(inputs)
        loss = average(losses.flow_matching_loss(predicted, target_velocity), global_batch_size)
    grad_norm = apply_gradients(optimizer, tape, loss, vector_field.trainable_variables)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return {f"{metric_prefix}/flow_loss": loss, f"{metric_prefix}/grad_norm": grad_norm / replicas}
