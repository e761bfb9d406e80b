"""The interface of a generative model of actions (or subgoals) given a condition."""

from __future__ import annotations

import abc

import keras
import tensorflow as tf

from cfgrl_tf.generative.guidance import Guidance


class GenerativeModel(abc.ABC):
    """How a conditional network learns p(x | context) and how it samples from it.

    The network is a Keras model called on one dict: the `context` (observations, and a
    condition with its `condition_mask` where it has one) plus `noisy_actions` (the point being
    denoised) and `times`. It has an `action_dim` attribute, the size of what it samples.

    Flow matching (`flow_matching.py`) predicts a velocity and integrates it; a DDPM predicts the
    noise and runs the reverse chain. Both take the same guidance hooks.
    """

    @abc.abstractmethod
    def loss(
        self,
        network: keras.Model,
        context: dict[str, tf.Tensor],
        targets: tf.Tensor,
        seed: tf.Tensor,
    ) -> tf.Tensor:
        """The per-example training loss [B] of `network` on `targets` [B, D].

        Args:
          network: the model being trained.
          context: its inputs besides `noisy_actions` and `times`, each [B, ...].
          targets: what the model learns to sample (dataset actions, or subgoals).
          seed: [2] stateless seed of this step and replica.
        """

    @abc.abstractmethod
    def sample(
        self,
        network: keras.Model,
        context: dict[str, tf.Tensor],
        *,
        seed: tf.Tensor,
        guidance: Guidance | None = None,
        knob: tf.Tensor | None = None,
        jit_compile: bool = False,
    ) -> tf.Tensor:
        """[B, network.action_dim] samples; `knob` [B] is each row's guidance setting."""
