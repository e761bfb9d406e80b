"""Fresh goal draws for every training batch of a goal-conditioned dataset.

For a transition at record i of a trajectory whose last transition is record e, a goal is the
goal representation of a record g drawn as in OGBench's reference goal-conditioned datasets:

  with probability p_current     g = i                      (the current state)
  with probability p_trajectory  g in (i, e]                (a future state of the same
                                                             trajectory: uniform, or geometric
                                                             with the given discount)
  with probability p_random      g uniform over the dataset (any state)

and the hierarchical agents' subgoal target is the state `subgoal_steps` ahead, clipped at the
goal: record min(i + subgoal_steps, g) (g < i only for random goals, which clip at the
trajectory's end instead). The draw is a pure function of (seed, batch, row), so every pass over
the data sees new goals while a resumed run sees exactly the goals it would have seen.
"""

from __future__ import annotations

import gin
import tensorflow as tf

from cfgrl_tf import errors

_RNG_ALG = "philox"


@gin.configurable
class GoalSampler:
    """Draws goals (and subgoal targets) for batches of record indices.

    Args:
      p_current: probability of the current state as the goal.
      p_trajectory: probability of a future state of the same trajectory.
      p_random: probability of a random state of the dataset.
      geometric: draw future states geometrically (with `discount`) instead of uniformly.
      discount: the geometric draw's discount: the offset k >= 1 has probability
        (1 - discount) * discount^(k - 1).
      subgoal_steps: how far ahead the subgoal target lies.
    """

    def __init__(
        self,
        p_current: float = 0.0,
        p_trajectory: float = 1.0,
        p_random: float = 0.0,
        geometric: bool = False,
        discount: float = 0.99,
        subgoal_steps: int = 25,
    ):
        probabilities = (p_current, p_trajectory, p_random)
        if min(probabilities) < 0 or abs(sum(probabilities) - 1.0) > 1e-6:
            raise errors.ConfigError(
                f"GoalSampler probabilities p_current={p_current}, p_trajectory={p_trajectory}, "
                f"p_random={p_random} must be non-negative and sum to 1"
            )
        if not 0.0 < discount < 1.0:
            raise errors.ConfigError(f"GoalSampler.discount={discount}: expected (0, 1)")
        if subgoal_steps < 1:
            raise errors.ConfigError(f"GoalSampler.subgoal_steps={subgoal_steps}: expected >= 1")
        self.p_current = float(p_current)
        self.p_trajectory = float(p_trajectory)
        self.p_random = float(p_random)
        self.geometric = bool(geometric)
        self.discount = float(discount)
        self.subgoal_steps = int(subgoal_steps)

    def goal_indices(
        self, indices: tf.Tensor, trajectory_end: tf.Tensor, num_records: int, seed: tf.Tensor
    ) -> tf.Tensor:
        """The record index of each row's goal: [B] int64."""
        indices = tf.cast(indices, tf.int64)
        trajectory_end = tf.cast(trajectory_end, tf.int64)
        shape = tf.shape(indices)
        kind_seed, offset_seed, random_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 3, alg=_RNG_ALG)
        )
        kind = tf.random.stateless_uniform(shape, seed=kind_seed, alg=_RNG_ALG)
        u = tf.random.stateless_uniform(shape, seed=offset_seed, alg=_RNG_ALG)
        remaining = tf.cast(trajectory_end - indices, tf.float32)  # >= 0
        if self.geometric:
            # Inverse CDF of a geometric variable on {1, 2, ...}.
            offset = tf.math.floor(tf.math.log1p(-u) / tf.math.log(self.discount)) + 1.0
            offset = tf.minimum(offset, remaining)
        else:
            # Uniform over (i, e]; the last transition (remaining 0) can only reach itself.
            offset = tf.minimum(tf.math.floor(u * remaining) + 1.0, remaining)
        future = indices + tf.cast(offset, tf.int64)
        random = tf.random.stateless_uniform(
            shape, seed=random_seed, minval=0, maxval=num_records, dtype=tf.int64, alg=_RNG_ALG
        )
        return tf.where(
            kind < self.p_current,
            indices,
            tf.where(kind < self.p_current + self.p_trajectory, future, random),
        )

    def subgoal_indices(
        self, indices: tf.Tensor, goal_indices: tf.Tensor, trajectory_end: tf.Tensor
    ) -> tf.Tensor:
        """min(i + subgoal_steps, goal), or the trajectory's end for a goal outside it: [B]."""
        indices = tf.cast(indices, tf.int64)
        goal_indices = tf.cast(goal_indices, tf.int64)
        trajectory_end = tf.cast(trajectory_end, tf.int64)
        in_trajectory = (goal_indices >= indices) & (goal_indices <= trajectory_end)
        limit = tf.where(in_trajectory, goal_indices, trajectory_end)
        return tf.minimum(indices + self.subgoal_steps, limit)

    def sample(
        self, tensors: dict[str, tf.Tensor], indices: tf.Tensor, goal_table: tf.Tensor, seed
    ) -> dict[str, tf.Tensor]:
        """The goal features of the rows at `indices`.

        Args:
          tensors: the whole dataset (with `trajectory_end`).
          indices: [B] record indices of the batch.
          goal_table: [N, goal_dim] the goal representation of every record.
          seed: [2] stateless seed of this batch.

        Returns:
          goals [B, goal_dim], subgoals [B, goal_dim] (the target `subgoal_steps` ahead),
          goal_reached [B] (1.0 where the goal is the current state: OGBench's sparse reward)
          and goal_distance [B] (records from i to its goal; -1 for a goal in another trajectory).
        """
        trajectory_end = tf.gather(tensors["trajectory_end"], indices)
        num_records = tf.shape(goal_table, out_type=tf.int64)[0]
        goal_idx = self.goal_indices(indices, trajectory_end, num_records, seed)
        subgoal_idx = self.subgoal_indices(indices, goal_idx, trajectory_end)
        same_trajectory = (goal_idx >= indices) & (goal_idx <= trajectory_end)
        return {
            "goals": tf.gather(goal_table, goal_idx),
            "subgoals": tf.gather(goal_table, subgoal_idx),
            "goal_reached": tf.cast(tf.equal(goal_idx, indices), tf.float32),
            "goal_distance": tf.where(same_trajectory, goal_idx - indices, -1),
        }
