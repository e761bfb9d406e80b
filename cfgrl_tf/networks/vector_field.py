"""The conditional flow network: a velocity field v(x_t, t | s, c) over actions."""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import tensorflow as tf

from cfgrl_tf.networks.mlp import MLP

# Condition labels are embedded with row 0 reserved for "no condition": a row whose
# `condition_mask` is 0 (a label dropped in training, or the null half of a guided batch) reads
# row 0, so one network call can carry both halves of a guided batch.
NULL_LABEL = 0


def time_features(times: tf.Tensor, num_frequencies: int) -> tf.Tensor:
    """[B, 1 + 2 * num_frequencies]: t itself and sin/cos of t at log-spaced frequencies (1 to
    16 cycles over [0, 1])."""
    times = tf.reshape(tf.cast(times, tf.float32), [-1, 1])
    if not num_frequencies:
        return times
    frequencies = 2.0 ** tf.linspace(0.0, 4.0, num_frequencies)
    angles = 2.0 * math.pi * times * frequencies[None, :]
    return tf.concat([times, tf.sin(angles), tf.cos(angles)], axis=-1)


@keras.saving.register_keras_serializable(package="cfgrl_tf")
class ConditionalVectorField(keras.Model):
    """Predicts the flow-matching velocity of noisy actions.

    The inputs are one dict (Keras 3 cannot save a model whose `call` takes several tensors):
      observations: [B, obs_dim] float32.
      noisy_actions: [B, action_dim] float32, the point x_t on the path from noise to action.
      times: [B] or [B, 1] float32 in [0, 1].
      labels: [B] int, only when `num_labels` is set: condition values 1..num_labels (for
        CFGRL: 1 = not optimal, 2 = optimal).
      condition_mask: [B] float32, with `labels`: 1 to use the label, 0 for the null label.

    Args:
      action_dim: size of the action.
      hidden_dims: MLP widths.
      num_labels: number of condition values besides the null token, or None for an
        unconditional field (flow BC).
      label_embedding_dim: width of the learned label embedding.
      num_time_frequencies: sin/cos features of t at this many log-spaced frequencies (1 to 16
        cycles over [0, 1]) join the raw t. A plain MLP fed only t learns sharply multimodal
        velocity fields slowly; the features make the CPU-scale runs converge in minutes.
      activation: hidden activation.
      layer_norm: LayerNorm after each hidden layer (the paper's ExORL actor; its OGBench actor
        has none).
    """

    def __init__(
        self,
        action_dim: int,
        hidden_dims: Sequence[int] = (256, 256, 256),
        num_labels: int | None = None,
        label_embedding_dim: int = 32,
        num_time_frequencies: int = 8,
        activation: str = "gelu",
        layer_norm: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.layer_norm = bool(layer_norm)
        self.num_time_frequencies = int(num_time_frequencies)
        self.action_dim = int(action_dim)
        self.hidden_dims = tuple(int(d) for d in hidden_dims)
        self.num_labels = None if num_labels is None else int(num_labels)
        self.label_embedding_dim = int(label_embedding_dim)
        self.activation = activation
        self.label_embedding = None
        if self.num_labels is not None:
            self.label_embedding = keras.layers.Embedding(
                self.num_labels + 1, self.label_embedding_dim, name="label_embedding"
            )
        self.mlp = MLP(
            self.hidden_dims,
            self.action_dim,
            activation=activation,
            layer_norm=self.layer_norm,
            name="mlp",
        )

    @property
    def conditional(self) -> bool:
        return self.num_labels is not None

    def call(self, inputs: dict) -> tf.Tensor:
        features = [
            inputs["observations"],
            inputs["noisy_actions"],
            time_features(inputs["times"], self.num_time_frequencies),
        ]
        if self.label_embedding is not None:
            keep = tf.cast(inputs["condition_mask"], tf.float32) > 0.5
            labels = tf.where(keep, tf.cast(inputs["labels"], tf.int32), NULL_LABEL)
            features.append(self.label_embedding(labels))
        return self.mlp(tf.concat(features, axis=-1))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "action_dim": self.action_dim,
            "hidden_dims": list(self.hidden_dims),
            "num_labels": self.num_labels,
            "label_embedding_dim": self.label_embedding_dim,
            "num_time_frequencies": self.num_time_frequencies,
            "activation": self.activation,
            "layer_norm": self.layer_norm,
        }
