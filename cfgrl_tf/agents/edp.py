"""Efficient diffusion policies (EDP, Kang et al., 2023): the Q term on a one-step action
estimate, so training never runs the reverse chain.

The method in one place (critic, EMA and sampling: diffusion_policy.py, td_critic.py):
  1. The twin-Q critic takes the same TD step as Diffusion-QL's; its next actions come from the
     EMA policy by the agent's sampler (DPM-solver for large T).
  2. A dataset action is noised to a uniform step k, a_k = sqrt(abar_k) a + sqrt(1 - abar_k) eps,
     and the network's prediction gives both the epsilon (BC) loss and the one-step estimate
       x0_hat = (a_k - sqrt(1 - abar_k) eps_theta(a_k, k, s)) / sqrt(abar_k),
     differentiable in the network: one network call per example, whatever T is.
  3. loss = BC - lambda * mean Q1(s, x0_hat), with TD3+BC's lambda = alpha / mean |Q1| (held
     constant). Cheap steps are what let T be 100 to 1000, sampled with DPM-solver.
"""

from __future__ import annotations

import gin
import tensorflow as tf

from cfgrl_tf.agents.diffusion_policy import DiffusionPolicyAgent
from cfgrl_tf.agents.updates import average, global_mean


@gin.configurable
class EDPAgent(DiffusionPolicyAgent):
    """Epsilon loss - alpha / mean|Q| * Q1(s, x0_hat), x0_hat the one-step estimate.

    Args:
      alpha: the TD3+BC weight (2.0).
      **kwargs: `DiffusionPolicyAgent`'s arguments.
    """

    name = "edp"
    batch_features = ("observations", "actions", "next_observations", "rewards", "masks")
    has_critic = True

    def __init__(self, observation_dim: int, action_dim: int, alpha: float = 2.0, **kwargs):
        if alpha < 0:
            raise ValueError(f"EDPAgent.alpha={alpha}: expected a weight >= 0")
        self.alpha = float(alpha)
        super().__init__(observation_dim, action_dim, **kwargs)

    def actor_loss(self, batch, seed, global_batch_size):
        ddpm = self.generative
        observations, actions = batch["observations"], batch["actions"]
        k, eps = ddpm.draw(actions, seed)
        noisy = ddpm.add_noise(actions, k, eps)
        predicted = ddpm.predict_eps(
            self.policy_net.online, {"observations": observations}, noisy, k
        )
        bc_loss = average(tf.reduce_mean(tf.square(predicted - eps), axis=-1), global_batch_size)
        x0_hat = tf.clip_by_value(ddpm.predict_x0(noisy, k, predicted), -1.0, 1.0)
        q = self.critic.q({"observations": observations, "actions": x0_hat})[0]
        weight = tf.stop_gradient(self.alpha / global_mean(tf.abs(q), global_batch_size))
        q_term = average(q, global_batch_size)
        loss = bc_loss - weight * q_term
        return loss, {"actor/bc_loss": bc_loss, "actor/q_term": q_term}
