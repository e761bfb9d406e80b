"""Diffusion-QL (Wang, Hunt, Zhou, 2022): a DDPM policy trained with BC plus a Q term through the
whole reverse chain.

The method in one place (the critic, EMA and sampling are in diffusion_policy.py and
td_critic.py):
  1. The twin-Q critic takes a TD step toward r + gamma * mask * min_i Q_target_i(s', a'), a' from
     the EMA policy (with the max-Q backup: max over 10 a', then min over heads).
  2. The actor's loss is the epsilon (BC) loss plus eta times the Q loss of actions a_new sampled by
     the FULL reverse chain, with gradients through every step:
       q_loss = -mean Q_i(s, a_new) / mean |Q_j(s, a_new)|,  the denominator held constant,
     where (i, j) is (1, 2) or (2, 1) at random each step. Normalising by |Q| makes eta a
     scale-free trade-off between staying on the data (BC) and climbing Q.
"""

from __future__ import annotations

import gin
import tensorflow as tf

from cfgrl_tf.agents.diffusion_policy import DiffusionPolicyAgent
from cfgrl_tf.agents.updates import average, global_mean
from cfgrl_tf.rng import split_seed


@gin.configurable
class DiffusionQLAgent(DiffusionPolicyAgent):
    """BC loss + eta * (-Q(s, a_new) / mean |Q|), a_new by the differentiable reverse chain.

    Args:
      eta: weight of the Q loss (the paper's per-task table: 1.0 on gym locomotion, 0.5 to 4.5
        on antmaze, 2.5 on the toy bandit).
      **kwargs: `DiffusionPolicyAgent`'s arguments.
    """

    name = "diffusion_ql"
    batch_features = ("observations", "actions", "next_observations", "rewards", "masks")
    has_critic = True

    def __init__(self, observation_dim: int, action_dim: int, eta: float = 1.0, **kwargs):
        if eta < 0:
            raise ValueError(f"DiffusionQLAgent.eta={eta}: expected a weight >= 0")
        self.eta = float(eta)
        super().__init__(observation_dim, action_dim, **kwargs)

    def actor_loss(self, batch, seed, global_batch_size):
        bc_seed, chain_seed, swap_seed = split_seed(seed, 3)
        observations = batch["observations"]
        actor = self.policy_net.online
        # 1. Behaviour cloning: the epsilon loss at a uniform diffusion step.
        per_example = self.generative.loss(
            actor, {"observations": observations}, batch["actions"], bc_seed
        )
        bc_loss = average(per_example, global_batch_size)
        # 2. Q of actions from the full chain (gradients through all T steps into the actor).
        new_actions = self.generative.sample_in_training(
            actor, {"observations": observations}, chain_seed
        )
        q = self.critic.q({"observations": observations, "actions": new_actions})  # [2, B]
        swap = tf.random.stateless_uniform([], seed=swap_seed) < 0.5
        q_first, q_second = tf.cond(swap, lambda: (q[1], q[0]), lambda: (q[0], q[1]))
        scale = tf.stop_gradient(global_mean(tf.abs(q_second), global_batch_size))
        q_loss = -average(q_first, global_batch_size) / scale
        loss = bc_loss + self.eta * q_loss
        return loss, {
            "actor/bc_loss": bc_loss,
            "actor/q_loss": q_loss,
            "actor/q_scale": scale / tf.distribute.get_strategy().num_replicas_in_sync,
        }
