"""SavedModel export of a trained policy, with the guidance weight as a serving-time input.

The SavedModel holds only what sampling needs (the policy's networks, not the critic or optimizer
state), and loads with `tf.saved_model.load` in a process where cfgrl_tf is not installed. Its
`serving_default` signature is flat and named after the policy's inputs:

  inputs:  observations [B, obs_dim] float32 (and goals [B, goal_dim] for a goal-conditioned
           policy: the representation the dataset's goals have), guidance_weight [B] float32,
           seed [] int64
  outputs: actions [B, action_dim] float32 (in the dataset's scaled [-1, 1] action space)

`guidance_weight` is per row. Policies without guidance (flow BC, GCBC) accept and ignore it; a
policy whose knob cannot be a serving input (IQL+AWR's temperature picks a trained head) is
exported at one setting chosen at export time.
"""

from __future__ import annotations

import os

import tensorflow as tf

from cfgrl_tf import fileio, run_dir
from cfgrl_tf.data.spec import DatasetInfo
from cfgrl_tf.errors import ExportError
from cfgrl_tf.policy import Policy

METADATA_FILE = "cfgrl_export.json"
EXPORT_DIR = "export"
KNOB_INPUT = "guidance_weight"


class PolicyModule(tf.Module):
    """The exported object: the policy's sampling variables and one compiled signature."""

    def __init__(self, policy: Policy):
        super().__init__(name="cfgrl_policy")
        # Track exactly the variables sampling reads (a SavedModel refuses to capture untracked
        # ones). They are listed explicitly: Keras 3 models expose no trackable children.
        self.policy_variables = policy.variables()
        # The policy holds the agent's sampler: keep it out of tf.Module tracking.
        object.__setattr__(self, "_policy", policy)
        names = list(policy.inputs)
        signature = [
            *policy.input_specs().values(),
            tf.TensorSpec([None], tf.float32, name=KNOB_INPUT),
            tf.TensorSpec([], tf.int64, name="seed"),
        ]

        def serve(*args):
            inputs = dict(zip(names, args[: len(names)], strict=True))
            knob, seed = args[len(names) :]
            return {"actions": self._policy.sample(inputs, knob, seed)}

        self.serve = tf.function(serve, input_signature=signature)


def export_policy(policy: Policy, export_dir: str, *, metadata: dict) -> str:
    """Writes a SavedModel to `export_dir` (which must not exist) through a staging folder.

    Args:
      policy: a trained agent's policy (`with_fixed_knob` for a knob that is not a serving input).
      export_dir: the final folder, e.g. `<root_dir>/export/<step>`.
      metadata: JSON-serialisable facts written beside the model (agent, step, action_scale...).

    Returns:
      `export_dir`.

    Raises:
      ExportError: `export_dir` already exists (nothing is overwritten).
    """
    if os.path.exists(export_dir):
        raise ExportError(f"{export_dir} already exists; not overwriting a finished export")
    module = PolicyModule(policy)
    with fileio.staged_directory(export_dir) as staging:
        tf.saved_model.save(module, staging, signatures={"serving_default": module.serve})
        fileio.atomic_write_json(os.path.join(staging, METADATA_FILE), metadata)
    return export_dir


def export_run(root_dir: str, knob_value: float | None = None) -> str:
    """Exports the latest checkpoint of a run to `<root_dir>/export/<step>/`.

    Args:
      root_dir: the run directory (its config.gin must already be parsed).
      knob_value: for a policy whose knob is fixed at export (IQL+AWR's temperature), the
        setting to export (default: the highest).

    Returns:
      The export directory.
    """
    agent, step, dataset_dir = run_dir.restore_agent(root_dir)
    policy = agent.policy()
    knob = policy.knob
    if knob.serving == "fixed":
        value = float(knob_value) if knob_value is not None else max(policy.sweep.values)
        policy = policy.with_fixed_knob(value)
    elif knob_value is not None:
        raise ExportError(
            f"agent {agent.name!r} takes its knob ({knob.name}) as the serving input "
            f"`{KNOB_INPUT}`, or has none: there is no setting to fix at export"
        )
    info = DatasetInfo.read(dataset_dir)
    metadata = {
        "agent": agent.name,
        "step": step,
        "observation_dim": agent.observation_dim,
        "action_dim": agent.action_dim,
        "action_scale": info.action_scale,
        "dataset_source": info.source,
        "guidance_weight_input": knob.description.format(value=policy.fixed_knob or 0.0),
        "signature": {
            "inputs": {
                **{name: [None, dim] for name, dim in policy.inputs.items()},
                KNOB_INPUT: [None],
                "seed": [],
            },
            "outputs": {"actions": [None, agent.action_dim]},
        },
    }
    for key in ("env_name", "goal_key"):  # what an environment-side user needs to feed it
        if key in info.source:
            metadata[key] = info.source[key]
    export_dir = os.path.join(root_dir, EXPORT_DIR, str(step))
    return export_policy(policy, export_dir, metadata=metadata)
