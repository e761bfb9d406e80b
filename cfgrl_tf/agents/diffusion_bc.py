"""Diffusion-BC: a DDPM policy trained with the epsilon loss alone (Diffusion-QL with eta = 0).

The behaviour-cloning baseline of the Diffusion-QL family: pi(a | s) models the data's actions,
all of their modes, with no critic. See diffusion_policy.py for the DDPM, the EMA and sampling.
"""

from __future__ import annotations

import gin

from cfgrl_tf.agents.diffusion_policy import DiffusionPolicyAgent
from cfgrl_tf.agents.updates import average


@gin.configurable
class DiffusionBCAgent(DiffusionPolicyAgent):
    """loss = E_{t, eps} |eps - eps_theta(sqrt(abar_t) a + sqrt(1 - abar_t) eps, t, s)|^2."""

    name = "diffusion_bc"

    def actor_loss(self, batch, seed, global_batch_size):
        context = {"observations": batch["observations"]}
        per_example = self.generative.loss(self.policy_net.online, context, batch["actions"], seed)
        loss = average(per_example, global_batch_size)
        return loss, {"actor/bc_loss": loss}
