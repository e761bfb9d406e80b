"""Flow behaviour cloning: CFGRL's flow network with no condition (so no guidance weight)."""

from __future__ import annotations

from collections.abc import Sequence

import gin
import keras

from cfgrl_tf import guidance
from cfgrl_tf.agents.base import Agent, Sweep
from cfgrl_tf.agents.flow import EMAFlow, flow_actor_step
from cfgrl_tf.networks import ConditionalVectorField


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
        self.num_flow_steps = int(num_flow_steps)
        self.jit_sampler = bool(jit_sampler)
        self.flow = EMAFlow(
            lambda name: ConditionalVectorField(action_dim, hidden_dims, name=name), ema_decay
        )
        self.vector_field = self.flow.online
        self.actor_optimizer = keras.optimizers.Adam(learning_rate)

    def build(self) -> None:
        batch = self.dummy_batch()
        self.flow.build({"observations": batch["observations"]})
        self.actor_optimizer.build(self.vector_field.trainable_variables)

    def train_step(self, batch, seed, global_batch_size):
        return flow_actor_step(
            self.vector_field,
            self.actor_optimizer,
            {"observations": batch["observations"]},
            batch["actions"],
            seed,
            global_batch_size,
        )

    def sample_actions(self, observations, sweep_values, seed):
        del sweep_values  # An unconditional flow has no knob.
        return guidance.sample_actions(
            self.flow.sampling,
            observations,
            seed=seed,
            num_flow_steps=self.num_flow_steps,
            jit_compile=self.jit_sampler,
        )

    def networks(self) -> dict:
        return self.flow.networks()

    def optimizers(self) -> dict:
        return {"actor": self.actor_optimizer}

    def update_targets(self) -> None:
        self.flow.update()

    def sampling_networks(self) -> dict:
        return {"vector_field": self.flow.sampling}

    def eval_sweep(self) -> Sweep:
        return Sweep("none", (0.0,))
