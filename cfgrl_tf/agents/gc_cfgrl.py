"""Goal-conditioned CFGRL and its hierarchical form HCFGRL (Frans, Park, Abbeel, Levine, 2025).

The whole method in one place:
  1. Goals. Every batch draws a goal g for each transition from the future of its own trajectory
     (`GoalSampler`, data/goals.py); the hierarchical agent also gets the subgoal target, the
     state `subgoal_steps` ahead (clipped at g).
  2. Goal dropout. With probability 0.1 the goal is replaced by the learned null goal (a
     `condition_mask` of 0), so one network learns both pi(a | s, g) and pi(a | s).
  3. Flow matching. The network's velocity at x_t = (1 - t) noise + t a is regressed onto
     a - noise: plain supervised learning, no value function.
  4. Guided sampling. 16 Euler steps of v = v_null + w (v_goal - v_null): w = 1 is
     goal-conditioned BC, w > 1 improves on it, chosen at test time.
  5. The hierarchy (HCFGRL). A guided flow pi_hi(s_sub | s, g) over subgoals (in the normalised
     goal space, unclipped) and a guided flow pi_lo(a | s, s_sub) toward that subgoal; the
     low level trains on the subgoal target, the high level on the goal, both with dropout, and
     sampling runs the high level first, both at the same w.

GCFBC (gcfbc.py) is this agent with no goal dropout and so no guidance.
"""

from __future__ import annotations

from collections.abc import Sequence

import gin
import keras
import tensorflow as tf

from cfgrl_tf.agents import updates
from cfgrl_tf.agents.goal_conditioned import HIERARCHICAL_FEATURES, GoalConditionedAgent
from cfgrl_tf.agents.updates import EMANetwork, average
from cfgrl_tf.generative import ClassifierFreeGuidance, FlowMatching, NoGuidance
from cfgrl_tf.networks import GoalVectorField
from cfgrl_tf.rng import split_seed


class GoalFlow:
    """One level: a goal-conditioned flow (with its EMA) and its optimizer.

    Args:
      name: "actor" or "high_actor" (network names and metric prefix).
      output_dim: size of what it samples (an action, or a subgoal).
      goal_dim: size of its condition.
      hidden_dims, learning_rate, num_flow_steps, ema_decay: see `GCCFGRLAgent`.
      clip: clip samples into [-1, 1] (actions, not subgoals).
    """

    def __init__(self, name, output_dim, goal_dim, *, hidden_dims, learning_rate, num_flow_steps,
                 ema_decay, clip):  # fmt: skip
        self.name = name
        self.flow = EMANetwork(
            lambda net: GoalVectorField(output_dim, goal_dim, hidden_dims, name=f"{name}_{net}"),
            ema_decay,
        )
        self.optimizer = keras.optimizers.Adam(learning_rate)
        self.generative = FlowMatching(num_flow_steps, clip=clip)

    def networks(self) -> dict:
        return {f"{self.name}_{k}": v for k, v in self.flow.networks().items()}

    def sampling_networks(self) -> dict:
        return {f"{self.name}_vector_field": self.flow.sampling}


def goal_context(observations, goals, mask) -> dict:
    """The flow's inputs besides x_t and t; `mask` is 1 (goal), 0 (null goal), or [B]."""
    mask = tf.broadcast_to(tf.cast(mask, tf.float32), tf.shape(observations)[:1])
    return {"observations": observations, "goals": goals, "condition_mask": mask}


@gin.configurable
class GCCFGRLAgent(GoalConditionedAgent):
    """Goal-conditioned CFGRL: flow BC whose goal is dropped to a learned null goal with
    probability 0.1, sampled with v = v_null + w (v_goal - v_null).

    Args:
      observation_dim, action_dim, goal_dim: sizes (from the dataset).
      hidden_dims: MLP widths of each flow.
      learning_rate: Adam learning rate.
      num_flow_steps: Euler steps when sampling.
      goal_dropout: probability of training on the null goal (None: the agent's default, 0.1
        for CFGRL, 0 for GCFBC); with 0 nothing is guided.
      ema_decay: sampling uses an EMA of the weights with this decay (0: online weights).
      jit_sampler: compile the flow integration with XLA.
      **kwargs: `GoalConditionedAgent`'s (statistics, guidance_weights).
    """

    name = "cfgrl_gc"
    default_goal_dropout = 0.1

    def __init__(
        self,
        observation_dim: int,
        action_dim: int,
        goal_dim: int,
        hidden_dims: Sequence[int] = (512, 512, 512, 512),
        learning_rate: float = 3e-4,
        num_flow_steps: int = 16,
        goal_dropout: float | None = None,
        ema_decay: float = 0.999,
        jit_sampler: bool = True,
        **kwargs,
    ):
        super().__init__(observation_dim, action_dim, goal_dim, **kwargs)
        self.goal_dropout = float(
            self.default_goal_dropout if goal_dropout is None else goal_dropout
        )
        if not 0.0 <= self.goal_dropout < 1.0:
            raise ValueError(f"goal_dropout={self.goal_dropout}: expected a probability in [0, 1)")
        self.guided = self.goal_dropout > 0
        self.jit_sampler = bool(jit_sampler)
        sizes = {"hidden_dims": hidden_dims, "learning_rate": learning_rate,
                 "num_flow_steps": num_flow_steps, "ema_decay": ema_decay}  # fmt: skip
        self.add_levels(
            lambda name, output_dim, clip: GoalFlow(
                name, output_dim, self.goal_dim, clip=clip, **sizes
            )
        )

    def build(self) -> None:
        batch = self.dummy_batch()
        observations = self.normalize_observations(batch["observations"])
        goals = self.normalize_goals(batch["goals"])
        for level in self.levels.values():
            context = goal_context(observations, goals, 1.0)
            level.flow.build(updates.example_inputs(context, level.flow.online.action_dim))
            level.optimizer.build(level.flow.online.trainable_variables)

    # 2-3. Goal dropout to the null goal, then the flow-matching loss.
    def flow_step(self, level, observations, goals, targets, seed, global_batch_size) -> dict:
        drop_seed, flow_seed = split_seed(seed, 2)
        batch_size = tf.shape(observations)[0]
        keep = tf.random.stateless_uniform([batch_size], seed=drop_seed) >= self.goal_dropout
        context = goal_context(observations, goals, keep)
        with tf.GradientTape() as tape:
            per_example = level.generative.loss(level.flow.online, context, targets, flow_seed)
            loss = average(per_example, global_batch_size)
        variables = level.flow.online.trainable_variables
        grad_norm = updates.apply_gradients(level.optimizer, tape, loss, variables)
        return {
            f"{level.name}/flow_loss": loss,
            f"{level.name}/grad_norm": updates.replica_mean(grad_norm),
        }

    # 5. Flat: the actor on the goal. Hierarchical: the actor on the subgoal target, the high
    # actor on the goal with the subgoal as its target.
    def train_step(self, batch, seed, global_batch_size):
        observations = self.normalize_observations(batch["observations"])
        goals = self.normalize_goals(batch["goals"])
        actor_seed, high_seed = split_seed(seed, 2)
        actor = self.levels["actor"]
        if not self.hierarchical:
            return self.flow_step(
                actor, observations, goals, batch["actions"], actor_seed, global_batch_size
            )
        subgoals = self.normalize_goals(batch["subgoals"])
        metrics = self.flow_step(
            actor, observations, subgoals, batch["actions"], actor_seed, global_batch_size
        )
        high = self.levels["high_actor"]
        metrics.update(
            self.flow_step(high, observations, goals, subgoals, high_seed, global_batch_size)
        )
        return metrics

    def update_targets(self) -> None:
        for level in self.levels.values():
            level.flow.update()

    # 4. Guided sampling, one network call per Euler step for both halves.
    def sample_level(self, level, observations, goals, weights, seed) -> tf.Tensor:
        return level.generative.sample(
            level.flow.sampling,
            goal_context(observations, goals, 1.0),
            seed=seed,
            guidance=ClassifierFreeGuidance() if self.guided else NoGuidance(),
            knob=weights if self.guided else None,
            jit_compile=self.jit_sampler,
        )

    def sample_actions(self, inputs, knob_values, seed):
        """Actions for [B] (observation, goal) pairs; `knob_values` [B] is each row's w.

        The hierarchical agents first sample a subgoal with the high level (guided by the same
        w), then the action toward it with the low level. Seeds: the high level draws with
        2 * seed, the low level with 2 * seed + 1.
        """
        seed = tf.cast(tf.reshape(seed, []), tf.int64)
        observations = self.normalize_observations(inputs["observations"])
        goals = self.normalize_goals(inputs["goals"])
        weights = tf.broadcast_to(tf.cast(knob_values, tf.float32), tf.shape(observations)[:1])
        if self.hierarchical:
            goals = self.sample_level(
                self.levels["high_actor"], observations, goals, weights, 2 * seed
            )
        return self.sample_level(self.levels["actor"], observations, goals, weights, 2 * seed + 1)


@gin.configurable
class HCFGRLAgent(GCCFGRLAgent):
    """Hierarchical CFGRL: a guided subgoal flow and a guided action flow."""

    name = "hcfgrl"
    hierarchical = True
    batch_features = HIERARCHICAL_FEATURES
