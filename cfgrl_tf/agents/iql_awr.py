"""IQL + advantage-weighted regression with Gaussian policies (the paper's IQL baseline).

One Gaussian head is trained per AWR temperature against ONE shared IQL critic, so a single run
evaluates temperatures (1, 3, 10) on exactly the same critic, and the sweep over temperatures is a
sampling-time choice of head, like CFGRL's sweep over w.
"""

from __future__ import annotations

from collections.abc import Sequence

import gin
import keras
import tensorflow as tf

from cfgrl_tf import losses
from cfgrl_tf.agents.base import Agent
from cfgrl_tf.agents.critic import IQLCritic
from cfgrl_tf.agents.updates import apply_gradients, average
from cfgrl_tf.generative.noise import initial_noise
from cfgrl_tf.networks import GaussianPolicy
from cfgrl_tf.networks.gaussian import distribution
from cfgrl_tf.sweep import Sweep


@gin.configurable
class IQLAWRAgent(Agent):
    """IQL critic + AWR actors, one per temperature.

    Args:
      observation_dim: size of the observation.
      action_dim: size of the action.
      critic: the IQL critic (a fresh `IQLCritic()` with its gin bindings if None).
      hidden_dims: MLP widths of each Gaussian policy.
      learning_rate: Adam learning rate of the policies.
      temperatures: AWR inverse temperatures beta (weights exp(beta * A)), one head each.
      max_weight: clip of the AWR weights.
      sample_at_mean: act with each head's mean (the reference evaluation on OGBench and
        ExORL) instead of a sample from it.
    """

    name = "iql_awr"
    batch_features = ("observations", "actions", "next_observations", "rewards", "masks")

    def __init__(
        self,
        observation_dim: int,
        action_dim: int,
        critic: IQLCritic | None = None,
        hidden_dims: Sequence[int] = (256, 256, 256),
        learning_rate: float = 3e-4,
        temperatures: Sequence[float] = (1.0, 3.0, 10.0),
        max_weight: float = 100.0,
        sample_at_mean: bool = False,
    ):
        super().__init__(observation_dim, action_dim)
        if not temperatures:
            raise ValueError("temperatures: expected at least one AWR temperature")
        self.critic = critic if critic is not None else IQLCritic()
        self.temperatures = tuple(float(t) for t in temperatures)
        self.max_weight = float(max_weight)
        self.sample_at_mean = bool(sample_at_mean)
        self.policies = [
            GaussianPolicy(action_dim, hidden_dims, name=f"policy_t{i}")
            for i in range(len(self.temperatures))
        ]
        self.actor_optimizer = keras.optimizers.Adam(learning_rate)

    def _actor_variables(self) -> list:
        return [v for policy in self.policies for v in policy.trainable_variables]

    def build(self) -> None:
        batch = self.dummy_batch()
        self.critic.build(batch)
        for policy in self.policies:
            policy(batch)
        self.actor_optimizer.build(self._actor_variables())

    def train_step(self, batch, seed, global_batch_size):
        del seed  # AWR regresses dataset actions: nothing random in the step.
        # The advantages of the critic before its step, as the reference computes every loss.
        metrics, advantages = self.critic.train_step(batch, global_batch_size)
        total = 0.0
        with tf.GradientTape() as tape:
            for policy, temperature in zip(self.policies, self.temperatures, strict=True):
                log_probs = distribution(policy(batch)).log_prob(batch["actions"])
                per_example = losses.awr_loss(log_probs, advantages, temperature, self.max_weight)
                loss = average(per_example, global_batch_size)
                metrics[f"actor/t_{temperature:g}/awr_loss"] = loss
                metrics[f"actor/t_{temperature:g}/log_prob"] = average(log_probs, global_batch_size)
                total += loss
        apply_gradients(self.actor_optimizer, tape, total, self._actor_variables())
        metrics["actor/advantage_mean"] = average(advantages, global_batch_size)
        return metrics

    def update_targets(self) -> None:
        self.critic.update_targets()

    def sample_actions(self, inputs, knob_values, seed):
        """Samples from (or, with sample_at_mean, takes the mean of) the head whose temperature
        is nearest each row's knob value."""
        observations = tf.convert_to_tensor(inputs["observations"], tf.float32)
        params = [policy({"observations": observations}) for policy in self.policies]
        means = tf.stack([p["mean"] for p in params], axis=0)  # [K, B, A]
        stds = tf.exp(tf.stack([p["log_std"] for p in params], axis=0))
        temperatures = tf.constant(self.temperatures, tf.float32)
        values = tf.broadcast_to(tf.cast(knob_values, tf.float32), [tf.shape(observations)[0]])
        head = tf.argmin(
            tf.abs(values[:, None] - temperatures[None, :]), axis=1, output_type=tf.int32
        )
        rows = tf.range(tf.shape(observations)[0])
        index = tf.stack([head, rows], axis=1)
        mean, std = tf.gather_nd(means, index), tf.gather_nd(stds, index)
        if self.sample_at_mean:
            return tf.clip_by_value(mean, -1.0, 1.0)
        noise = initial_noise(tf.shape(observations)[0], self.action_dim, seed)
        return tf.clip_by_value(mean + std * noise, -1.0, 1.0)

    def _heads(self) -> dict:
        return {
            f"policy_t{t:g}": policy
            for t, policy in zip(self.temperatures, self.policies, strict=True)
        }

    def networks(self) -> dict:
        return {**self._heads(), **self.critic.networks()}

    def optimizers(self) -> dict:
        return {"actor": self.actor_optimizer, **self.critic.optimizers()}

    def sampling_networks(self) -> dict:
        return self._heads()

    def eval_sweep(self) -> Sweep:
        return Sweep("temperature", self.temperatures)
