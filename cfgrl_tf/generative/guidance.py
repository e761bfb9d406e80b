"""Guidance hooks: what a sampler integrates instead of the network's plain prediction.

A hook says what the network is called on (`network_context`, once per sample) and turns its
prediction into the one the sampler integrates (`combine`, at every step, with each row's knob).
Hooks compose: a later Q-gradient term wraps another hook and adds to its output.

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
    """Turns the network's prediction at each sampling step into the one the sampler uses.

    A sampler calls `network_context` once, before its steps, for the inputs the network sees
    besides x_t and t (`copies` stacked copies of the batch), and `combine` at every step on the
    network's prediction for those rows.
    """

    copies: int = 1

    def network_context(self, context: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return context

    @abc.abstractmethod
    def combine(self, prediction: tf.Tensor, knob: tf.Tensor | None) -> tf.Tensor:
        """The guided prediction [B, D] from the network's [copies * B, D] and knob [B]."""


class NoGuidance(Guidance):
    """The network's own prediction (an unconditional or an unguided conditional policy)."""

    def combine(self, prediction, knob):
        del knob
        return prediction


class ClassifierFreeGuidance(Guidance):
    """pred_null + w * (pred_cond - pred_null), with w the knob of each row."""

    copies = 2

    def network_context(self, context):
        null = null_condition(context)
        # The first B rows carry the condition, the last B rows the null condition; built once
        # per sample, not per step.
        return {k: tf.concat([context[k], null[k]], axis=0) for k in context}

    def combine(self, prediction, knob):
        if knob is None:
            raise ValueError("classifier-free guidance needs a guidance weight per row")
        cond, uncond = tf.split(prediction, 2, axis=0)
        return guided_velocity(cond, uncond, knob)


def guided_velocity(v_cond: tf.Tensor, v_null: tf.Tensor, guidance_weight: tf.Tensor) -> tf.Tensor:
    """v_null + w * (v_cond - v_null), with w of shape [B] (one weight per row)."""
    return v_null + guidance_weight[:, None] * (v_cond - v_null)
