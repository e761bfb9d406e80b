"""The multilayer perceptron every network here is built from."""

from __future__ import annotations

from collections.abc import Sequence

import keras


@keras.saving.register_keras_serializable(package="cfgrl_tf")
class MLP(keras.layers.Layer):
    """Dense layers with an activation (and optional layer norm) between them.

    Args:
      hidden_dims: widths of the hidden layers, e.g. (512, 512, 512, 512) for the paper's networks.
      output_dim: width of the final linear layer.
      activation: Keras activation name for the hidden layers.
      layer_norm: apply LayerNormalization after each hidden activation (used by the critics,
        where it keeps Q-values from drifting; the flow actor does without it, as in the paper).
      final_scale: scale of the final layer's initialisation. A small value starts the network near
        zero output, which keeps early velocities and Q-values tame.
    """

    def __init__(
        self,
        hidden_dims: Sequence[int],
        output_dim: int,
        activation: str = "gelu",
        layer_norm: bool = False,
        final_scale: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dims = tuple(int(d) for d in hidden_dims)
        self.output_dim = int(output_dim)
        self.activation = activation
        self.layer_norm = bool(layer_norm)
        self.final_scale = float(final_scale)
        self._hidden = []
        for i, width in enumerate(self.hidden_dims):
            self._hidden.append(keras.layers.Dense(width, activation=activation, name=f"dense_{i}"))
            if self.layer_norm:
                self._hidden.append(keras.layers.LayerNormalization(name=f"norm_{i}"))
        self._out = keras.layers.Dense(
            self.output_dim,
            kernel_initializer=keras.initializers.VarianceScaling(
                scale=self.final_scale, mode="fan_avg", distribution="uniform"
            ),
            name="output",
        )

    def call(self, x):
        for layer in self._hidden:
            x = layer(x)
        return self._out(x)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            hidden_dims=list(self.hidden_dims),
            output_dim=self.output_dim,
            activation=self.activation,
            layer_norm=self.layer_norm,
            final_scale=self.final_scale,
        )
        return config
