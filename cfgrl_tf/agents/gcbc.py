"""Goal-conditioned BC with Gaussian policies (GCBC) and its hierarchical form (HGCBC).

OGBench's GCBC: a Gaussian pi(a | s, g) over the concatenated (normalised) state and goal,
fit by maximum likelihood on goals drawn from the same trajectory's future, and evaluated at its
mean (OGBench's evaluation temperature 0). HGCBC adds a Gaussian subgoal policy
pi_hi(s_sub | s, g) and conditions the action policy on the subgoal instead of the goal.
"""

from __future__ import annotations

from collections.abc import Sequence

import gin
import keras
import tensorflow as tf

from cfgrl_tf.agents.goal_conditioned import HIERARCHICAL_FEATURES, GoalConditionedAgent
from cfgrl_tf.agents.updates import apply_gradients, average, replica_mean
from cfgrl_tf.generative.noise import initial_noise
from cfgrl_tf.networks import GaussianPolicy
from cfgrl_tf.networks.gaussian import distribution


class GaussianLevel:
    """One level: a Gaussian p(target | s, c) and its optimizer.

    Args:
      name: "actor" or "high_actor".
      output_dim: size of the target.
      hidden_dims: MLP widths.
      learning_rate: Adam learning rate.
      clip: the target is an action in [-1, 1]: squash the mean and clip samples.
    """

    def __init__(self, name, output_dim, *, hidden_dims, learning_rate, clip):
        self.name = name
        self.clip = bool(clip)
        self.policy = GaussianPolicy(
            output_dim, hidden_dims, squash_mean=self.clip, name=f"{name}_gaussian"
        )
        self.optimizer = keras.optimizers.Adam(learning_rate)

    def params(self, observations, goals) -> dict:
        return self.policy({"observations": tf.concat([observations, goals], axis=-1)})

    def networks(self) -> dict:
        return {f"{self.name}_gaussian": self.policy}

    sampling_networks = networks


@gin.configurable
class GCBCAgent(GoalConditionedAgent):
    """Goal-conditioned BC with a Gaussian policy (tensorflow-probability).

    Args:
      observation_dim, action_dim, goal_dim: sizes (from the dataset).
      hidden_dims: MLP widths of each Gaussian.
      learning_rate: Adam learning rate.
      temperature: sampling noise scale; 0 samples the mean (OGBench's evaluation default).
      **kwargs: `GoalConditionedAgent`'s (statistics, guidance_weights).
    """

    name = "gcbc"

    def __init__(
        self,
        observation_dim: int,
        action_dim: int,
        goal_dim: int,
        hidden_dims: Sequence[int] = (512, 512, 512, 512),
        learning_rate: float = 3e-4,
        temperature: float = 0.0,
        **kwargs,
    ):
        super().__init__(observation_dim, action_dim, goal_dim, **kwargs)
        self.temperature = float(temperature)
        sizes = {"hidden_dims": hidden_dims, "learning_rate": learning_rate}
        self.add_levels(
            lambda name, output_dim, clip: GaussianLevel(name, output_dim, clip=clip, **sizes)
        )

    def build(self) -> None:
        batch = self.dummy_batch()
        observations = self.normalize_observations(batch["observations"])
        goals = self.normalize_goals(batch["goals"])
        for level in self.levels.values():
            level.params(observations, goals)
            level.optimizer.build(level.policy.trainable_variables)

    def fit_step(self, level, observations, goals, targets, global_batch_size) -> dict:
        """One maximum-likelihood step of a level."""
        with tf.GradientTape() as tape:
            params = level.params(observations, goals)
            loss = average(-distribution(params).log_prob(targets), global_batch_size)
        grad_norm = apply_gradients(level.optimizer, tape, loss, level.policy.trainable_variables)
        mse = average(tf.reduce_mean(tf.square(params["mean"] - targets), -1), global_batch_size)
        return {
            f"{level.name}/nll": loss,
            f"{level.name}/mse": mse,
            f"{level.name}/grad_norm": replica_mean(grad_norm),
        }

    def train_step(self, batch, seed, global_batch_size):
        del seed  # maximum likelihood on the batch: nothing random in the step
        observations = self.normalize_observations(batch["observations"])
        goals = self.normalize_goals(batch["goals"])
        actor = self.levels["actor"]
        if not self.hierarchical:
            return self.fit_step(actor, observations, goals, batch["actions"], global_batch_size)
        subgoals = self.normalize_goals(batch["subgoals"])
        metrics = self.fit_step(actor, observations, subgoals, batch["actions"], global_batch_size)
        high = self.levels["high_actor"]
        metrics.update(self.fit_step(high, observations, goals, subgoals, global_batch_size))
        return metrics

    def sample_level(self, level, observations, goals, seed) -> tf.Tensor:
        params = level.params(observations, goals)
        samples = params["mean"]
        if self.temperature > 0:
            noise = initial_noise(tf.shape(samples)[0], level.policy.action_dim, seed)
            samples = samples + self.temperature * tf.exp(params["log_std"]) * noise
        return tf.clip_by_value(samples, -1.0, 1.0) if level.clip else samples

    def sample_actions(self, inputs, knob_values, seed):
        """Actions for [B] (observation, goal) pairs (the knob is unused: no guidance).

        Seeds, as in the flow agents: the high level draws with 2 * seed, the low with
        2 * seed + 1.
        """
        del knob_values
        seed = tf.cast(tf.reshape(seed, []), tf.int64)
        observations = self.normalize_observations(inputs["observations"])
        goals = self.normalize_goals(inputs["goals"])
        if self.hierarchical:
            goals = self.sample_level(self.levels["high_actor"], observations, goals, 2 * seed)
        return self.sample_level(self.levels["actor"], observations, goals, 2 * seed + 1)


@gin.configurable
class HGCBCAgent(GCBCAgent):
    """Hierarchical GCBC: Gaussian subgoal policy and Gaussian subgoal-reaching policy."""

    name = "hgcbc"
    hierarchical = True
    batch_features = HIERARCHICAL_FEATURES
