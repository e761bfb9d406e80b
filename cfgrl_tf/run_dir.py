"""A run directory after training: its configuration, its checkpoint, and what may change.

`cfgrl-eval` and `cfgrl-export` parse the `config.gin` a run wrote (`parse_run_config`) and rebuild
its agent from the latest checkpoint (`restore_agent`); `cfgrl-train` refuses to resume a run dir
with another configuration (`check_same_configuration`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import gin
import tensorflow as tf

from cfgrl_tf import configurables, errors, gin_config
from cfgrl_tf.agents import Agent
from cfgrl_tf.agents.base import agent_arguments
from cfgrl_tf.data.spec import DatasetInfo
from cfgrl_tf.eval import suites
from cfgrl_tf.learner import CHECKPOINT_DIR

CONFIG_FILE = "config.gin"

# What a resumed run may change: how long it trains, how it logs, how it is evaluated (every
# evaluation suite's settings).
TRAIN_RESUMABLE = (
    "train.num_steps",
    "train.log_interval",
    "train.checkpoint_interval",
    "train.steps_per_loop",
    "train.evaluate_at_end",
    "train.eval_interval",
    "train.selection_metric",
    "train.selection_top_k",
    "train.jit_compile",
    "train.dataset_dir",
    "train.input_pipeline",  # the same batches either way
    "CFGRLAgent.sampling_noise_scale",  # sampling only
)

# Gin names of the evaluation settings before the suites had classes of their own: old run dirs'
# config.gin (and old commands) keep working.
LEGACY_NAMES = {"evaluate_agent": "BanditSuite", "evaluate_goal_agent": "OGBenchGoalSuite"}
_LEGACY = re.compile(r"^(\s*)(" + "|".join(LEGACY_NAMES) + r")\.", re.MULTILINE)


def resumable_changes() -> tuple[str, ...]:
    suite_names = tuple(f"{suite.__name__}." for suite in suites.registered())
    return TRAIN_RESUMABLE + suite_names


def modernize(text: str) -> str:
    """Gin text with the legacy evaluation names replaced by the suites' names."""
    return _LEGACY.sub(lambda m: f"{m.group(1)}{LEGACY_NAMES[m.group(2)]}.", text)


def _bindings(text: str) -> dict[str, str]:
    """`key -> value` of a `gin.config_str()` text (values wrapped over indented lines joined)."""
    bindings: dict[str, str] = {}
    key = None
    for line in modernize(text).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            key = None
        elif line[0].isspace() and key is not None:
            bindings[key] += " " + line.strip()
        elif " = " in line:
            key, value = line.split(" = ", 1)
            bindings[key.strip()] = value.strip()
    return bindings


def check_same_configuration(root_dir: str, gin_files: Sequence[str], gin_bindings) -> None:
    """Refuses to resume a run dir's checkpoints with another agent or other model settings.

    A run dir belongs to one configuration: only `resumable_changes()` may differ from the
    `config.gin` it was started with (the checkpoint check would catch another architecture, but
    not another agent with the same variables, or another learning rate or seed).

    Raises:
      ConfigError: naming the first differing binding, its old and its new value.
    """
    path = os.path.join(root_dir, CONFIG_FILE)
    if not os.path.isfile(path) or not os.path.isdir(os.path.join(root_dir, CHECKPOINT_DIR)):
        return
    with open(path) as f:
        old = _bindings(f.read())
    new = _bindings(gin_config.config_text(gin_files, gin_bindings))
    resumable = resumable_changes()
    # The agent first: when it differs, its own settings differ too, and the agent says most.
    for key in sorted(set(old) | set(new), key=lambda k: (k != "train.agent", k)):
        if key.startswith(resumable) or old.get(key) == new.get(key):
            continue
        raise errors.ConfigError(
            f"{root_dir} holds a run of another configuration: {key} is "
            f"{old.get(key, '(unset)')} in {path} but {new.get(key, '(unset)')} now. Resume "
            "with the run's own settings (only num_steps, intervals and evaluation settings may "
            "change), or train in a new --root_dir"
        )


def parse_run_config(root_dir: str, extra_bindings: Sequence[str] = ()) -> None:
    """Parses the `config.gin` a run wrote (plus bindings to override), replacing gin's state."""
    path = os.path.join(root_dir, CONFIG_FILE)
    if not os.path.exists(path):
        raise errors.UserError(
            f"{path} not found: is {root_dir!r} the root dir of a cfgrl-train run?"
        )
    with open(path) as f:
        text = f.read()
    bindings = [modernize(b) for b in extra_bindings]
    gin.clear_config()
    if modernize(text) == text:
        configurables.parse_gin([path], bindings)
        return
    configurables.parse_gin([], [modernize(text), *bindings])


def restore_agent(root_dir: str) -> tuple[Agent, int, str]:
    """Builds the configured agent and restores the run's latest checkpoint.

    Call after `parse_run_config`.

    Returns:
      (agent, step, dataset_dir).

    Raises:
      ExportError: the run has no checkpoint.
      UserError: the run's dataset is not where its config says.
    """
    dataset_dir = gin.query_parameter("train.dataset_dir")
    agent_fn = gin.query_parameter("train.agent").scoped_configurable_fn
    ckpt_dir = os.path.join(root_dir, CHECKPOINT_DIR)
    latest = tf.train.latest_checkpoint(ckpt_dir)
    if latest is None:
        raise errors.ExportError(f"no checkpoint in {ckpt_dir}: train the run first (cfgrl-train)")
    if not os.path.isdir(dataset_dir):
        raise errors.UserError(
            f"dataset directory {dataset_dir} does not exist (train.dataset_dir in "
            f"{os.path.join(root_dir, CONFIG_FILE)}); rebind it with "
            "--gin_bindings=\"train.dataset_dir='...'\" if the dataset moved"
        )
    info = DatasetInfo.read(dataset_dir)
    agent = agent_fn(**agent_arguments(agent_fn, info))
    agent.build()
    step = tf.Variable(0, dtype=tf.int64)
    # Optimizer slots are not needed to sample; every network weight must be restored.
    status = tf.train.Checkpoint(step=step, **agent.checkpoint_items()).restore(latest)
    status.expect_partial().assert_existing_objects_matched()
    return agent, int(step.numpy()), dataset_dir
