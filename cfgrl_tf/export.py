"""SavedModel export of a trained policy, with the guidance weight as a serving-time input.

The SavedModel holds only what sampling needs (the flow network, or the Gaussian heads), not the
critic or optimizer state, and loads with `tf.saved_model.load` in a process where cfgrl_tf is
not installed. Its `serving_default` signature is flat and named:

  inputs:  observations [B, obs_dim] float32, guidance_weight [B] float32, seed [] int64
  outputs: actions [B, action_dim] float32 (in the dataset's scaled [-1, 1] action space)

A goal-conditioned policy takes `goals` [B, goal_dim] float32 too (the same representation the
dataset's goals have: full observations, or oracle representations).

`guidance_weight` is per row. Agents without guidance (flow BC, IQL+AWR) accept and ignore it;
an IQL+AWR export samples the head of the temperature chosen at export time.
"""

from __future__ import annotations

import os

import tensorflow as tf

from cfgrl_tf import fileio
from cfgrl_tf.agents.base import Agent
from cfgrl_tf.errors import ExportError

METADATA_FILE = "cfgrl_export.json"


class PolicyModule(tf.Module):
    """The exported object: the agent's sampling networks and one compiled signature."""

    def __init__(self, agent: Agent, sweep_override: float | None = None):
        super().__init__(name="cfgrl_policy")
        # Track exactly the variables sampling reads (a SavedModel refuses to capture untracked
        # ones). They are listed explicitly: Keras 3 models expose no trackable children.
        self.policy_variables = [
            w.value for _, net in sorted(agent.sampling_networks().items()) for w in _weights(net)
        ]
        # The agent (critic, optimizers) must not be saved: keep it out of tf.Module tracking.
        object.__setattr__(self, "_agent", agent)
        self._sweep_override = sweep_override
        observations = tf.TensorSpec([None, agent.observation_dim], tf.float32, "observations")
        weights = tf.TensorSpec([None], tf.float32, name="guidance_weight")
        seed = tf.TensorSpec([], tf.int64, name="seed")
        if agent.goal_conditioned:
            goals = tf.TensorSpec([None, agent.goal_dim], tf.float32, name="goals")
            self.serve = tf.function(
                self._serve_goals, input_signature=[observations, goals, weights, seed]
            )
        else:
            self.serve = tf.function(self._serve, input_signature=[observations, weights, seed])

    def _serve(self, observations, guidance_weight, seed):
        values = guidance_weight
        if self._sweep_override is not None:
            values = tf.fill(
                tf.shape(guidance_weight), tf.constant(self._sweep_override, tf.float32)
            )
        return {"actions": self._agent.sample_actions(observations, values, seed)}

    def _serve_goals(self, observations, goals, guidance_weight, seed):
        return {
            "actions": self._agent.sample_actions(observations, guidance_weight, seed, goals=goals)
        }


def _weights(network) -> list:
    if isinstance(network, (list, tuple)):
        return [w for n in network for w in n.weights]
    return list(network.weights)


def export_policy(
    agent: Agent, export_dir: str, *, metadata: dict, sweep_override: float | None = None
) -> str:
    """Writes a SavedModel to `export_dir` (which must not exist) through a staging folder.

    Args:
      agent: a built (and usually restored) agent.
      export_dir: the final folder, e.g. `<root_dir>/export/<step>`.
      metadata: JSON-serialisable facts written beside the model (agent, step, action_scale...).
      sweep_override: for agents whose sweep is not a guidance weight (IQL+AWR temperatures),
        the setting baked into the export.

    Returns:
      `export_dir`.

    Raises:
      ExportError: `export_dir` already exists (nothing is overwritten).
    """
    if os.path.exists(export_dir):
        raise ExportError(f"{export_dir} already exists; not overwriting a finished export")
    module = PolicyModule(agent, sweep_override)
    with fileio.staged_directory(export_dir) as staging:
        tf.saved_model.save(module, staging, signatures={"serving_default": module.serve})
        fileio.atomic_write_json(os.path.join(staging, METADATA_FILE), metadata)
    return export_dir
