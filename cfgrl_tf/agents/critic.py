"""The IQL critic (Kostrikov et al., 2022): an expectile value and twin Q-functions.

Shared by CFGRL (whose optimality label is 1[A >= threshold]) and IQL+AWR, so both are compared
"on the same data and critic settings" by construction: one class, one set of gin bindings.
"""

from __future__ import annotations

from collections.abc import Sequence

import gin
import keras
import tensorflow as tf

from cfgrl_tf import losses
from cfgrl_tf.agents.updates import apply_gradients, average, copy_weights, polyak_update
from cfgrl_tf.networks import TwinQNetwork, ValueNetwork

ADVANTAGE_SOURCES = ("target", "online")


@gin.configurable
class IQLCritic(tf.Module):
    """V(s) by expectile regression on target min-Q; Q(s, a) by TD on r + gamma * mask * V(s').

    Args:
      hidden_dims: MLP widths of V and of each Q head.
      discount: gamma.
      expectile: tau of the value's expectile loss (0.5 = mean, -> 1 = max over data actions).
      learning_rate: Adam learning rate of both networks.
      target_update_rate: Polyak rate of the target Q network.
      advantage_from: which Q the advantage A = min Q(s, a) - V(s) reads: "target" (the Polyak
        average; the bandits' and the paper's ExORL setting) or "online" (the reference CFGRL
        agent on OGBench single-task).
      activation: hidden activation of V and Q (gelu; the paper's ExORL critic uses mish). Both
        have LayerNorm after every hidden layer.
    """

    def __init__(
        self,
        hidden_dims: Sequence[int] = (256, 256, 256),
        discount: float = 0.99,
        expectile: float = 0.9,
        learning_rate: float = 3e-4,
        target_update_rate: float = 0.005,
        advantage_from: str = "target",
        activation: str = "gelu",
    ):
        super().__init__(name="iql_critic")
        if advantage_from not in ADVANTAGE_SOURCES:
            raise ValueError(
                f"advantage_from={advantage_from!r}: expected one of {ADVANTAGE_SOURCES}"
            )
        self.advantage_from = advantage_from
        self.discount = float(discount)
        self.expectile = float(expectile)
        self.target_update_rate = float(target_update_rate)
        self.value = ValueNetwork(hidden_dims, activation, name="value")
        self.q = TwinQNetwork(hidden_dims, activation, name="q")
        self.target_q = TwinQNetwork(hidden_dims, activation, name="target_q")
        self.value_optimizer = keras.optimizers.Adam(learning_rate)
        self.q_optimizer = keras.optimizers.Adam(learning_rate)

    def networks(self) -> dict[str, keras.Model]:
        return {"value": self.value, "q": self.q, "target_q": self.target_q}

    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        return {"value": self.value_optimizer, "q": self.q_optimizer}

    def build(self, batch: dict[str, tf.Tensor]) -> None:
        self.value(batch)
        self.q(batch)
        self.target_q(batch)
        copy_weights(self.target_q, self.q)
        self.value_optimizer.build(self.value.trainable_variables)
        self.q_optimizer.build(self.q.trainable_variables)

    def train_step(
        self, batch: dict[str, tf.Tensor], global_batch_size: int
    ) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        """One gradient step of V and of Q.

        Returns:
          The metrics, and the advantages A(s, a) of the batch as `advantages` gives them, but
          under the critic BEFORE this step: as the reference agents compute the policy's loss
          from the same parameters as the critic's, and at no cost (the Q and V of the batch are
          the ones the critic's losses computed; gradients stopped). [B].
        """
        target_q = tf.reduce_min(self.target_q(batch), axis=0)
        with tf.GradientTape() as tape:
            v = self.value(batch)
            value_loss = average(
                losses.expectile_loss(target_q - v, self.expectile), global_batch_size
            )
        value_grad_norm = apply_gradients(
            self.value_optimizer, tape, value_loss, self.value.trainable_variables
        )

        next_v = self.value({"observations": batch["next_observations"]})
        td_target = batch["rewards"] + self.discount * batch["masks"] * next_v
        with tf.GradientTape() as tape:
            q = self.q(batch)
            q_loss = average(losses.squared_td_loss(q, td_target), global_batch_size)
        q_grad_norm = apply_gradients(self.q_optimizer, tape, q_loss, self.q.trainable_variables)

        # Q was not yet updated when `q` was computed, nor V when `v` was.
        q_before = tf.reduce_min(q, axis=0) if self.advantage_from == "online" else target_q
        advantages = tf.stop_gradient(q_before - v)
        metrics = {
            "critic/value_loss": value_loss,
            "critic/q_loss": q_loss,
            "critic/v_mean": average(v, global_batch_size),
            "critic/q_mean": average(tf.reduce_mean(q, axis=0), global_batch_size),
            "critic/value_grad_norm": value_grad_norm / _num_replicas(),
            "critic/q_grad_norm": q_grad_norm / _num_replicas(),
        }
        return metrics, advantages

    def advantages(self, batch: dict[str, tf.Tensor]) -> tf.Tensor:
        """A(s, a) = min Q(s, a) - V(s) (target or online Q), without gradients: [B]."""
        q_network = self.q if self.advantage_from == "online" else self.target_q
        q = tf.reduce_min(q_network(batch), axis=0)
        return tf.stop_gradient(q - self.value(batch))

    def update_targets(self) -> None:
        polyak_update(self.target_q, self.q, self.target_update_rate)


def _num_replicas() -> int:
    # Metrics are summed over replicas. A gradient norm is a per-replica quantity (of the local
    # gradient, before the optimizer all-reduces it), so dividing by the replica count makes the
    # sum report the mean over replicas.
    return tf.distribute.get_strategy().num_replicas_in_sync
