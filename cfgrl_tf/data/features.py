"""Which batch features a dataset can give an agent, checked before the agent is built.

Stored features are the dataset's records (`dataset_info.json` lists them). Drawn features are
made for every batch: goals and subgoal targets come from a `GoalSampler` over the dataset's
trajectories, so only a dataset with trajectory features (converted from an OGBench file) has
them. A goal-conditioned dataset stores rewards and masks as placeholders (a goal-conditioned
reward depends on the goal drawn), so it does not provide them to an agent that learns a critic.
"""

from __future__ import annotations

from collections.abc import Sequence

from cfgrl_tf.data.goals import GoalSampler
from cfgrl_tf.data.ogbench_npz import is_goal_conditioned
from cfgrl_tf.data.spec import DatasetInfo
from cfgrl_tf.errors import DatasetError

# Features a GoalSampler adds to each batch.
DRAWN_FEATURES = ("goals", "subgoals", "goal_reached", "goal_distance")
# Stored placeholders of a goal-conditioned dataset.
GOAL_DEPENDENT_FEATURES = ("rewards", "masks")
GOAL_CONDITIONED_AGENTS = (
    "GCBCAgent, GCFBCAgent, GCCFGRLAgent, HGCBCAgent, HGCFBCAgent, HCFGRLAgent"
)


# Whether a dataset carries trajectory positions, so goals can be drawn from it.
has_trajectories = is_goal_conditioned


def provided_features(info: DatasetInfo) -> set[str]:
    """The batch features an agent can train on from this dataset."""
    provided = set(info.features)
    if has_trajectories(info):
        provided |= set(DRAWN_FEATURES)
        provided -= set(GOAL_DEPENDENT_FEATURES)
    return provided


def check_features(info: DatasetInfo, needed: Sequence[str], agent: str) -> None:
    """Raises a `DatasetError` naming the first feature `agent` needs that the dataset lacks."""
    source = info.source.get("name", "?")
    missing = [f for f in needed if f not in provided_features(info)]
    if not missing:
        return
    if missing[0] in DRAWN_FEATURES:
        raise DatasetError(
            f"agent {agent} trains on {missing[0]}, but the dataset ({source}) has no "
            "trajectories to draw goals from; convert an OGBench file (pipelines/ogbench/)"
        )
    if missing[0] in GOAL_DEPENDENT_FEATURES and has_trajectories(info):
        raise DatasetError(
            f"agent {agent} trains on {missing[0]}, but the dataset ({source}) is "
            "goal-conditioned: its rewards depend on the goal drawn, so it stores none; train a "
            f"goal-conditioned agent on it ({GOAL_CONDITIONED_AGENTS})"
        )
    raise DatasetError(
        f"agent {agent} trains on {', '.join(missing)}, which the dataset ({source}) does not "
        f"have (it has {', '.join(sorted(info.features))})"
    )


def batch_goal_sampler(
    needed: Sequence[str], goal_sampler: GoalSampler | None = None
) -> GoalSampler | None:
    """The goal sampler an agent's batches need: `goal_sampler`, or a `GoalSampler()` with its
    gin bindings when the agent trains on drawn features and none is given; None otherwise."""
    if not any(f in DRAWN_FEATURES for f in needed):
        return None
    return goal_sampler if goal_sampler is not None else GoalSampler()
