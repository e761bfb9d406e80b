"""What every goal-conditioned agent shares: goal inputs, normalisation, and its levels.

CFGRL's goal-conditioned claim: goal-conditioned BC already is CFGRL at w = 1 (the goal is the
optimality variable "reaches g"), and sampling with w > 1, v = v_null + w (v_goal - v_null),
improves it with no value function at all. The agents, one file per method:

  agent    flat: pi(a | s, g)                hierarchical: pi_hi(s_sub | s, g), pi_lo(a | s, s_sub)
  GCBC     Gaussian               (gcbc.py)   HGCBC   Gaussian, Gaussian
  GCFBC    flow, no goal dropout  (gcfbc.py)  HGCFBC  flow, flow (no dropout)
  CFGRL    flow, null goal 10%    (gc_cfgrl.py) HCFGRL flow, flow (null goal 10%, both guided)

An agent is made of levels: `actor` (the action given the goal, or given the subgoal in a
hierarchy) and, for the hierarchical ones, `high_actor` (the subgoal given the goal). Inputs are
normalised with the dataset's statistics (`dataset_info.json`), and subgoals live in the
normalised goal space.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from cfgrl_tf.agents.base import Agent
from cfgrl_tf.data import ogbench_npz
from cfgrl_tf.sweep import DEFAULT_GOAL_GUIDANCE_WEIGHTS, Sweep

FLAT_FEATURES = ("observations", "actions", "goals")
HIERARCHICAL_FEATURES = (*FLAT_FEATURES, "subgoals")


class Normalizer:
    """(x - mean) / std with the dataset's statistics, baked into traced functions as constants.

    Args:
      stats: {"mean": [...], "std": [...]} (from `dataset_info.json`), or None for identity.
      dim: the expected size (checked).
      name: what is normalised, for the error message.
    """

    def __init__(self, stats: dict | None, dim: int, name: str):
        if stats is None:
            self.mean = np.zeros(dim, np.float32)
            self.std = np.ones(dim, np.float32)
        else:
            self.mean = np.asarray(stats["mean"], np.float32)
            self.std = np.asarray(stats["std"], np.float32)
        if self.mean.shape != (dim,) or self.std.shape != (dim,):
            raise ValueError(
                f"{name} statistics have sizes {self.mean.shape}/{self.std.shape}, expected {dim}"
            )

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return (tf.cast(x, tf.float32) - self.mean) / self.std

    def invert(self, x: tf.Tensor) -> tf.Tensor:
        return x * self.std + self.mean


class GoalConditionedAgent(Agent):
    """A flat or hierarchical goal-conditioned policy; subclasses fill `self.levels`.

    Each level has `networks()`, `optimizer` and `sampling_networks()`.

    Args:
      observation_dim: size of the observation.
      action_dim: size of the action.
      goal_dim: size of a goal (an observation, or an oracle representation).
      observation_stats: {"mean", "std"} of observations for input normalisation (None: none).
      goal_stats: the same for goals.
      guidance_weights: the default evaluation sweep of w (guided agents only).
    """

    batch_features = FLAT_FEATURES
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
        self.levels: dict = {}

    def add_levels(self, make_level) -> None:
        """`self.levels`: the actor, and for a hierarchy the high actor, each made by
        `make_level(name, output_dim, clip)` (actions are clipped, subgoals are not)."""
        self.levels = {"actor": make_level("actor", self.action_dim, True)}
        if self.hierarchical:
            self.levels["high_actor"] = make_level("high_actor", self.goal_dim, False)

    @classmethod
    def dataset_arguments(cls, info) -> dict:
        stats = info.source.get("statistics", {})
        return {
            **super().dataset_arguments(info),
            "goal_dim": ogbench_npz.goal_dim(info),
            "observation_stats": stats.get("observations"),
            "goal_stats": stats.get("goals"),
        }

    def policy_inputs(self) -> dict[str, int]:
        return {"observations": self.observation_dim, "goals": self.goal_dim}

    def dummy_batch(self, batch_size: int = 2) -> dict[str, tf.Tensor]:
        goals = tf.zeros([batch_size, self.goal_dim])
        return {**super().dummy_batch(batch_size), "goals": goals, "subgoals": goals}

    def eval_sweep(self) -> Sweep:
        if self.guided:
            return Sweep("guidance_weight", self.guidance_weights)
        return Sweep("none", (1.0,))

    def networks(self) -> dict:
        return {k: v for level in self.levels.values() for k, v in level.networks().items()}

    def optimizers(self) -> dict:
        return {name: level.optimizer for name, level in self.levels.items()}

    def sampling_networks(self) -> dict:
        return {
            k: v for level in self.levels.values() for k, v in level.sampling_networks().items()
        }
