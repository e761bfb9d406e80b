"""What the learner, evaluator and exporter need from an agent."""

from __future__ import annotations

import abc

import keras
import tensorflow as tf

# The sampling-time knob an agent is evaluated over ("guidance_weight", "temperature", "none").
from cfgrl_tf.evaluation import Sweep


def split_seed(seed: tf.Tensor, num: int) -> list[tf.Tensor]:
    """Splits a stateless seed ([2] int) into `num` independent seeds."""
    return list(tf.unstack(tf.random.experimental.stateless_split(seed, num=num)))


def apply_gradients(
    optimizer: keras.optimizers.Optimizer, tape: tf.GradientTape, loss: tf.Tensor, variables: list
) -> tf.Tensor:
    """One optimizer update; returns the global gradient norm (a cheap health metric).

    Under a tf.distribute strategy the Keras optimizer all-reduces (sums) the gradients across
    replicas, which is why every loss is divided by the GLOBAL batch size.
    """
    grads = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(grads, variables, strict=True))
    return tf.linalg.global_norm(grads)


def polyak_update(target: keras.Model, source: keras.Model, rate: float) -> None:
    """target <- rate * source + (1 - rate) * target, weight by weight (cross-replica context)."""
    for t, s in zip(target.weights, source.weights, strict=True):
        t.assign(rate * s + (1.0 - rate) * t)


def copy_weights(target: keras.Model, source: keras.Model) -> None:
    """target <- source, weight by weight."""
    polyak_update(target, source, 1.0)


def average(per_example: tf.Tensor, global_batch_size: int) -> tf.Tensor:
    """The replica's share of the global-batch mean."""
    return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)


def agent_arguments(agent_fn, info) -> dict:
    """The constructor arguments the dataset fixes: sizes, and for goal-conditioned agents the
    goal size and the normalisation statistics.

    Args:
      agent_fn: the agent class (gin-configured), or a `functools.partial` of one.
      info: the training dataset's `DatasetInfo`.

    Raises:
      DatasetError: a goal-conditioned agent on a dataset without goals, or the reverse.
    """
    from cfgrl_tf.data import ogbench_npz  # noqa: PLC0415 - keeps the agents import-light.
    from cfgrl_tf.errors import DatasetError  # noqa: PLC0415

    arguments = {"observation_dim": info.obs_dim, "action_dim": info.action_dim}
    agent_class = getattr(agent_fn, "func", agent_fn)  # functools.partial(Class, ...) too
    wants_goals = getattr(agent_class, "goal_conditioned", False)
    has_goals = ogbench_npz.is_goal_conditioned(info)
    source = info.source.get("name", "?")
    if wants_goals and not has_goals:
        raise DatasetError(
            f"agent {agent_class.__name__} is goal-conditioned but the dataset ({source}) has no "
            "trajectories to draw goals from; convert an OGBench file (pipelines/ogbench/)"
        )
    if has_goals and not wants_goals:
        raise DatasetError(
            f"the dataset ({source}) is goal-conditioned but agent {agent_class.__name__} is not; "
            "use one of GCBCAgent, GCFBCAgent, GCCFGRLAgent, HGCBCAgent, HGCFBCAgent, HCFGRLAgent"
        )
    if has_goals:
        stats = info.source.get("statistics", {})
        arguments.update(
            goal_dim=ogbench_npz.goal_dim(info),
            observation_stats=stats.get("observations"),
            goal_stats=stats.get("goals"),
        )
    return arguments


class Agent(tf.Module, abc.ABC):
    """An offline RL agent: networks, optimizers, one train step and a sampler.

    Lifecycle (the learner's): construct inside `strategy.scope()` with the dataset's sizes, call
    `build()` there too (Keras 3 needs variables and optimizer slots made under the scope before
    the first step), then call `train_step` inside `strategy.run` and `update_targets` in
    cross-replica context after it.
    """

    name: str = "agent"
    # Goal-conditioned agents sample with `sample_actions(..., goals=...)` and train on datasets
    # with trajectory features (their batches carry `goals` and `subgoals`).
    goal_conditioned: bool = False

    def __init__(self, observation_dim: int, action_dim: int):
        super().__init__(name=self.name)
        self.observation_dim = int(observation_dim)
        self.action_dim = int(action_dim)

    @abc.abstractmethod
    def build(self) -> None:
        """Creates every variable, optimizer slots included."""

    @abc.abstractmethod
    def train_step(
        self, batch: dict[str, tf.Tensor], seed: tf.Tensor, global_batch_size: int
    ) -> dict[str, tf.Tensor]:
        """One gradient step on this replica's batch; returns its share of each metric.

        Args:
          batch: per-replica batch with the dataset's features.
          seed: [2] int64 stateless seed, unique to (run seed, step, replica).
          global_batch_size: the batch size summed over replicas.

        Returns:
          Slash-namespaced metrics (`actor/flow_loss`, `critic/q_mean`), each already divided so
          that summing over replicas gives the global mean.
        """

    def check_dataset(self, arrays: dict, path: str) -> None:  # noqa: B027 - optional hook.
        """Raises `DatasetError` if the dataset lacks something this agent needs."""

    def update_targets(self) -> None:  # noqa: B027 - optional hook, most agents have no targets.
        """Moves target networks toward the online ones (cross-replica context)."""

    @abc.abstractmethod
    def sample_actions(
        self, observations: tf.Tensor, sweep_values: tf.Tensor, seed: tf.Tensor
    ) -> tf.Tensor:
        """Samples [B, action_dim] actions; `sweep_values` [B] is each row's sweep setting."""

    @abc.abstractmethod
    def networks(self) -> dict[str, keras.Model]:
        """Every network of the agent by name, target networks included."""

    @property
    def weights(self) -> list:
        """All network weights, in a fixed order.

        `tf.Module.variables` cannot be used: its walk does not see Keras 3 variables (checkpoints
        do, through Keras's own tracking).
        """
        return [w for _, net in sorted(self.networks().items()) for w in net.weights]

    @abc.abstractmethod
    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        """Every optimizer of the agent by name."""

    def checkpoint_items(self) -> dict:
        """What a `tf.train.Checkpoint` must hold to restore this agent exactly.

        Keras 3 models expose no trackable children to `tf.train.Checkpoint`, so attribute tracking
        would save only the variables an optimizer happens to reference and silently drop the rest
        (target networks above all). Every network's weights are therefore listed by name.
        """
        return {
            "networks": {name: list(net.weights) for name, net in self.networks().items()},
            "optimizers": dict(self.optimizers()),
        }

    @abc.abstractmethod
    def sampling_networks(self) -> dict:
        """The networks `sample_actions` reads (what an export saves)."""

    @abc.abstractmethod
    def eval_sweep(self) -> Sweep:
        """The settings evaluation sweeps over by default."""

    def dummy_batch(self, batch_size: int = 2) -> dict[str, tf.Tensor]:
        """A batch of zeros with the transition features, to create variables."""
        obs = tf.zeros([batch_size, self.observation_dim])
        return {
            "observations": obs,
            "next_observations": obs,
            "actions": tf.zeros([batch_size, self.action_dim]),
            "rewards": tf.zeros([batch_size]),
            "masks": tf.ones([batch_size]),
            "terminals": tf.zeros([batch_size]),
        }
