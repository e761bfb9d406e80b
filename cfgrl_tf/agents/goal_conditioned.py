"""Goal-conditioned agents: GCBC, GCFBC, CFGRL and their hierarchical forms.

CFGRL's goal-conditioned claim: goal-conditioned BC already is CFGRL at w = 1 (the goal is the
optimality variable "reaches g"), and sampling with w > 1, v = v_null + w (v_goal - v_null),
improves it with no value function at all. The agents differ only in their heads
(`goal_heads.py`):

  agent    flat: pi(a | s, g)                hierarchical: pi_hi(s_sub | s, g), pi_lo(a | s, s_sub)
  GCBC     Gaussian                           HGCBC   Gaussian, Gaussian
  GCFBC    flow, no goal dropout (w = 1)      HGCFBC  flow, flow (no dropout)
  CFGRL    flow, null goal 10%, guided by w   HCFGRL  flow, flow (null goal 10%, both guided)

The subgoal target is the state `GoalSampler.subgoal_steps` ahead, clipped at the goal. Inputs
are normalised with the dataset's statistics (`dataset_info.json`), and subgoals are sampled in
the normalised goal space.
"""

from __future__ import annotations

from collections.abc import Sequence

import gin
import tensorflow as tf

from cfgrl_tf.agents.base import Agent, Sweep, split_seed
from cfgrl_tf.agents.goal_heads import FlowHead, GaussianHead, Normalizer
from cfgrl_tf.errors import DatasetError
from cfgrl_tf.evaluation import DEFAULT_GOAL_GUIDANCE_WEIGHTS


class GoalConditionedAgent(Agent):
    """A flat or hierarchical goal-conditioned policy made of heads.

    Subclasses set `name`, `hierarchical` and `make_head(name, output_dim, goal_dim, clip)`.

    Args:
      observation_dim: size of the observation.
      action_dim: size of the action.
      goal_dim: size of a goal (an observation, or an oracle representation).
      observation_stats: {"mean", "std"} of observations for input normalisation (None: none).
      goal_stats: the same for goals.
      guidance_weights: the default evaluation sweep of w (guided agents only).
    """

    goal_conditioned = True
    hierarchical = False
    guided = False

    def __init__(
        self,
        observation_dim: int,
        action_dim: int,
        goal_dim: int,
        observation_stats: dict | None = None,
        goal_stats: dict | None = None,
        guidance_weights: Sequence[float] = DEFAULT_GOAL_GUIDANCE_WEIGHTS,
    ):
        super().__init__(observation_dim, action_dim)
        self.goal_dim = int(goal_dim)
        self.normalize_observations = Normalizer(
            observation_stats, self.observation_dim, "observation"
        )
        self.normalize_goals = Normalizer(goal_stats, self.goal_dim, "goal")
        self.guidance_weights = tuple(float(w) for w in guidance_weights)
        self.heads = {"actor": self.make_head("actor", action_dim, self.goal_dim, clip=True)}
        if self.hierarchical:
            self.heads["high_actor"] = self.make_head(
                "high_actor", self.goal_dim, self.goal_dim, clip=False
            )

    def make_head(self, name: str, output_dim: int, goal_dim: int, clip: bool):
        raise NotImplementedError

    def build(self) -> None:
        batch = self.dummy_batch()
        observations = self.normalize_observations(batch["observations"])
        goals = self.normalize_goals(batch["goals"])
        for head in self.heads.values():
            head.build(observations, goals)

    def dummy_batch(self, batch_size: int = 2) -> dict[str, tf.Tensor]:
        goals = tf.zeros([batch_size, self.goal_dim])
        return {**super().dummy_batch(batch_size), "goals": goals, "subgoals": goals}

    def check_dataset(self, arrays: dict, path: str) -> None:
        if "trajectory_end" not in arrays:
            raise DatasetError(
                f"agent {self.name!r} is goal-conditioned but {path} has no trajectory features; "
                "convert an OGBench file (pipelines/ogbench/) to train it"
            )

    def train_step(self, batch, seed, global_batch_size):
        observations = self.normalize_observations(batch["observations"])
        goals = self.normalize_goals(batch["goals"])
        actor_seed, high_seed = split_seed(seed, 2)
        if not self.hierarchical:
            return self.heads["actor"].train_step(
                observations, goals, batch["actions"], actor_seed, global_batch_size
            )
        subgoals = self.normalize_goals(batch["subgoals"])
        metrics = self.heads["actor"].train_step(
            observations, subgoals, batch["actions"], actor_seed, global_batch_size
        )
        metrics.update(
            self.heads["high_actor"].train_step(
                observations, goals, subgoals, high_seed, global_batch_size
            )
        )
        return metrics

    def update_targets(self) -> None:
        for head in self.heads.values():
            head.update()

    def sample_actions(self, observations, sweep_values, seed, goals=None):
        """Actions for [B] (observation, goal) pairs; `sweep_values` [B] is each row's w.

        The hierarchical agents first sample a subgoal with the high head (guided by the same
        w), then the action toward it with the low head. Seeds: the high head draws with
        2 * seed, the low head with 2 * seed + 1.
        """
        if goals is None:
            raise ValueError(f"agent {self.name!r} is goal-conditioned: pass `goals`")
        seed = tf.cast(tf.reshape(seed, []), tf.int64)
        observations = self.normalize_observations(observations)
        goals = self.normalize_goals(goals)
        weights = tf.broadcast_to(tf.cast(sweep_values, tf.float32), tf.shape(observations)[:1])
        if self.hierarchical:
            goals = self.heads["high_actor"].sample(observations, goals, weights, 2 * seed)
        return self.heads["actor"].sample(observations, goals, weights, 2 * seed + 1)

    def networks(self) -> dict:
        return {k: v for head in self.heads.values() for k, v in head.networks().items()}

    def optimizers(self) -> dict:
        return {k: v for head in self.heads.values() for k, v in head.optimizers().items()}

    def sampling_networks(self) -> dict:
        return {k: v for head in self.heads.values() for k, v in head.sampling_networks().items()}

    def eval_sweep(self) -> Sweep:
        if self.guided:
            return Sweep("guidance_weight", self.guidance_weights)
        return Sweep("none", (1.0,))


class _FlowAgent(GoalConditionedAgent):
    """Goal-conditioned flow heads; `goal_dropout` > 0 makes them CFGRL (guided)."""

    default_goal_dropout = 0.0

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
        self.goal_dropout = self.default_goal_dropout if goal_dropout is None else goal_dropout
        self.guided = self.goal_dropout > 0
        self._head_args = {
            "hidden_dims": hidden_dims,
            "learning_rate": learning_rate,
            "num_flow_steps": num_flow_steps,
            "goal_dropout": self.goal_dropout,
            "ema_decay": ema_decay,
            "jit_sampler": jit_sampler,
        }
        super().__init__(observation_dim, action_dim, goal_dim, **kwargs)

    def make_head(self, name, output_dim, goal_dim, clip):
        return FlowHead(name, output_dim, goal_dim, clip=clip, **self._head_args)


class _GaussianAgent(GoalConditionedAgent):
    def __init__(
        self,
        observation_dim: int,
        action_dim: int,
        goal_dim: int,
        hidden_dims: Sequence[int] = (512, 512, 512, 512),
        learning_rate: float = 3e-4,
        temperature: float = 0.0,
        **kwargs,
    ):
        self._head_args = {
            "hidden_dims": hidden_dims,
            "learning_rate": learning_rate,
            "temperature": temperature,
        }
        super().__init__(observation_dim, action_dim, goal_dim, **kwargs)

    def make_head(self, name, output_dim, goal_dim, clip):
        return GaussianHead(name, output_dim, goal_dim, clip=clip, **self._head_args)


@gin.configurable
class GCBCAgent(_GaussianAgent):
    """Goal-conditioned BC with a Gaussian policy (tensorflow-probability)."""

    name = "gcbc"


@gin.configurable
class HGCBCAgent(_GaussianAgent):
    """Hierarchical GCBC: Gaussian subgoal policy and Gaussian subgoal-reaching policy."""

    name = "hgcbc"
    hierarchical = True


@gin.configurable
class GCFBCAgent(_FlowAgent):
    """Goal-conditioned flow BC: a goal-conditioned flow, no dropout, no guidance (w = 1)."""

    name = "gcfbc"


@gin.configurable
class HGCFBCAgent(_FlowAgent):
    """Hierarchical goal-conditioned flow BC."""

    name = "hgcfbc"
    hierarchical = True


@gin.configurable
class GCCFGRLAgent(_FlowAgent):
    """Goal-conditioned CFGRL: flow BC whose goal is dropped to a learned null goal with
    probability 0.1, sampled with v = v_null + w (v_goal - v_null)."""

    name = "cfgrl_gc"
    default_goal_dropout = 0.1


@gin.configurable
class HCFGRLAgent(_FlowAgent):
    """Hierarchical CFGRL: a guided subgoal flow and a guided action flow."""

    name = "hcfgrl"
    hierarchical = True
    default_goal_dropout = 0.1
