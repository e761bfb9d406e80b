"""State-value and twin state-action-value networks for the IQL critic."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from cfgrl_tf.networks.mlp import MLP


@keras.saving.register_keras_serializable(package="cfgrl_tf")
class ValueNetwork(keras.Model):
    """V(s): takes {"observations": [B, obs_dim]} and returns [B].

    Args:
      hidden_dims: MLP widths.
      activation: hidden activation (IQL's: gelu; the paper's ExORL critic: mish).
    """

    def __init__(
        self, hidden_dims: Sequence[int] = (256, 256, 256), activation: str = "gelu", **kwargs
    ):
        super().__init__(**kwargs)
        self.hidden_dims = tuple(int(d) for d in hidden_dims)
        self.activation = activation
        self.mlp = MLP(self.hidden_dims, 1, activation=activation, layer_norm=True, name="mlp")

    def call(self, inputs: dict) -> tf.Tensor:
        return tf.squeeze(self.mlp(inputs["observations"]), axis=-1)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "hidden_dims": list(self.hidden_dims),
            "activation": self.activation,
        }


@keras.saving.register_keras_serializable(package="cfgrl_tf")
class TwinQNetwork(keras.Model):
    """Two independent Q(s, a) heads: takes {"observations", "actions"} and returns [2, B].

    Args:
      hidden_dims: MLP widths of each head.
      activation: hidden activation (IQL's critics: gelu; Diffusion-QL's: mish).
      layer_norm: LayerNorm after each hidden layer (IQL's critics; Diffusion-QL's have none).
    """

    def __init__(
        self,
        hidden_dims: Sequence[int] = (256, 256, 256),
        activation: str = "gelu",
        layer_norm: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dims = tuple(int(d) for d in hidden_dims)
        self.activation = activation
        self.layer_norm = bool(layer_norm)
        self.heads = [
            MLP(self.hidden_dims, 1, activation=activation, layer_norm=layer_norm, name=f"q{i}")
            for i in range(2)
        ]

    def call(self, inputs: dict) -> tf.Tensor:
        x = tf.concat([inputs["observations"], inputs["actions"]], axis=-1)
        return tf.stack([tf.squeeze(head(x), axis=-1) for head in self.heads], axis=0)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "hidden_dims": list(self.hidden_dims),
            "activation": self.activation,
            "layer_norm": self.layer_norm,
        }
