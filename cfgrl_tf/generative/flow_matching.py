"""Flow matching on straight (rectified-flow) paths from noise to data, sampled with Euler steps.

Training regresses the network's velocity at x_t = (1 - t) * noise + t * x onto the path's
constant velocity x - noise, with t ~ U[0, 1]: plain supervised learning, no critic in the loss.
Sampling integrates the (guided) velocity from noise at t = 0 to a sample at t = 1.
"""

from __future__ import annotations

import functools

import keras
import tensorflow as tf

from cfgrl_tf.generative.base import GenerativeModel
from cfgrl_tf.generative.guidance import Guidance, NoGuidance
from cfgrl_tf.generative.noise import initial_noise
from cfgrl_tf.rng import split_seed


def flow_path(
    noise: tf.Tensor, targets: tf.Tensor, times: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """The straight path from noise at t=0 to the target at t=1.

    Args:
      noise: [B, D] samples of N(0, I).
      targets: [B, D] dataset actions (or subgoals).
      times: [B] in [0, 1].

    Returns:
      (x_t, velocity): the point on the path at time t and the constant velocity along it,
      which is the flow-matching regression target.
    """
    t = times[:, None]
    return (1.0 - t) * noise + t * targets, targets - noise


def flow_matching_loss(predicted_velocity: tf.Tensor, target_velocity: tf.Tensor) -> tf.Tensor:
    """Squared velocity error, averaged over dimensions: [B]."""
    return tf.reduce_mean(tf.square(predicted_velocity - target_velocity), axis=-1)


class FlowMatching(GenerativeModel):
    """Flow matching with `num_steps` Euler steps at sampling time.

    Args:
      num_steps: Euler steps (the paper uses 10-16).
      clip: clip samples into [-1, 1] (actions); subgoal flows sample unclipped.
    """

    def __init__(self, num_steps: int, clip: bool = True):
        if num_steps < 1:
            raise ValueError(f"num_flow_steps={num_steps}: expected at least 1")
        self.num_steps = int(num_steps)
        self.clip = bool(clip)

    def loss(self, network, context, targets, seed):
        batch_size = tf.shape(targets)[0]
        noise_seed, time_seed = split_seed(seed, 2)
        noise = tf.random.stateless_normal(tf.shape(targets), seed=noise_seed)
        times = tf.random.stateless_uniform([batch_size], seed=time_seed)
        x_t, target_velocity = flow_path(noise, targets, times)
        predicted = network({**context, "noisy_actions": x_t, "times": times})
        return flow_matching_loss(predicted, target_velocity)

    def sample(self, network, context, *, seed, guidance=None, knob=None, jit_compile=False):
        context = {k: tf.convert_to_tensor(v) for k, v in context.items()}
        batch_size = tf.shape(context["observations"])[0]
        noise = initial_noise(batch_size, network.action_dim, seed)
        if knob is not None:
            knob = tf.broadcast_to(tf.cast(knob, tf.float32), [batch_size])
        run = functools.partial(self.integrate, network, guidance=guidance or NoGuidance())
        if jit_compile:
            run = tf.function(run, jit_compile=True)
        return run(context, noise, knob)

    def integrate(
        self,
        network: keras.Model,
        context: dict[str, tf.Tensor],
        noise: tf.Tensor,
        knob: tf.Tensor | None,
        *,
        guidance: Guidance,
    ) -> tf.Tensor:
        """The deterministic part of `sample`: Euler steps from the given noise."""
        rows = guidance.copies * tf.shape(noise)[0]
        network_context = guidance.network_context(context)
        x = noise
        dt = 1.0 / self.num_steps
        for step in range(self.num_steps):
            inputs = {
                **network_context,
                "noisy_actions": tf.concat([x] * guidance.copies, axis=0),
                "times": tf.fill([rows], step * dt),
            }
            x = x + dt * guidance.combine(network(inputs), knob)
        return tf.clip_by_value(x, -1.0, 1.0) if self.clip else x
