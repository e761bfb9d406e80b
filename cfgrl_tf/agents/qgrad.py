"""Q-gradient guidance (qg): the Q term moved into the epsilon target, with no backpropagation
through the reverse chain.

The method in one place (critic, EMA and sampling: diffusion_policy.py, td_critic.py):
  1. The twin-Q critic takes the same TD step as Diffusion-QL's.
  2. A dataset action is noised to step t, the network predicts its noise, and the one-step
     estimate x0_hat = (a_t - sqrt(1 - abar_t) eps_theta) / sqrt(abar_t) is taken from the
     detached prediction. The critic's gradient g = d min(Q1, Q2)(s, x0_hat) / d x0_hat shifts the
     regression target: a smaller epsilon means a larger x0_hat, so
       target = eps - eta * clip(sqrt(1 - abar_t) / sqrt(abar_t) * g, -1, 1)
     moves x0_hat up the critic's gradient by about eta * g per step. Each example is weighted by
     w_i = 1 / clip(|g_i|, 0.8, 5), which keeps a few steep gradients from dominating.
  3. loss = mean_i w_i |eps_theta - target_i|^2: a supervised loss again, one network call.
"""

from __future__ import annotations

import gin
import tensorflow as tf

from cfgrl_tf.agents.diffusion_policy import DiffusionPolicyAgent
from cfgrl_tf.agents.updates import average


@gin.configurable
class QGradAgent(DiffusionPolicyAgent):
    """Epsilon regression onto a target shifted by the critic's gradient at x0_hat.

    Args:
      eta: size of the shift (in units of the noise).
      **kwargs: `DiffusionPolicyAgent`'s arguments.
    """

    name = "qgrad"
    batch_features = ("observations", "actions", "next_observations", "rewards", "masks")
    has_critic = True

    def __init__(self, observation_dim: int, action_dim: int, eta: float = 1.0, **kwargs):
        if eta < 0:
            raise ValueError(f"QGradAgent.eta={eta}: expected a weight >= 0")
        self.eta = float(eta)
        super().__init__(observation_dim, action_dim, **kwargs)

    def actor_loss(self, batch, seed, global_batch_size):
        ddpm = self.generative
        observations, actions = batch["observations"], batch["actions"]
        t, eps = ddpm.draw(actions, seed)
        noisy = ddpm.add_noise(actions, t, eps)
        predicted = ddpm.predict_eps(
            self.policy_net.online, {"observations": observations}, noisy, t
        )
        # 2. The critic's gradient at the one-step estimate from the detached prediction.
        x0_hat = tf.clip_by_value(ddpm.predict_x0(noisy, t, tf.stop_gradient(predicted)), -1, 1)
        with tf.GradientTape() as tape:
            tape.watch(x0_hat)
            q = tf.reduce_sum(self.critic.min_q(observations, x0_hat))
        grad = tf.stop_gradient(tape.gradient(q, x0_hat))  # [B, A]
        alpha_bar = tf.gather(ddpm.alpha_bars, t)[:, None]
        shift = tf.clip_by_value(tf.sqrt((1.0 - alpha_bar) / alpha_bar) * grad, -1.0, 1.0)
        target = eps - self.eta * shift
        weight = 1.0 / tf.clip_by_value(tf.norm(grad, axis=-1), 0.8, 5.0)
        # 3. The weighted regression, and the plain epsilon loss for comparison and selection.
        per_example = weight * tf.reduce_mean(tf.square(predicted - target), axis=-1)
        bc = tf.reduce_mean(tf.square(predicted - eps), axis=-1)
        return average(per_example, global_batch_size), {
            "actor/bc_loss": average(bc, global_batch_size),
            "actor/q_grad_norm": average(tf.norm(grad, axis=-1), global_batch_size),
        }
