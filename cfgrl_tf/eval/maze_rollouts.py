"""A picture of maze rollouts on the maze's layout, one panel per knob value.

What guidance changes is easiest seen, not read: the same starts at every knob value, each path
green when it reached the goal and red when it did not. Both OGBench suites draw it for mazes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cfgrl_tf import plotting
from cfgrl_tf.envs import ogbench_env
from cfgrl_tf.envs.episodes import EpisodeResult
from cfgrl_tf.sweep import Knob

FILE_NAME = "rollouts.png"
# Paths per panel: enough to see the spread, few enough to see each one.
MAX_PATHS = 30


def write(
    env_name: str,
    results: Sequence[EpisodeResult],
    knob: Knob,
    out_dir: str,
    title: str,
    *,
    task_ids: Sequence[int],
    agent: str,
) -> str | None:
    """Writes `<out_dir>/rollouts.png` if the results carry maze paths; returns its path."""
    traced = [r for r in results if r.path is not None]
    if not traced:
        return None
    layout = ogbench_env.maze_layout(env_name)
    panels: dict[str, list] = {}
    for r in traced:
        rollouts = panels.setdefault(knob.panel_title(r.sweep_value, agent), [])
        if len(rollouts) < MAX_PATHS:
            rollouts.append((r.path, r.success))
    goals = [layout["tasks"][t]["goal"] for t in task_ids if t in layout["tasks"]]
    path = os.path.join(out_dir, FILE_NAME)
    return plotting.plot_maze_rollouts(layout, panels, path, title, goals=goals)
