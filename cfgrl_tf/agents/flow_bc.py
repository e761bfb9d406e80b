"""Flow behaviour cloning: CFGRL's flow network with no condition (so no guidance weight)."""

from __future__ import annotations

from collections.abc import Sequence

import gin
import keras
import tensorflow as tf

from cfgrl_tf.agents.base import Agent
from cfgrl_tf.agents.updates import (
    EMANetwork,
    apply_gradients,
    average,
    example_inputs,
    replica_mean,
)
from cfgrl_tf.generative import FlowMatching
from cfgrl_tf.networks import ConditionalVectorField
from cfgrl_tf.sweep import Sweep


@gin.configurable
class FlowBCAgent(Agent):
    """Unconditional flow matching on the dataset's actions.

    Args:
      observation_dim: size of the observation.
      action_dim: size of the action.
      hidden_dims: MLP widths of the vector field.
      learning_rate: Adam learning rate.
      num_flow_steps: Euler steps when sampling.
      jit_sampler: compile the sampler's flow integration with XLA.
      ema_decay: sampling uses an exponential moving average of the flow weights with this
        decay per step (0: the online weights).
    """

    name = "flow_bc"

    def __init__(
        self,
        observation_dim: int,
        action_dim: int,
        hidden_dims: Sequence[int] = (256, 256, 256),
        learning_rate: float = 3e-4,
        num_flow_steps: int = 16,
        jit_sampler: bool = True,
        ema_decay: float = 0.999,
    ):
        super().__init__(observation_dim, action_dim)
        self.jit_sampler = bool(jit_sampler)
        self.generative = FlowMatching(num_flow_steps)
        self.flow = EMANetwork(
            lambda name: ConditionalVectorField(action_dim, hidden_dims, name=name), ema_decay
        )
        self.vector_field = self.flow.online
        self.num_flow_steps = self.generative.num_steps
        self.actor_optimizer = keras.optimizers.Adam(learning_rate)

    def build(self) -> None:
        context = {"observations": self.dummy_batch()["observations"]}
        self.flow.build(example_inputs(context, self.action_dim))
        self.actor_optimizer.build(self.flow.online.trainable_variables)

    def train_step(self, batch, seed, global_batch_size):
        context = {"observations": batch["observations"]}
        with tf.GradientTape() as tape:
            per_example = self.generative.loss(self.flow.online, context, batch["actions"], seed)
            loss = average(per_example, global_batch_size)
        grad_norm = apply_gradients(
            self.actor_optimizer, tape, loss, self.flow.online.trainable_variables
        )
        return {"actor/flow_loss": loss, "actor/grad_norm": replica_mean(grad_norm)}

    def update_targets(self) -> None:
        self.flow.update()

    def sample_actions(self, inputs, knob_values, seed):
        del knob_values  # An unconditional flow has no knob.
        return self.generative.sample(
            self.flow.sampling,
            {"observations": inputs["observations"]},
            seed=seed,
            jit_compile=self.jit_sampler,
        )

    def networks(self) -> dict:
        return self.flow.networks()

    def optimizers(self) -> dict:
        return {"actor": self.actor_optimizer}

    def sampling_networks(self) -> dict:
        return {"vector_field": self.flow.sampling}

    def eval_sweep(self) -> Sweep:
        return Sweep("none", (0.0,))
