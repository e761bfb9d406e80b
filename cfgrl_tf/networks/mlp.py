"""The multilayer perceptron every network here is built from."""

from __future__ import annotations

from collections.abc import Sequence

import gin
import keras

from cfgrl_tf.errors import ConfigError

PRECISIONS = ("float32", "mixed_bfloat16")


@gin.configurable
def hidden_precision(precision: str = "float32") -> str:
    """The precision of every MLP's hidden layers unless one is given (gin:
    `hidden_precision.precision = 'mixed_bfloat16'`).

    "mixed_bfloat16" computes the hidden layers in bfloat16 (oneDNN's bfloat16 kernels on a CPU
    that has them, tensor cores on a GPU) with float32 weights: the optimizer, checkpoints and
    every loss stay float32, since an MLP's output layer computes in float32.

    Raises:
      ConfigError: another precision.
    """
    if precision not in PRECISIONS:
        raise ConfigError(
            f"hidden_precision.precision={precision!r}: expected one of {', '.join(PRECISIONS)}"
        )
    return precision


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
      precision: "float32" or "mixed_bfloat16" for the hidden layers (default:
        `hidden_precision()`, i.e. its gin binding); the output layer is always float32.
    """

    def __init__(
        self,
        hidden_dims: Sequence[int],
        output_dim: int,
        activation: str = "gelu",
        layer_norm: bool = False,
        final_scale: float = 1.0,
        precision: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dims = tuple(int(d) for d in hidden_dims)
        self.output_dim = int(output_dim)
        self.activation = activation
        self.layer_norm = bool(layer_norm)
        self.final_scale = float(final_scale)
        self.precision = hidden_precision() if precision is None else hidden_precision(precision)
        self._hidden = []
        for i, width in enumerate(self.hidden_dims):
            self._hidden.append(
                keras.layers.Dense(
                    width, activation=activation, dtype=self.precision, name=f"dense_{i}"
                )
            )
            if self.layer_norm:
                self._hidden.append(
                    keras.layers.LayerNormalization(dtype=self.precision, name=f"norm_{i}")
                )
        self._out = keras.layers.Dense(
            self.output_dim,
            kernel_initializer=keras.initializers.VarianceScaling(
                scale=self.final_scale, mode="fan_avg", distribution="uniform"
            ),
            dtype="float32",
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
            precision=self.precision,
        )
        return config
