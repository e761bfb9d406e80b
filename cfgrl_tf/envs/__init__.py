"""Evaluation in simulated environments: OGBench goal-conditioned tasks, all rollouts in lockstep.

Importing this package does not import ogbench or MuJoCo; an evaluation does, when it starts.
"""

from cfgrl_tf.envs.ogbench_eval import (
    GOAL_KEYS,
    EpisodeResult,
    env_dims,
    episode_rows,
    evaluate_lockstep,
    evaluate_one_at_a_time,
    format_table,
    summarize,
    supported_env_names,
)

__all__ = [
    "GOAL_KEYS",
    "EpisodeResult",
    "env_dims",
    "episode_rows",
    "evaluate_lockstep",
    "evaluate_one_at_a_time",
    "format_table",
    "summarize",
    "supported_env_names",
]
