"""The TD critic of the Diffusion-QL family: twin Q-functions backed up through the policy.

Unlike the IQL critic (agents/critic.py), which never asks the policy for an action, this critic's
target reads the actor: y = r + gamma * mask * min_i Q_target_i(s', a') with a' sampled from the
(averaged) policy at s'. The agent samples a' and passes it in, so the critic knows nothing of
diffusion. With the max-Q backup (Diffusion-QL's antmaze setting) several a' are sampled per s':
each head takes its max over the samples, then the heads' min is taken.
"""

from __future__ import annotations

from collections.abc import Sequence

import gin
import keras
import tensorflow as tf

from cfgrl_tf import losses
from cfgrl_tf.agents.updates import (
    apply_gradients,
    average,
    copy_weights,
    polyak_update,
    replica_mean,
)
from cfgrl_tf.networks import TwinQNetwork


@gin.configurable
class TDCritic(tf.Module):
    """Twin Q by TD on r + gamma * mask * min over heads of Q_target(s', a'), a' from the actor.

    Args:
      hidden_dims: MLP widths of each Q head (Diffusion-QL: 3x256).
      activation: hidden activation (Diffusion-QL: mish).
      layer_norm: LayerNorm in the heads (Diffusion-QL has none).
      discount: gamma.
      learning_rate: Adam learning rate.
      target_update_rate: Polyak rate of the target network.
      max_q_backup: the number of next actions sampled per s' for the max-Q backup (Diffusion-QL
        uses 10 where it is on); 1 is the plain backup.
      grad_norm_clip: clip of the gradient's global norm (0: none).
    """

    def __init__(
        self,
        hidden_dims: Sequence[int] = (256, 256, 256),
        activation: str = "mish",
        layer_norm: bool = False,
        discount: float = 0.99,
        learning_rate: float = 3e-4,
        target_update_rate: float = 0.005,
        max_q_backup: int = 1,
        grad_norm_clip: float = 0.0,
    ):
        super().__init__(name="td_critic")
        if learning_rate <= 0:
            raise ValueError(f"TDCritic.learning_rate={learning_rate}: expected a positive rate")
        if max_q_backup < 1:
            raise ValueError(f"TDCritic.max_q_backup={max_q_backup}: expected at least 1 sample")
        if grad_norm_clip < 0:
            raise ValueError(f"TDCritic.grad_norm_clip={grad_norm_clip}: expected >= 0 (0: off)")
        self.discount = float(discount)
        self.target_update_rate = float(target_update_rate)
        self.num_next_actions = int(max_q_backup)
        self.grad_norm_clip = float(grad_norm_clip)
        make = lambda name: TwinQNetwork(hidden_dims, activation, layer_norm, name=name)  # noqa: E731
        self.q = make("q")
        self.target_q = make("target_q")
        self.optimizer = keras.optimizers.Adam(learning_rate)

    def networks(self) -> dict[str, keras.Model]:
        return {"q": self.q, "target_q": self.target_q}

    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        return {"q": self.optimizer}

    def build(self, batch: dict[str, tf.Tensor]) -> None:
        self.q(batch)
        self.target_q(batch)
        copy_weights(self.target_q, self.q)
        self.optimizer.build(self.q.trainable_variables)

    def target(self, batch: dict[str, tf.Tensor], next_actions: tf.Tensor) -> tf.Tensor:
        """The TD target [B]; `next_actions` is [num_next_actions * B, A], sample-major (the
        rows of sample k are k * B .. (k + 1) * B - 1)."""
        samples = self.num_next_actions
        next_obs = tf.tile(batch["next_observations"], [samples, 1])
        q = self.target_q({"observations": next_obs, "actions": next_actions})  # [2, K * B]
        q = tf.reduce_max(tf.reshape(q, [2, samples, -1]), axis=1)  # max over samples, per head
        next_q = tf.reduce_min(q, axis=0)
        return tf.stop_gradient(batch["rewards"] + self.discount * batch["masks"] * next_q)

    def train_step(
        self, batch: dict[str, tf.Tensor], next_actions: tf.Tensor, global_batch_size: int
    ) -> dict[str, tf.Tensor]:
        td_target = self.target(batch, next_actions)
        with tf.GradientTape() as tape:
            q = self.q(batch)
            loss = average(losses.squared_td_loss(q, td_target), global_batch_size)
        grad_norm = apply_gradients(
            self.optimizer, tape, loss, self.q.trainable_variables, self.grad_norm_clip
        )
        return {
            "critic/q_loss": loss,
            "critic/q_mean": average(tf.reduce_mean(q, axis=0), global_batch_size),
            "critic/target_mean": average(td_target, global_batch_size),
            "critic/grad_norm": replica_mean(grad_norm),
        }

    def min_q(self, observations: tf.Tensor, actions: tf.Tensor, target: bool = False):
        """min over the heads of Q(s, a) (the target network's with `target`): [B]."""
        network = self.target_q if target else self.q
        return tf.reduce_min(network({"observations": observations, "actions": actions}), axis=0)

    def update_targets(self) -> None:
        polyak_update(self.target_q, self.q, self.target_update_rate)
