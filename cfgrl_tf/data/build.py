"""The gin-bound dataset build behind `cfgrl-convert`: a source, optional labels, a writer.

Importing this module registers `bandit_source` and `build_dataset` with gin; a pipeline gin file
(`pipelines/bandit/*.gin`) binds `build_dataset.source = @bandit_source` and its parameters.
"""

from __future__ import annotations

from collections.abc import Callable

import gin
import numpy as np

from cfgrl_tf import errors
from cfgrl_tf.data import bandit, ogbench_npz, spec, writer
from cfgrl_tf.data.spec import SourceData

LABEL_RULES = ("none", "reward_quantile")


@gin.configurable
def bandit_source(name: str = gin.REQUIRED, num_samples: int = 10000, seed: int = 0) -> SourceData:
    """A 2-D bandit dataset (see `cfgrl_tf.data.bandit`).

    Args:
      name: one of `bandit.BANDITS`.
      num_samples: the number of records.
      seed: the generator seed; the same seed gives the same dataset.

    Returns:
      The records, spec and provenance of the bandit.
    """
    arrays, source = bandit.bandit_transitions(name, num_samples, seed)
    return SourceData(
        arrays=arrays,
        features=spec.transition_features(1, 2),
        source=source,
        action_scale=bandit.get_bandit(name).action_scale,
    )


@gin.configurable
def build_dataset(
    output_dir: str,
    source: Callable[[], SourceData] = gin.REQUIRED,
    num_shards: int = 4,
    label_rule: str = "none",
    label_quantile: float = 0.9,
) -> spec.DatasetInfo:
    """Builds a dataset from a source and writes it to `output_dir`.

    Args:
      output_dir: the dataset directory to create; must not exist or be empty.
      source: a callable returning `SourceData`, e.g. `@bandit_source` in gin.
      num_shards: the number of TFRecord files.
      label_rule: how the `optimal` feature is filled: "none" leaves `NO_LABEL` everywhere (the
        agent labels transitions with its critic at training time); "reward_quantile" sets 1 where
        the reward is at least the `label_quantile` quantile of all rewards and 0 elsewhere.
      label_quantile: the quantile, in [0, 1], used by "reward_quantile".

    Returns:
      The `DatasetInfo` written.

    Raises:
      UserError: an unknown label rule or a quantile outside [0, 1].
      DatasetError: the data cannot be written (see `write_dataset`).
    """
    if label_rule not in LABEL_RULES:
        raise errors.UserError(
            f"unknown build_dataset.label_rule {label_rule!r}; "
            f"valid rules: {', '.join(LABEL_RULES)}"
        )
    if label_rule == "reward_quantile" and not 0.0 <= label_quantile <= 1.0:
        raise errors.UserError(
            f"build_dataset.label_quantile must be in [0, 1], got {label_quantile}"
        )
    # Checked before the source runs, which may take minutes, then again by the writer.
    writer.check_output_dir(output_dir)
    data = source()
    arrays = dict(data.arrays)
    if label_rule == "none" and ogbench_npz.TRAJECTORY_FEATURES[0] in data.features:
        labels = {
            "optimal": {
                "rule": "goal",
                "note": f"goal-conditioned: optimal is {spec.NO_LABEL}; the optimality variable is "
                "reaching the goal, drawn afresh for every batch (cfgrl_tf.data.goals)",
            }
        }
    elif label_rule == "none":
        labels = {
            "optimal": {
                "rule": "none",
                "note": f"optimal is {spec.NO_LABEL} (no label) everywhere; the agent labels "
                "transitions with its critic at training time",
            }
        }
    else:
        rewards = np.asarray(arrays["rewards"], dtype=np.float64)
        threshold = float(np.quantile(rewards, label_quantile))
        arrays["optimal"] = (rewards >= threshold).astype(np.int64)
        labels = {
            "optimal": {
                "rule": "reward_quantile",
                "quantile": float(label_quantile),
                "threshold": threshold,
                "num_optimal": int(arrays["optimal"].sum()),
                "note": "optimal is 1 where the reward is at least the threshold, else 0",
            }
        }
    return writer.write_dataset(
        arrays,
        output_dir,
        features=data.features,
        num_shards=num_shards,
        source=data.source,
        labels=labels,
        action_scale=data.action_scale,
    )
