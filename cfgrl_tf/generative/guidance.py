"""Guidance hooks: what a sampler integrates instead of the network's plain prediction.

A hook is called at every sampling step with the network and that step's inputs (the context,
`noisy_actions` and `times`) and each row's knob value, and returns the prediction the sampler
uses. Hooks compose: a later Q-gradient term wraps another hook and adds to its output.

CFGRL samples with classifier-free guidance, v = v_null + w * (v_cond - v_null): w = 0 is the
behaviour (unconditional) policy, w = 1 is conditional BC, and w > 1 sharpens the policy toward
the condition. The conditional and null halves of a batch go through the network in ONE call
(a batch of 2B rows), which is both faster than two calls and what makes the guidance weight a
per-row input: every row can carry its own w.

The null condition is one mechanism for every kind of condition: a `condition_mask` of 0. A
label-conditioned network then reads its null label, a goal-conditioned one its learned null
goal; training drops the condition by the same mask.
"""

from __future__ import annotations

import abc

import keras
import tensorflow as tf

CONDITION_MASK = "condition_mask"


def null_condition(context: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """The same inputs with the condition replaced by the null condition."""
    if CONDITION_MASK not in context:
        raise ValueError(
            f"an unconditional context (keys {sorted(context)}) has no condition to drop"
        )
    return {**context, CONDITION_MASK: tf.zeros_like(context[CONDITION_MASK])}


class Guidance(abc.ABC):
    """Turns the network's prediction at one sampling step into the one the sampler uses."""

    @abc.abstractmethod
    def __call__(
        self, network: keras.Model, inputs: dict[str, tf.Tensor], knob: tf.Tensor | None
    ) -> tf.Tensor:
        """The guided prediction [B, D] for inputs of batch B and knob [B] (or None)."""


class NoGuidance(Guidance):
    """The network's own prediction (an unconditional or an unguided conditional policy)."""

    def __call__(self, network, inputs, knob):
        del knob
        return network(inputs)


class ClassifierFreeGuidance(Guidance):
    """pred_null + w * (pred_cond - pred_null), with w the knob of each row."""

    def __call__(self, network, inputs, knob):
        if knob is None:
            raise ValueError("classifier-free guidance needs a guidance weight per row")
        batch_size = tf.shape(inputs["noisy_actions"])[0]
        null = null_condition(inputs)
        # The first B rows carry the condition, the last B rows the null condition.
        both = {k: tf.concat([inputs[k], null[k]], axis=0) for k in inputs}
        prediction = network(both)
        cond, uncond = prediction[:batch_size], prediction[batch_size:]
        return guided_velocity(cond, uncond, knob)


def guided_velocity(v_cond: tf.Tensor, v_null: tf.Tensor, guidance_weight: tf.Tensor) -> tf.Tensor:
    """v_null + w * (v_cond - v_null), with w of shape [B] (one weight per row)."""
    return v_null + guidance_weight[:, None] * (v_cond - v_null)
