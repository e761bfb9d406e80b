"""CFGRL (Frans, Park, Abbeel, Levine, 2025) with an IQL critic.

The whole method in one place:
  1. An IQL critic learns V and Q from the data (agents/critic.py).
  2. Each transition gets an optimality label o = 1[A(s, a) >= threshold] from the critic.
  3. A flow policy pi(a | s, o) is trained with plain flow matching, with the label dropped to the
     null label 10% of the time, so the same network also learns the behaviour policy pi(a | s).
  4. Actions are sampled with v = v_null + w * (v_optimal - v_null). w = 0 is the behaviour policy,
     w = 1 conditional BC, and w > 1 samples from pi(a | s) p(o | s, a)^w: a policy improvement
     whose size is chosen at test time, with no retraining.

Step 3 has two forms (`objective`):
  "label_dropout"  the paper's OGBench agent: the label o (1[A >= threshold]) conditions the flow,
                   replaced by the null label with probability `label_dropout`.
  "paired"         the paper's ExORL agent: no dropout; every sample trains the optimal-conditioned
                   flow with weight 1[A > threshold] and the null flow with weight
                   `null_loss_weight` (0.1), on the same noisy point:
                   1[A > 0] |v - v(s, optimal)|^2 + 0.1 |v - v(s, null)|^2.
                   The not-optimal label is never trained; only v(s, optimal) and v(s, null) are
                   sampled, so guidance is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import gin
import keras
import numpy as np
import tensorflow as tf

from cfgrl_tf.agents.base import Agent
from cfgrl_tf.agents.critic import IQLCritic
from cfgrl_tf.agents.updates import (
    EMANetwork,
    apply_gradients,
    average,
    example_inputs,
    replica_mean,
)
from cfgrl_tf.data.spec import NO_LABEL
from cfgrl_tf.errors import DatasetError
from cfgrl_tf.generative import ClassifierFreeGuidance, FlowMatching
from cfgrl_tf.networks import ConditionalVectorField
from cfgrl_tf.rng import split_seed
from cfgrl_tf.sweep import DEFAULT_GUIDANCE_WEIGHTS, Sweep

# Label values of the flow's condition (a condition_mask of 0 is the dropped, null label).
NOT_OPTIMAL_LABEL = 1
OPTIMAL_LABEL = 2

LABEL_SOURCES = ("critic", "dataset")
OBJECTIVES = ("label_dropout", "paired")


@gin.configurable
class CFGRLAgent(Agent):
    """Classifier-free-guided flow policy over an optimality label.

    Args:
      observation_dim: size of the observation.
      action_dim: size of the action.
      critic: the IQL critic (a fresh `IQLCritic()` with its gin bindings if None).
      hidden_dims: MLP widths of the vector field.
      activation: hidden activation of the vector field (gelu; the ExORL agent's: mish).
      layer_norm: LayerNorm in the vector field (the ExORL agent's; the OGBench agent has none).
      learning_rate: Adam learning rate of the flow.
      num_flow_steps: Euler steps when sampling.
      discrete_times: train the flow at t on the Euler grid k / num_flow_steps (the ExORL agent).
      jit_sampler: compile the sampler's flow integration with XLA.
      ema_decay: sampling uses an exponential moving average of the flow weights with this
        decay per step (0: the online weights).
      label_dropout: probability of replacing the label with the null label (the paper's 0.1).
      optimality_threshold: a transition is optimal when A(s, a) >= this.
      label_source: "critic" (labels from the critic at every step) or "dataset" (the dataset's
        precomputed `optimal` feature, e.g. from `build_dataset.label_rule`; the critic is then
        still trained, for its metrics, but does not label).
      guidance_weights: the default evaluation sweep of w.
      objective: "label_dropout" or "paired" (see the module docstring).
      null_loss_weight: the weight of the null-label loss under the "paired" objective.
      sampling_noise_scale: actions are integrated from this times N(0, I) noise (1: samples of
        the guided policy; 0: its deterministic action from the origin, an evaluation-time
        choice like AWR's acting at the mean).
    """

    name = "cfgrl"
    batch_features = ("observations", "actions", "next_observations", "rewards", "masks")

    def __init__(
        self,
        observation_dim: int,
        action_dim: int,
        critic: IQLCritic | None = None,
        hidden_dims: Sequence[int] = (256, 256, 256),
        activation: str = "gelu",
        layer_norm: bool = False,
        learning_rate: float = 3e-4,
        num_flow_steps: int = 16,
        discrete_times: bool = False,
        jit_sampler: bool = True,
        ema_decay: float = 0.999,
        label_dropout: float = 0.1,
        optimality_threshold: float = 0.0,
        label_source: str = "critic",
        guidance_weights: Sequence[float] = DEFAULT_GUIDANCE_WEIGHTS,
        objective: str = "label_dropout",
        null_loss_weight: float = 0.1,
        sampling_noise_scale: float = 1.0,
    ):
        super().__init__(observation_dim, action_dim)
        if label_source not in LABEL_SOURCES:
            raise ValueError(f"label_source={label_source!r}: expected one of {LABEL_SOURCES}")
        if objective not in OBJECTIVES:
            raise ValueError(f"objective={objective!r}: expected one of {OBJECTIVES}")
        if not 0.0 <= label_dropout < 1.0:
            raise ValueError(f"label_dropout={label_dropout}: expected a probability in [0, 1)")
        if not null_loss_weight > 0.0:
            raise ValueError(
                f"null_loss_weight={null_loss_weight}: expected a positive weight (without the "
                "null loss there is no unconditional flow to guide from)"
            )
        self.objective = objective
        self.null_loss_weight = float(null_loss_weight)
        self.critic = critic if critic is not None else IQLCritic()
        self.jit_sampler = bool(jit_sampler)
        self.label_dropout = float(label_dropout)
        self.optimality_threshold = float(optimality_threshold)
        self.label_source = label_source
        self.guidance_weights = tuple(float(w) for w in guidance_weights)
        self.generative = FlowMatching(
            num_flow_steps, discrete_times=discrete_times, noise_scale=sampling_noise_scale
        )
        self.flow = EMANetwork(
            lambda name: ConditionalVectorField(
                action_dim,
                hidden_dims,
                num_labels=2,
                activation=activation,
                layer_norm=layer_norm,
                name=name,
            ),
            ema_decay,
        )
        self.vector_field = self.flow.online
        self.num_flow_steps = self.generative.num_steps
        self.actor_optimizer = keras.optimizers.Adam(learning_rate)

    def build(self) -> None:
        batch = self.dummy_batch()
        self.critic.build(batch)
        ones = tf.ones(tf.shape(batch["rewards"]))
        context = {"observations": batch["observations"], "labels": tf.cast(ones, tf.int32)}
        self.flow.build(example_inputs({**context, "condition_mask": ones}, self.action_dim))
        self.actor_optimizer.build(self.flow.online.trainable_variables)

    def check_dataset(self, arrays: dict, path: str) -> None:
        if self.label_source != "dataset":
            return
        unlabeled = int(np.sum(arrays["optimal"] == NO_LABEL))
        if unlabeled:
            raise DatasetError(
                f"CFGRLAgent.label_source='dataset' but {unlabeled} of {len(arrays['optimal'])} "
                f"records in {path} have no `optimal` label ({NO_LABEL}); build the dataset with "
                "build_dataset.label_rule='reward_quantile' or use label_source='critic'"
            )

    # 1-2. The critic, and the optimality variable o of each transition.
    def optimality(
        self, batch: dict[str, tf.Tensor], advantages: tf.Tensor | None = None
    ) -> tf.Tensor:
        """The boolean optimality variable o of each transition: [B]. From the critic it is
        1[A >= threshold] ("label_dropout") or 1[A > threshold] ("paired"), as the reference
        agents have it, with A = `advantages` (default: the critic's advantages now)."""
        if self.label_source == "dataset":
            return tf.equal(batch["optimal"], 1)
        if advantages is None:
            advantages = self.critic.advantages(batch)
        if self.objective == "paired":
            return advantages > self.optimality_threshold
        return advantages >= self.optimality_threshold

    # 3. Flow matching on pi(a | s, o), o dropped to the null label 10% of the time (or, "paired",
    # the optimal and the null flow trained on every sample).
    # The labels come from the critic as it was before its step in this train step, as in the
    # reference agents (every loss from the same parameters).
    def train_step(self, batch, seed, global_batch_size):
        metrics, advantages = self.critic.train_step(batch, global_batch_size)
        optimal = self.optimality(batch, advantages)
        drop_seed, flow_seed = split_seed(seed, 2)
        with tf.GradientTape() as tape:
            if self.objective == "paired":
                per_example = self._paired_loss(batch, optimal, flow_seed)
            else:
                per_example = self._label_dropout_loss(batch, optimal, drop_seed, flow_seed)
            loss = average(per_example, global_batch_size)
        grad_norm = apply_gradients(
            self.actor_optimizer, tape, loss, self.flow.online.trainable_variables
        )
        metrics["actor/flow_loss"] = loss
        metrics["actor/grad_norm"] = replica_mean(grad_norm)
        metrics["actor/optimal_fraction"] = average(tf.cast(optimal, tf.float32), global_batch_size)
        return metrics

    def _label_dropout_loss(self, batch, optimal, drop_seed, flow_seed) -> tf.Tensor:
        keep = tf.random.stateless_uniform(tf.shape(optimal), seed=drop_seed) >= self.label_dropout
        context = {
            "observations": batch["observations"],
            "labels": tf.where(optimal, OPTIMAL_LABEL, NOT_OPTIMAL_LABEL),
            "condition_mask": tf.cast(keep, tf.float32),
        }
        return self.generative.loss(self.flow.online, context, batch["actions"], flow_seed)

    def _paired_loss(self, batch, optimal, flow_seed) -> tf.Tensor:
        ones = tf.ones(tf.shape(optimal))
        labels = tf.fill(tf.shape(optimal), OPTIMAL_LABEL)
        observations = batch["observations"]
        conditioned, null = tf.unstack(
            self.generative.losses(
                self.flow.online,
                [
                    {"observations": observations, "labels": labels, "condition_mask": ones},
                    {"observations": observations, "labels": labels, "condition_mask": 0 * ones},
                ],
                batch["actions"],
                flow_seed,
            )
        )
        return tf.cast(optimal, tf.float32) * conditioned + self.null_loss_weight * null

    def update_targets(self) -> None:
        self.critic.update_targets()
        self.flow.update()

    # 4. Sampling with v = v_null + w * (v_optimal - v_null), w the knob of each row.
    def sample_actions(self, inputs, knob_values, seed):
        observations = inputs["observations"]
        batch_size = tf.shape(observations)[0]
        context = {
            "observations": observations,
            "labels": tf.fill([batch_size], OPTIMAL_LABEL),
            "condition_mask": tf.ones([batch_size]),
        }
        return self.generative.sample(
            self.flow.sampling,
            context,
            seed=seed,
            guidance=ClassifierFreeGuidance(),
            knob=knob_values,
            jit_compile=self.jit_sampler,
        )

    def networks(self) -> dict:
        return {**self.flow.networks(), **self.critic.networks()}

    def optimizers(self) -> dict:
        return {"actor": self.actor_optimizer, **self.critic.optimizers()}

    def sampling_networks(self) -> dict:
        return {"vector_field": self.flow.sampling}

    def eval_sweep(self) -> Sweep:
        return Sweep("guidance_weight", self.guidance_weights)
