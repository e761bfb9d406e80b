"""The IQL critic's V(s) over a point maze, one panel per run: where has value propagated?

In OGBench's point mazes the observation is the agent's x-y position, so a single-task run's
V(x, y) can be drawn on the maze itself. A CFGRL or AWR policy is only as good as the advantage
it is extracted with: in the cells the goal's value has not reached yet, V is flat and the
advantage's sign (CFGRL's optimality label) is noise. This draws V for each run from its latest
checkpoint, and prints V at the start and at the goal.

  python benchmarks/value_map.py --run_dirs=runs/a/cfgrl/seed0,runs/a/cfgrl/seed1 \\
    --out=benchmarks/results/value_map.png

Reads checkpoints only (a few seconds of CPU per run).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def value_grid(agent, layout, resolution: int = 8):
    """(xs, ys, V [ny, nx]) on `resolution` points per maze cell, NaN inside walls."""
    import tensorflow as tf  # noqa: PLC0415

    walls = np.asarray(layout["walls"], np.float64)
    unit = float(layout["unit"])
    lo, hi = walls.min(axis=0) - unit / 2, walls.max(axis=0) + unit / 2
    step = unit / resolution
    xs = np.arange(lo[0] + step / 2, hi[0], step)
    ys = np.arange(lo[1] + step / 2, hi[1], step)
    gx, gy = np.meshgrid(xs, ys)
    points = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    values = agent.critic.value({"observations": tf.constant(points)}).numpy()
    inside = np.zeros(len(points), bool)
    for wx, wy in walls:
        inside |= (np.abs(points[:, 0] - wx) < unit / 2) & (np.abs(points[:, 1] - wy) < unit / 2)
    values[inside] = np.nan
    return xs, ys, values.reshape(gx.shape)


def main() -> None:
    flags = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    flags.add_argument("--run_dirs", required=True, help="comma-separated single-task runs")
    flags.add_argument("--names", default="", help="comma-separated panel titles")
    flags.add_argument("--out", required=True, help="the PNG to write")
    args = flags.parse_args()

    import gin  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    from cfgrl_tf import errors, plotting, run_dir  # noqa: PLC0415
    from cfgrl_tf.data.spec import DatasetInfo  # noqa: PLC0415
    from cfgrl_tf.envs import ogbench_env, ogbench_task  # noqa: PLC0415

    runs = args.run_dirs.split(",")
    names = args.names.split(",") if args.names else runs
    panels, layout, env_name = {}, None, None
    for run, name in zip(runs, names, strict=True):
        gin.clear_config()
        run_dir.parse_run_config(run)
        agent, step, dataset_dir = run_dir.restore_agent(run)
        if getattr(agent, "critic", None) is None or not hasattr(agent.critic, "value"):
            raise errors.UserError(f"{run}: its agent {agent.name!r} has no IQL critic")
        source = DatasetInfo.read(dataset_dir).source
        if env_name is None:
            env_name = source["env_name"]
            layout = ogbench_env.maze_layout(env_name)
            task = layout["tasks"][ogbench_task.task_id_of(env_name)]
        elif source["env_name"] != env_name:
            raise errors.UserError(f"{run} is on {source['env_name']}, not {env_name}")
        xs, ys, grid = value_grid(agent, layout)
        ends = agent.critic.value(
            {"observations": tf.constant(np.stack([task["start"], task["goal"]]))}
        )
        v_start, v_goal = ends.numpy()
        print(f"{name}: step {step}, V(start) {v_start:.1f}, V(goal) {v_goal:.1f}", flush=True)
        panels[f"{name} (step {step}): V(start) {v_start:.0f}"] = (xs, ys, grid)
    path = plotting.plot_maze_values(
        layout,
        panels,
        args.out,
        f"IQL critic V(x, y) on {env_name}",
        goals=[task["goal"]],
        starts=[task["start"]],
    )
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()
