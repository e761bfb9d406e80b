"""The goal-conditioned flow network: a velocity field v(x_t, t | s, g) with a learned null goal."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from cfgrl_tf.networks.mlp import MLP
from cfgrl_tf.networks.vector_field import time_features


@keras.saving.register_keras_serializable(package="cfgrl_tf")
class GoalVectorField(keras.Model):
    """Predicts the flow-matching velocity of a noisy target given a state and a goal.

    CFGRL's goal-conditioned form: the goal is the optimality variable ("reaches g"). Dropping it
    replaces it with a learned null goal vector, so the same network gives the goal-conditioned
    velocity v(. | s, g) and the unconditional one v(. | s) that guidance mixes.

    The inputs are one dict:
      observations: [B, obs_dim] float32 (normalised by the agent).
      goals: [B, goal_dim] float32 (normalised by the agent).
      condition_mask: [B] float32, 1 to use the goal, 0 for the null goal.
      noisy_actions: [B, output_dim] float32, the point x_t on the path from noise to the target.
      times: [B] float32 in [0, 1].

    Args:
      output_dim: size of what the flow samples (an action, or a subgoal).
      goal_dim: size of a goal.
      hidden_dims: MLP widths.
      num_time_frequencies: see `time_features`.
      activation: hidden activation.
    """

    def __init__(
        self,
        output_dim: int,
        goal_dim: int,
        hidden_dims: Sequence[int] = (256, 256, 256),
        num_time_frequencies: int = 8,
        activation: str = "gelu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.action_dim = int(output_dim)  # the sampler's name for the sampled size
        self.goal_dim = int(goal_dim)
        self.hidden_dims = tuple(int(d) for d in hidden_dims)
        self.num_time_frequencies = int(num_time_frequencies)
        self.activation = activation
        self.null_goal = self.add_weight(
            shape=(self.goal_dim,), initializer="zeros", name="null_goal", trainable=True
        )
        self.mlp = MLP(self.hidden_dims, self.action_dim, activation=activation, name="mlp")

    @property
    def conditional(self) -> bool:
        return True

    def call(self, inputs: dict) -> tf.Tensor:
        mask = tf.reshape(tf.cast(inputs["condition_mask"], tf.float32), [-1, 1])
        goals = mask * inputs["goals"] + (1.0 - mask) * self.null_goal[None, :]
        features = [
            inputs["observations"],
            goals,
            inputs["noisy_actions"],
            time_features(inputs["times"], self.num_time_frequencies),
        ]
        return self.mlp(tf.concat(features, axis=-1))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "output_dim": self.action_dim,
            "goal_dim": self.goal_dim,
            "hidden_dims": list(self.hidden_dims),
            "num_time_frequencies": self.num_time_frequencies,
            "activation": self.activation,
        }
