"""Conditional policy heads the goal-conditioned agents are assembled from.

A head learns p(target | s, c): the action given a goal (flat agents and the low level of a
hierarchy) or a subgoal given the goal (the high level). Two kinds:

  FlowHead       flow matching on a `GoalVectorField`; with `goal_dropout` > 0 the condition is
                 replaced by the learned null goal that often, and sampling is guided:
                 v = v_null + w * (v_goal - v_null). With no dropout it is plain conditional flow
                 BC, sampled at w = 1.
  GaussianHead   a tensorflow-probability Gaussian fit by maximum likelihood (GCBC), sampled at
                 its mean (OGBench's evaluation temperature 0) unless `temperature` > 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from cfgrl_tf import guidance
from cfgrl_tf.agents.base import apply_gradients, average, split_seed
from cfgrl_tf.agents.flow import EMAFlow, flow_actor_step
from cfgrl_tf.networks import GaussianPolicy, GoalVectorField
from cfgrl_tf.networks.gaussian import distribution


class Normalizer:
    """(x - mean) / std with the dataset's statistics, baked into traced functions as constants.

    Args:
      stats: {"mean": [...], "std": [...]} (from `dataset_info.json`), or None for identity.
      dim: the expected size (checked).
      name: what is normalised, for the error message.
    """

    def __init__(self, stats: dict | None, dim: int, name: str):
        if stats is None:
            self.mean = np.zeros(dim, np.float32)
            self.std = np.ones(dim, np.float32)
        else:
            self.mean = np.asarray(stats["mean"], np.float32)
            self.std = np.asarray(stats["std"], np.float32)
        if self.mean.shape != (dim,) or self.std.shape != (dim,):
            raise ValueError(
                f"{name} statistics have sizes {self.mean.shape}/{self.std.shape}, expected {dim}"
            )

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return (tf.cast(x, tf.float32) - self.mean) / self.std

    def invert(self, x: tf.Tensor) -> tf.Tensor:
        return x * self.std + self.mean


class FlowHead:
    """A goal-conditioned flow, optionally trained with goal dropout and sampled with guidance.

    Args:
      name: the head's name (network and metric prefix), e.g. "actor" or "high_actor".
      output_dim: size of the target.
      goal_dim: size of the condition.
      hidden_dims: MLP widths.
      learning_rate: Adam learning rate.
      num_flow_steps: Euler steps when sampling.
      goal_dropout: probability of training on the null goal (CFGRL: 0.1; flow BC: 0).
      ema_decay: sampling uses an EMA of the weights with this decay (0: online weights).
      clip: clip samples into [-1, 1] (actions).
      jit_sampler: compile the flow integration with XLA.
    """

    def __init__(
        self,
        name: str,
        output_dim: int,
        goal_dim: int,
        *,
        hidden_dims: Sequence[int],
        learning_rate: float,
        num_flow_steps: int,
        goal_dropout: float,
        ema_decay: float,
        clip: bool,
        jit_sampler: bool,
    ):
        if not 0.0 <= goal_dropout < 1.0:
            raise ValueError(f"goal_dropout={goal_dropout}: expected a probability in [0, 1)")
        self.name = name
        self.goal_dim = int(goal_dim)
        self.goal_dropout = float(goal_dropout)
        self.num_flow_steps = int(num_flow_steps)
        self.clip = bool(clip)
        self.jit_sampler = bool(jit_sampler)
        self.flow = EMAFlow(
            lambda net_name: GoalVectorField(
                output_dim, goal_dim, hidden_dims, name=f"{name}_{net_name}"
            ),
            ema_decay,
        )
        self.optimizer = keras.optimizers.Adam(learning_rate)

    @property
    def guided(self) -> bool:
        return self.goal_dropout > 0.0

    def _context(self, observations, goals, mask) -> dict:
        """The field's inputs besides x_t and t; `mask` is 1 (goal), 0 (null goal), or [B]."""
        mask = tf.broadcast_to(tf.cast(mask, tf.float32), tf.shape(observations)[:1])
        return {"observations": observations, "goals": goals, "goal_mask": mask}

    def build(self, observations: tf.Tensor, goals: tf.Tensor) -> None:
        self.flow.build(self._context(observations, goals, 1.0))
        self.optimizer.build(self.flow.online.trainable_variables)

    def train_step(self, observations, goals, targets, seed, global_batch_size) -> dict:
        drop_seed, flow_seed = split_seed(seed, 2)
        batch_size = tf.shape(observations)[0]
        keep = tf.random.stateless_uniform([batch_size], seed=drop_seed) >= self.goal_dropout
        return flow_actor_step(
            self.flow.online,
            self.optimizer,
            self._context(observations, goals, keep),
            targets,
            flow_seed,
            global_batch_size,
            metric_prefix=self.name,
        )

    def sample(self, observations, goals, guidance_weight, seed) -> tf.Tensor:
        context = self._context(observations, goals, 1.0)
        null_context = None
        if self.guided:
            null_context = self._context(observations, goals, 0.0)
        return guidance.sample_flow(
            self.flow.sampling,
            context,
            null_context=null_context,
            guidance_weight=guidance_weight if self.guided else None,
            seed=seed,
            num_flow_steps=self.num_flow_steps,
            jit_compile=self.jit_sampler,
            clip=self.clip,
        )

    def update(self) -> None:
        self.flow.update()

    def networks(self) -> dict:
        return {f"{self.name}_{k}": v for k, v in self.flow.networks().items()}

    def optimizers(self) -> dict:
        return {self.name: self.optimizer}

    def sampling_networks(self) -> dict:
        return {f"{self.name}_vector_field": self.flow.sampling}


class GaussianHead:
    """A Gaussian p(target | s, c) fit by maximum likelihood (tensorflow-probability).

    Args:
      name: the head's name.
      output_dim: size of the target.
      goal_dim: size of the condition (unused by the network's shape, kept for symmetry).
      hidden_dims: MLP widths.
      learning_rate: Adam learning rate.
      clip: the target is an action in [-1, 1]: squash the mean and clip samples.
      temperature: sampling noise scale; 0 samples the mean (OGBench's evaluation default).
    """

    def __init__(
        self,
        name: str,
        output_dim: int,
        goal_dim: int,
        *,
        hidden_dims: Sequence[int],
        learning_rate: float,
        clip: bool,
        temperature: float = 0.0,
    ):
        del goal_dim
        self.name = name
        self.clip = bool(clip)
        self.temperature = float(temperature)
        self.policy = GaussianPolicy(
            output_dim, hidden_dims, squash_mean=self.clip, name=f"{name}_gaussian"
        )
        self.optimizer = keras.optimizers.Adam(learning_rate)

    guided = False

    def _inputs(self, observations, goals) -> dict:
        return {"observations": tf.concat([observations, goals], axis=-1)}

    def build(self, observations: tf.Tensor, goals: tf.Tensor) -> None:
        self.policy(self._inputs(observations, goals))
        self.optimizer.build(self.policy.trainable_variables)

    def train_step(self, observations, goals, targets, seed, global_batch_size) -> dict:
        del seed
        with tf.GradientTape() as tape:
            params = self.policy(self._inputs(observations, goals))
            log_probs = distribution(params).log_prob(targets)
            loss = average(-log_probs, global_batch_size)
        grad_norm = apply_gradients(self.optimizer, tape, loss, self.policy.trainable_variables)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        mse = average(tf.reduce_mean(tf.square(params["mean"] - targets), -1), global_batch_size)
        return {
            f"{self.name}/nll": loss,
            f"{self.name}/mse": mse,
            f"{self.name}/grad_norm": grad_norm / replicas,
        }

    def sample(self, observations, goals, guidance_weight, seed) -> tf.Tensor:
        del guidance_weight
        params = self.policy(self._inputs(observations, goals))
        samples = params["mean"]
        if self.temperature > 0:
            noise = guidance.initial_noise(tf.shape(samples)[0], self.policy.action_dim, seed)
            samples = samples + self.temperature * tf.exp(params["log_std"]) * noise
        return tf.clip_by_value(samples, -1.0, 1.0) if self.clip else samples

    def update(self) -> None:
        pass

    def networks(self) -> dict:
        return {f"{self.name}_gaussian": self.policy}

    def optimizers(self) -> dict:
        return {self.name: self.optimizer}

    def sampling_networks(self) -> dict:
        return self.networks()
