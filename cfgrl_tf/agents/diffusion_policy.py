"""What the Diffusion-QL family shares: a DDPM policy, its averaged copy, a TD critic, and how
actions are picked at evaluation.

Each method's file (diffusion_bc.py, diffusion_ql.py, qgrad.py, edp.py) is one subclass that says
only what makes it that method: its actor loss. Everything else is here, in the order a train
step runs it:

  1. The critic (methods that have one) takes a TD step; the next actions of its target come from
     the averaged (EMA) policy, sampled by the agent's sampler (`next_actions`).
  2. The actor takes one gradient step on the method's `actor_loss`, its gradient norm clipped.
  3. `update_targets`: the critic's target moves toward the critic; the EMA policy moves toward
     the online one (a copy until `ema_start`, then once every `ema_every` steps, as Diffusion-QL).

At evaluation the policy samples with the EMA network. With a critic, the knob is the number of
candidate actions: 1 takes one sample; n > 1 samples n actions per observation and draws one in
proportion to softmax(min Q_target) over them (Diffusion-QL's reference code, inherited from BCQ:
not in its paper, so reported as its own column, never folded into the one-sample result).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from cfgrl_tf.agents.base import Agent
from cfgrl_tf.agents.td_critic import TDCritic
from cfgrl_tf.agents.updates import (
    EMANetwork,
    apply_gradients,
    example_inputs,
    replica_mean,
)
from cfgrl_tf.generative import DDPM, NoGuidance
from cfgrl_tf.networks import ConditionalVectorField
from cfgrl_tf.rng import split_seed
from cfgrl_tf.sweep import Sweep


class DiffusionPolicyAgent(Agent):
    """A DDPM policy pi(a | s) trained by `actor_loss`, with an optional TD critic.

    Args:
      observation_dim: size of the observation.
      action_dim: size of the action.
      critic: the TD critic, for methods with a Q term (a fresh `TDCritic()` with its gin
        bindings if None and the method has one).
      hidden_dims: MLP widths of the noise network (Diffusion-QL: 3x256).
      activation: its hidden activation (Diffusion-QL: mish).
      learning_rate: Adam learning rate of the actor.
      num_diffusion_steps: T (Diffusion-QL: 5 with the VP schedule; EDP: 100 to 1000).
      schedule: the DDPM's beta schedule ("vp", "linear", "cosine").
      sampler: how actions are sampled, at evaluation and for the critic's next actions:
        "ddpm" (T ancestral steps) or "dpm_solver" (`solver_steps` steps; for large T).
      solver_steps: DPM-solver steps.
      ema_decay: decay of the averaged policy that samples (0: the online network).
      ema_start: steps before the average starts moving (a copy until then).
      ema_every: steps between moves of the average.
      grad_norm_clip: clip of the actor gradient's global norm (0: none).
      candidates: the evaluation sweep of the number of candidate actions (methods with a
        critic); (1,) is one sample.
      jit_sampler: compile the sampler's chain with XLA.
    """

    name = "diffusion_policy"
    batch_features = ("observations", "actions")
    has_critic = False

    def __init__(
        self,
        observation_dim: int,
        action_dim: int,
        critic: TDCritic | None = None,
        hidden_dims: Sequence[int] = (256, 256, 256),
        activation: str = "mish",
        learning_rate: float = 3e-4,
        num_diffusion_steps: int = 5,
        schedule: str = "vp",
        sampler: str = "ddpm",
        solver_steps: int = 15,
        ema_decay: float = 0.995,
        ema_start: int = 1000,
        ema_every: int = 5,
        grad_norm_clip: float = 0.0,
        candidates: Sequence[int] = (1,),
        jit_sampler: bool = True,
    ):
        super().__init__(observation_dim, action_dim)
        name = type(self).__name__
        if learning_rate <= 0:
            raise ValueError(f"{name}.learning_rate={learning_rate}: expected a positive rate")
        if grad_norm_clip < 0:
            raise ValueError(f"{name}.grad_norm_clip={grad_norm_clip}: expected >= 0 (0: off)")
        self.candidates = tuple(int(n) for n in candidates)
        if not self.candidates or min(self.candidates) < 1:
            raise ValueError(f"{name}.candidates={candidates}: expected counts >= 1")
        if max(self.candidates) > 1 and not self.has_critic:
            raise ValueError(
                f"{name}.candidates={candidates}: picking among candidates needs a critic, and "
                f"{name} has none; use (1,)"
            )
        self.critic = (critic if critic is not None else TDCritic()) if self.has_critic else None
        self.generative = DDPM(
            num_diffusion_steps, schedule=schedule, sampler=sampler, solver_steps=solver_steps
        )
        self.sampler = sampler
        self.grad_norm_clip = float(grad_norm_clip)
        self.jit_sampler = bool(jit_sampler)
        self.policy_net = EMANetwork(
            lambda net_name: ConditionalVectorField(
                action_dim, hidden_dims, activation=activation, name=net_name
            ),
            ema_decay,
            name="noise_net",
            start=ema_start,
            every=ema_every,
        )
        self.actor_optimizer = keras.optimizers.Adam(learning_rate)

    def build(self) -> None:
        batch = self.dummy_batch()
        if self.critic is not None:
            self.critic.build(batch)
        self.policy_net.build(
            example_inputs({"observations": batch["observations"]}, self.action_dim)
        )
        self.actor_optimizer.build(self.policy_net.online.trainable_variables)

    # -- the method: what each subclass defines -----------------------------------------------

    def actor_loss(
        self, batch: dict[str, tf.Tensor], seed: tf.Tensor, global_batch_size: int
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """The replica's share of the actor loss (differentiable in the online noise network),
        and its metrics (`actor/bc_loss`, the epsilon loss, among them)."""
        raise NotImplementedError

    # -- the train step -------------------------------------------------------------------------

    def train_step(self, batch, seed, global_batch_size):
        critic_seed, actor_seed = split_seed(seed, 2)
        metrics = {}
        if self.critic is not None:
            next_actions = self.next_actions(batch["next_observations"], critic_seed)
            metrics.update(self.critic.train_step(batch, next_actions, global_batch_size))
        with tf.GradientTape() as tape:
            loss, actor_metrics = self.actor_loss(batch, actor_seed, global_batch_size)
        grad_norm = apply_gradients(
            self.actor_optimizer,
            tape,
            loss,
            self.policy_net.online.trainable_variables,
            self.grad_norm_clip,
        )
        metrics.update(actor_metrics)
        metrics["actor/loss"] = loss
        metrics["actor/grad_norm"] = replica_mean(grad_norm)
        return metrics

    def next_actions(self, next_observations: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """[K * B, A] actions of the EMA policy at s' (K = the critic's max-Q backup samples,
        sample-major), by the agent's sampler, without gradients."""
        samples = self.critic.num_next_actions
        observations = tf.tile(next_observations, [samples, 1])
        actions = self.sample_in_training(self.policy_net.sampling, observations, seed)
        return tf.stop_gradient(actions)

    def sample_in_training(
        self, network: keras.Model, observations: tf.Tensor, seed: tf.Tensor
    ) -> tf.Tensor:
        """Actions sampled inside the train step from a [2] seed, with the agent's sampler;
        differentiable in `network`'s weights (every step of the chain)."""
        generative = self.generative
        if self.sampler == "ddpm":
            return generative.sample_in_training(network, {"observations": observations}, seed)
        shape = [tf.shape(observations)[0], self.action_dim]
        start = tf.random.stateless_normal(shape, seed=seed)
        step_noise = tf.zeros([generative.num_steps, *shape])  # DPM-solver is deterministic
        return generative.reverse(
            network,
            {"observations": observations},
            start,
            step_noise,
            None,
            guidance=NoGuidance(),
            sampler=self.sampler,
        )

    def update_targets(self) -> None:
        if self.critic is not None:
            self.critic.update_targets()
        self.policy_net.update(self.actor_optimizer.iterations)

    # -- the policy -----------------------------------------------------------------------------

    def sample_actions(self, inputs, knob_values, seed):
        observations = tf.convert_to_tensor(inputs["observations"], tf.float32)
        most = max(self.candidates)
        if most == 1:
            return self._sample(observations, seed)
        batch_size = tf.shape(observations)[0]
        # Candidate j of row b is row b * most + j; every row draws `most`, a row whose knob is n
        # picks among its first n (so n = 1 is candidate 0, one plain sample).
        repeated = tf.repeat(observations, most, axis=0)
        actions = self._sample(repeated, seed)
        q = tf.reshape(self.critic.min_q(repeated, actions, target=True), [batch_size, most])
        counts = tf.cast(tf.round(knob_values), tf.int32)
        logits = tf.where(tf.range(most)[None, :] < counts[:, None], q, -float("inf"))
        # Gumbel-max: argmax(logits + Gumbel noise) is a draw from softmax(logits). The noise is
        # drawn outside XLA from the seed, like the sampler's.
        uniform = tf.random.stateless_uniform(
            [batch_size, most],
            seed=tf.stack([tf.cast(tf.reshape(seed, []), tf.int64), tf.constant(1, tf.int64)]),
            minval=1e-12,
            maxval=1.0,
        )
        pick = tf.argmax(logits - tf.math.log(-tf.math.log(uniform)), axis=1, output_type=tf.int32)
        actions = tf.reshape(actions, [batch_size, most, self.action_dim])
        return tf.gather(actions, pick, axis=1, batch_dims=1)

    def _sample(self, observations: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        return self.generative.sample(
            self.policy_net.sampling,
            {"observations": observations},
            seed=seed,
            jit_compile=self.jit_sampler,
        )

    def networks(self) -> dict:
        critic = self.critic.networks() if self.critic is not None else {}
        return {**self.policy_net.networks(), **critic}

    def optimizers(self) -> dict:
        critic = self.critic.optimizers() if self.critic is not None else {}
        return {"actor": self.actor_optimizer, **critic}

    def sampling_networks(self) -> dict:
        nets = {"noise_net": self.policy_net.sampling}
        if max(self.candidates) > 1:
            nets["target_q"] = self.critic.target_q
        return nets

    def eval_sweep(self) -> Sweep:
        if self.critic is None:
            return Sweep("none", (0.0,))
        return Sweep("candidates", tuple(float(n) for n in self.candidates))
