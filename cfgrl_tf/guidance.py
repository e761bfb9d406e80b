"""The one guided flow sampler, used by evaluation, training-time eval and the SavedModel export.

CFGRL samples with v = v_null + w * (v_cond - v_null): w = 0 is the behaviour (unconditional)
policy, w = 1 is conditional BC, and w > 1 sharpens the policy toward the condition. The
conditional and null halves of a batch go through the network in ONE call per flow step (a batch
of 2B rows), which is both faster than two calls and what makes the guidance weight a per-row
input: every row can carry its own w.
"""

from __future__ import annotations

import functools

import keras
import tensorflow as tf

from cfgrl_tf.networks.vector_field import NULL_LABEL

_RNG_ALG = "philox"


def initial_noise(batch_size: tf.Tensor, action_dim: int, seed: tf.Tensor) -> tf.Tensor:
    """N(0, I) noise of shape [batch_size, action_dim] from a scalar integer seed.

    Must run outside XLA: with a seed that is a runtime input, XLA's stateless philox draws
    different numbers than the TF kernel, and then a compiled sampler, an eager one and an exported
    SavedModel would disagree for the same seed. `sample_actions` therefore draws the noise here
    and compiles only the (deterministic) integration.
    """
    seed = tf.cast(tf.reshape(seed, []), tf.int64)
    return tf.random.stateless_normal(
        [batch_size, action_dim], seed=tf.stack([seed, tf.constant(0, tf.int64)]), alg=_RNG_ALG
    )


def guided_velocity(v_cond: tf.Tensor, v_null: tf.Tensor, guidance_weight: tf.Tensor) -> tf.Tensor:
    """v_null + w * (v_cond - v_null), with w of shape [B] (one weight per row)."""
    return v_null + guidance_weight[:, None] * (v_cond - v_null)


def sample_actions(
    vector_field: keras.Model,
    observations: tf.Tensor,
    *,
    seed: tf.Tensor,
    num_flow_steps: int,
    labels: tf.Tensor | None = None,
    guidance_weight: tf.Tensor | None = None,
    jit_compile: bool = False,
) -> tf.Tensor:
    """Integrates the (guided) velocity field of a label-conditioned field from noise to actions.

    Args:
      vector_field: a `ConditionalVectorField`.
      observations: [B, obs_dim].
      seed: scalar integer; the same seed gives the same actions.
      num_flow_steps: Euler steps (the paper uses 10-16).
      labels: [B] condition labels, required when the field is conditional.
      guidance_weight: [B] or scalar guidance weight w, required when the field is conditional.
      jit_compile: compile the integration with XLA (the noise is always drawn outside it).

    Returns:
      [B, action_dim] actions clipped to [-1, 1].
    """
    observations = tf.convert_to_tensor(observations, tf.float32)
    context = {"observations": observations}
    null_context = None
    if vector_field.conditional:
        if labels is None or guidance_weight is None:
            raise ValueError("a conditional vector field needs `labels` and `guidance_weight`")
        labels = tf.cast(labels, tf.int32)
        context["labels"] = labels
        null_context = {
            "observations": observations,
            "labels": tf.fill(tf.shape(labels), NULL_LABEL),
        }
    return sample_flow(
        vector_field,
        context,
        null_context=null_context,
        guidance_weight=guidance_weight,
        seed=seed,
        num_flow_steps=num_flow_steps,
        jit_compile=jit_compile,
    )


def sample_flow(
    vector_field: keras.Model,
    context: dict[str, tf.Tensor],
    *,
    seed: tf.Tensor,
    num_flow_steps: int,
    null_context: dict[str, tf.Tensor] | None = None,
    guidance_weight: tf.Tensor | None = None,
    jit_compile: bool = False,
    clip: bool = True,
) -> tf.Tensor:
    """Integrates a (guided) velocity field from noise at t=0 to a sample at t=1 (Euler steps).

    The field is called as `vector_field({**context, "noisy_actions": x_t, "times": t})`. With a
    `null_context` (the same keys, the condition replaced by the null one: label 0, or the learned
    null goal) each step uses v = v_null + w * (v_cond - v_null), both halves in one call.

    Args:
      vector_field: a Keras model with an `action_dim` attribute (the size of what it samples).
      context: the inputs besides x_t and t, each [B, ...]; `observations` sets B.
      seed: scalar integer; the same seed gives the same samples.
      num_flow_steps: Euler steps.
      null_context: the unconditional inputs, or None for an unguided field.
      guidance_weight: [B] or scalar w, required with `null_context`.
      jit_compile: compile the integration with XLA (the noise is always drawn outside it).
      clip: clip the samples to [-1, 1] (actions); subgoal flows sample unclipped.

    Returns:
      [B, vector_field.action_dim] samples.
    """
    context = {k: tf.convert_to_tensor(v) for k, v in context.items()}
    batch_size = tf.shape(context["observations"])[0]
    noise = initial_noise(batch_size, vector_field.action_dim, seed)
    if null_context is not None:
        if guidance_weight is None:
            raise ValueError("a guided sample needs `guidance_weight`")
        null_context = {k: tf.convert_to_tensor(v) for k, v in null_context.items()}
        if set(null_context) != set(context):
            raise ValueError(
                f"null_context keys {sorted(null_context)} differ from context keys "
                f"{sorted(context)}"
            )
        guidance_weight = tf.broadcast_to(tf.cast(guidance_weight, tf.float32), [batch_size])
    run = functools.partial(integrate_flow, vector_field, num_flow_steps=num_flow_steps, clip=clip)
    if jit_compile:
        run = tf.function(run, jit_compile=True)
    return run(context, null_context, noise, guidance_weight)


def integrate_flow(
    vector_field: keras.Model,
    context: dict[str, tf.Tensor],
    null_context: dict[str, tf.Tensor] | None,
    noise: tf.Tensor,
    guidance_weight: tf.Tensor | None,
    *,
    num_flow_steps: int,
    clip: bool = True,
) -> tf.Tensor:
    """The deterministic part of `sample_flow`: Euler steps from the given noise."""
    batch_size = tf.shape(noise)[0]
    x = noise
    dt = 1.0 / num_flow_steps

    if null_context is None:
        for step in range(num_flow_steps):
            times = tf.fill([batch_size], step * dt)
            x = x + dt * vector_field({**context, "noisy_actions": x, "times": times})
    else:
        # The first B rows carry the condition, the last B rows the null condition.
        both = {k: tf.concat([context[k], null_context[k]], axis=0) for k in context}
        for step in range(num_flow_steps):
            times = tf.fill([2 * batch_size], step * dt)
            v = vector_field({**both, "noisy_actions": tf.concat([x, x], axis=0), "times": times})
            v_cond, v_null = v[:batch_size], v[batch_size:]
            x = x + dt * guided_velocity(v_cond, v_null, guidance_weight)
    return tf.clip_by_value(x, -1.0, 1.0) if clip else x
