"""A Gaussian policy head (tensorflow-probability) for AWR and Gaussian BC."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from cfgrl_tf.networks.mlp import MLP

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="cfgrl_tf")
class GaussianPolicy(keras.Model):
    """pi(a | s) = N(tanh(mu(s)), diag(exp(log_std))), with a state-independent log std.

    The mean is squashed into [-1, 1] (the action range) while the distribution itself is not,
    so log-probabilities of dataset actions stay exact; samples are clipped by the caller. A
    state-independent std is the common choice for AWR on D4RL/OGBench and keeps the weighted
    regression well conditioned.

    Args:
      action_dim: size of the action.
      hidden_dims: MLP widths.
      log_std_bounds: the learned log std is clipped into this range.
      squash_mean: squash the mean into [-1, 1] with tanh (actions); False for unbounded
        targets such as the subgoals of a hierarchical policy.
    """

    def __init__(
        self,
        action_dim: int,
        hidden_dims: Sequence[int] = (256, 256, 256),
        log_std_bounds: tuple[float, float] = (-5.0, 2.0),
        squash_mean: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.action_dim = int(action_dim)
        self.hidden_dims = tuple(int(d) for d in hidden_dims)
        self.log_std_bounds = (float(log_std_bounds[0]), float(log_std_bounds[1]))
        self.squash_mean = bool(squash_mean)
        self.mean_net = MLP(self.hidden_dims, self.action_dim, name="mean")
        self.log_std = self.add_weight(
            shape=(self.action_dim,), initializer="zeros", name="log_std", trainable=True
        )

    def call(self, inputs: dict) -> dict:
        """Returns {"mean": [B, action_dim], "log_std": [B, action_dim]}; see `distribution`."""
        mean = self.mean_net(inputs["observations"])
        if self.squash_mean:
            mean = tf.tanh(mean)
        log_std = tf.clip_by_value(self.log_std, *self.log_std_bounds)
        return {"mean": mean, "log_std": tf.broadcast_to(log_std, tf.shape(mean))}

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "action_dim": self.action_dim,
            "hidden_dims": list(self.hidden_dims),
            "log_std_bounds": list(self.log_std_bounds),
            "squash_mean": self.squash_mean,
        }


def distribution(params: dict) -> tfd.Distribution:
    """The policy's distribution from the tensors `GaussianPolicy` returns.

    Kept outside the model: Keras 3 walks a layer's outputs as a tree of tensors, which a TFP
    distribution is not.
    """
    return tfd.MultivariateNormalDiag(loc=params["mean"], scale_diag=tf.exp(params["log_std"]))
