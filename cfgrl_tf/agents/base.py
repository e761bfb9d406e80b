"""The agent seam: what the learner, the evaluation suites and the exporter need from an agent.

An agent declares what it trains on (`batch_features`, checked against the dataset before it is
built), takes its sizes from the dataset (`dataset_arguments`), trains one step at a time, and
gives a `Policy` (input spec, sampling knob, sampler, the networks an export saves).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping

import keras
import tensorflow as tf

from cfgrl_tf.data import features
from cfgrl_tf.data.spec import DatasetInfo
from cfgrl_tf.policy import Policy
from cfgrl_tf.sweep import Sweep


def agent_arguments(agent_fn, info: DatasetInfo) -> dict:
    """The constructor arguments the dataset fixes (sizes, and whatever the agent's family
    reads from the dataset: goal size, normalisation statistics).

    Args:
      agent_fn: the agent class (gin-configured), a `functools.partial` of one, or a factory
        function (which gets the sizes only).
      info: the training dataset's `DatasetInfo`.

    Raises:
      DatasetError: the dataset lacks a feature the agent trains on.
    """
    agent_class = getattr(agent_fn, "func", agent_fn)  # functools.partial(Class, ...) too
    if not (isinstance(agent_class, type) and issubclass(agent_class, Agent)):
        agent_class = Agent  # a plain factory function: the seam's defaults (sizes only)
    features.check_features(info, agent_class.batch_features, agent_class.__name__)
    return agent_class.dataset_arguments(info)


class Agent(tf.Module, abc.ABC):
    """An offline RL agent: networks, optimizers, one train step and a policy.

    Lifecycle (the learner's): construct inside `strategy.scope()` with `agent_arguments`, call
    `build()` there too (Keras 3 needs variables and optimizer slots made under the scope before
    the first step), then call `train_step` inside `strategy.run` and `update_targets` in
    cross-replica context after it.
    """

    name: str = "agent"
    # The batch features `train_step` reads. Stored features come from the dataset's records;
    # `goals` and `subgoals` are drawn for every batch from a dataset's trajectories.
    batch_features: tuple[str, ...] = ("observations", "actions")

    def __init__(self, observation_dim: int, action_dim: int):
        super().__init__(name=self.name)
        self.observation_dim = int(observation_dim)
        self.action_dim = int(action_dim)

    @classmethod
    def dataset_arguments(cls, info: DatasetInfo) -> dict:
        """The constructor arguments read from the training dataset's info."""
        return {"observation_dim": info.obs_dim, "action_dim": info.action_dim}

    @abc.abstractmethod
    def build(self) -> None:
        """Creates every variable, optimizer slots included."""

    @abc.abstractmethod
    def train_step(
        self, batch: dict[str, tf.Tensor], seed: tf.Tensor, global_batch_size: int
    ) -> dict[str, tf.Tensor]:
        """One gradient step on this replica's batch; returns its share of each metric.

        Args:
          batch: per-replica batch with the dataset's features (and `batch_features`).
          seed: [2] int64 stateless seed, unique to (run seed, step, replica).
          global_batch_size: the batch size summed over replicas.

        Returns:
          Slash-namespaced metrics (`actor/flow_loss`, `critic/q_mean`), each already divided so
          that summing over replicas gives the global mean.
        """

    def check_dataset(self, arrays: dict, path: str) -> None:  # noqa: B027 - optional hook.
        """Raises `DatasetError` if the dataset's values do not suit this agent."""

    def update_targets(self) -> None:  # noqa: B027 - optional hook, most agents have no targets.
        """Moves target and averaged networks toward the online ones (cross-replica context)."""

    # -- the policy ------------------------------------------------------------------------------

    def policy_inputs(self) -> dict[str, int]:
        """{input name: width} that `sample_actions` reads, observations first."""
        return {"observations": self.observation_dim}

    @abc.abstractmethod
    def sample_actions(
        self, inputs: Mapping[str, tf.Tensor], knob_values: tf.Tensor, seed: tf.Tensor
    ) -> tf.Tensor:
        """[B, action_dim] actions for [B] rows of `inputs` (keys of `policy_inputs`);
        `knob_values` [B] is each row's knob setting, `seed` a scalar int."""

    @abc.abstractmethod
    def sampling_networks(self) -> dict[str, keras.Model]:
        """The networks `sample_actions` reads, by name (what an export saves)."""

    @abc.abstractmethod
    def eval_sweep(self) -> Sweep:
        """The knob and the settings evaluation sweeps it over by default."""

    def policy(self) -> Policy:
        return Policy(
            name=self.name,
            inputs=self.policy_inputs(),
            action_dim=self.action_dim,
            sweep=self.eval_sweep(),
            sample_fn=self.sample_actions,
            networks=self.sampling_networks(),
        )

    # -- state -----------------------------------------------------------------------------------

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
