"""Flow matching on straight (rectified-flow) paths from noise to data, sampled with Euler steps.

Training regresses the network's velocity at x_t = (1 - t) * noise + t * x onto the path's
constant velocity x - noise, with t ~ U[0, 1]: plain supervised learning, no critic in the loss.
Sampling integrates the (guided) velocity from noise at t = 0 to a sample at t = 1.

With `discrete_times`, training draws t from the sampler's own grid {0, 1/K, ..., (K-1)/K} (K
Euler steps) instead of U[0, 1], as the paper's ExORL agent does: the network is then trained
exactly at the times it is queried.
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
      num_steps: Euler steps (the paper uses 10-16 on OGBench, 32 on ExORL).
      clip: clip samples into [-1, 1] (actions); subgoal flows sample unclipped.
      discrete_times: train at t on the Euler grid k / num_steps rather than t ~ U[0, 1].
      noise_scale: samples start from noise_scale * N(0, I): 1 samples the learned
        distribution; 0 integrates the flow from the origin alone, a deterministic action near
        the distribution's centre (as a Gaussian policy acting at its mean).
    """

    def __init__(
        self,
        num_steps: int,
        clip: bool = True,
        discrete_times: bool = False,
        noise_scale: float = 1.0,
    ):
        if num_steps < 1:
            raise ValueError(f"num_flow_steps={num_steps}: expected at least 1")
        if not noise_scale >= 0.0:
            raise ValueError(f"noise_scale={noise_scale}: expected a number >= 0")
        self.noise_scale = float(noise_scale)
        self.num_steps = int(num_steps)
        self.clip = bool(clip)
        self.discrete_times = bool(discrete_times)

    def loss(self, network, context, targets, seed):
        return self.losses(network, [context], targets, seed)[0]

    def losses(
        self,
        network: keras.Model,
        contexts: list[dict[str, tf.Tensor]],
        targets: tf.Tensor,
        seed: tf.Tensor,
    ) -> tf.Tensor:
        """Per-example losses [len(contexts), B] of one noisy path per target under each context.

        Every context sees the same noise and time, so e.g. a conditional and an unconditional
        loss of the same sample differ only by the condition; the network is called once on all
        contexts stacked.
        """
        batch_size = tf.shape(targets)[0]
        noise_seed, time_seed = split_seed(seed, 2)
        noise = tf.random.stateless_normal(tf.shape(targets), seed=noise_seed)
        times = tf.random.stateless_uniform([batch_size], seed=time_seed)
        if self.discrete_times:
            times = tf.floor(times * self.num_steps) / self.num_steps
        x_t, target_velocity = flow_path(noise, targets, times)
        copies = len(contexts)
        stacked = {k: tf.concat([c[k] for c in contexts], axis=0) for k in contexts[0]}
        predicted = network(
            {
                **stacked,
                "noisy_actions": tf.concat([x_t] * copies, axis=0),
                "times": tf.concat([times] * copies, axis=0),
            }
        )
        per_example = flow_matching_loss(predicted, tf.concat([target_velocity] * copies, axis=0))
        return tf.reshape(per_example, [copies, batch_size])

    def sample(self, network, context, *, seed, guidance=None, knob=None, jit_compile=False):
        context = {k: tf.convert_to_tensor(v) for k, v in context.items()}
        batch_size = tf.shape(context["observations"])[0]
        noise = initial_noise(batch_size, network.action_dim, seed)
        if self.noise_scale != 1.0:
            noise = self.noise_scale * noise
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
