"""What every single-task (reward) source ends with: the all-equal-rewards warning and the
`SourceData` the writer takes.

The sources (ogbench_singletask.py, exorl.py, d4rl.py, minari_reader.py) each read their own
format into transitions `observations, actions, next_observations, rewards, masks, terminals`;
this module adds what they share: no optimality label, the reward range and the observation
statistics in the provenance, and the transition feature spec.
"""

from __future__ import annotations

import sys

import numpy as np

from cfgrl_tf.data import ogbench_npz, spec


def warn_if_constant(rewards: np.ndarray, what: str, detail: str = "") -> None:
    """Warns on stderr when every reward is the same: a critic then has no signal.

    Args:
      rewards: the dataset's rewards.
      what: names the data in the message, e.g. "<path> for walker_walk".
      detail: said after the value, e.g. ": the data never solves the task".
    """
    if len(rewards) and np.all(rewards == rewards[0]):
        print(
            f"warning: every reward of {what} is {rewards[0]:g}{detail}, so a critic has no "
            "signal to learn from",
            file=sys.stderr,
            flush=True,
        )


def source_data(
    transitions: dict[str, np.ndarray], source: dict, action_scale: float = 1.0
) -> spec.SourceData:
    """The `SourceData` of single-task transitions (float32 rewards and masks, no optimality
    label), with `reward_range` and the observation `statistics` added to `source`."""
    arrays = dict(transitions)
    arrays["rewards"] = np.asarray(arrays["rewards"], np.float32)
    arrays["masks"] = np.asarray(arrays["masks"], np.float32)
    rewards = arrays["rewards"]
    arrays["optimal"] = np.full(len(rewards), spec.NO_LABEL, np.int64)
    observations = arrays["observations"]
    source = {
        **source,
        "reward_range": [float(rewards.min()), float(rewards.max())],
        "statistics": {"observations": ogbench_npz.statistics(observations)},
    }
    return spec.SourceData(
        arrays=arrays,
        features=spec.transition_features(observations.shape[1], arrays["actions"].shape[1]),
        source=source,
        action_scale=action_scale,
    )
