"""The pictures of an OGBench evaluation: success against the knob, and maze rollouts.

`eval/success.png` plots success (with its standard error) against the knob. In mazes,
`eval/rollouts.png` draws the rollouts on the maze's layout, one panel per knob value: what
guidance changes is easiest seen, not read (the same starts at every value, each path green when
it reached the goal and red when it did not). Both OGBench suites write both.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cfgrl_tf import plotting
from cfgrl_tf.envs import ogbench_env
from cfgrl_tf.envs.episodes import EpisodeResult
from cfgrl_tf.sweep import Knob

SUCCESS_FILE = "success.png"
FILE_NAME = "rollouts.png"
# Paths per panel: enough to see the spread, few enough to see each one.
MAX_PATHS = 30


def write_all(
    agent: str,
    knob: Knob,
    overall: Sequence[dict],
    results: Sequence[EpisodeResult],
    env_name: str,
    out_dir: str,
    step: int,
    task_ids: Sequence[int],
) -> None:
    """Writes (and names) `success.png` from the overall rows and, in mazes, `rollouts.png`."""
    curve = [(r["sweep_value"], r["success"], r["success_se"]) for r in overall]
    path = os.path.join(out_dir, SUCCESS_FILE)
    title = f"{agent} on {env_name} (step {step})"
    if knob.tag:
        plotting.plot_success_vs_param({agent: curve}, path, title, param_name=knob.label)
    else:  # one setting: a reference line, not a curve
        plotting.plot_success_vs_param({}, path, title, reference_lines={agent: curve[0][1]})
    print(f"Wrote {path}", flush=True)
    picture = write(env_name, results, knob, out_dir, title, task_ids=task_ids, agent=agent)
    if picture:
        print(f"Wrote {picture}", flush=True)


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
    counts: dict[str, tuple[int, int]] = {}
    for r in traced:
        name = knob.panel_title(r.sweep_value, agent)
        rollouts = panels.setdefault(name, [])
        if len(rollouts) < MAX_PATHS:
            rollouts.append((r.path, r.success))
        wins, total = counts.get(name, (0, 0))
        counts[name] = (wins + bool(r.success), total + 1)
    goals = [layout["tasks"][t]["goal"] for t in task_ids if t in layout["tasks"]]
    path = os.path.join(out_dir, FILE_NAME)
    return plotting.plot_maze_rollouts(layout, panels, path, title, goals=goals, counts=counts)
