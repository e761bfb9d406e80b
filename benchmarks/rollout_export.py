"""Rolls out an exported goal-conditioned SavedModel on OGBench WITHOUT importing cfgrl_tf.

This is what serving looks like: TensorFlow, the SavedModel folder and the environment, nothing
else. It runs OGBench's evaluation (5 tasks, N episodes each, success at the last step) at the
given guidance weights, batching every episode of one w into one policy call per step, and
prints the success rates next to those the run's own evaluation wrote (`eval/sweep.csv`).

The episodes' start states and goals come from this script's own seeds, not from cfgrl_tf's
evaluator, so the comparison is statistical: the two success rates should agree within their
standard errors.

  cfgrl-export --root_dir=runs/pm_cfgrl
  python benchmarks/rollout_export.py --export_dir=runs/pm_cfgrl/export/20000 \
      --weights=1,1.5 --episodes_per_task=20
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
import warnings

sys.modules["cfgrl_tf"] = None  # type: ignore[assignment] - prove the script needs no cfgrl_tf.

import gymnasium  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

warnings.filterwarnings("ignore", message=".*DISPLAY.*")
warnings.filterwarnings("ignore", message=".*precision lowered.*")
import ogbench.locomaze  # noqa: E402, F401 - registers the environments.
import ogbench.manipspace  # noqa: E402, F401


def rollout(serve, env_name: str, goal_key: str, w: float, episodes: int, seed: int) -> list:
    """Success (0/1) of every (task, episode) at guidance weight w, all episodes in lockstep."""
    jobs = [(task, e) for task in range(1, 6) for e in range(episodes)]
    envs = [gymnasium.make(env_name, use_oracle_rep=goal_key == "oracle_reps") for _ in jobs]
    obs, goals = [], []
    for i, (env, (task, e)) in enumerate(zip(envs, jobs, strict=True)):
        np.random.seed(seed * 100_000 + i)  # mazes draw start noise from numpy's global RNG
        env.action_space.seed(seed * 100_000 + i)
        ob, info = env.reset(seed=seed * 100_000 + 1000 * task + e, options={"task_id": task})
        obs.append(ob)
        goals.append(info["goal"])
    obs, goals = np.asarray(obs, np.float32), np.asarray(goals, np.float32)
    done = np.zeros(len(jobs), bool)
    success = np.zeros(len(jobs))
    step = 0
    while not done.all():
        active = np.flatnonzero(~done)
        actions = serve(
            observations=tf.constant(obs[active]),
            goals=tf.constant(goals[active]),
            guidance_weight=tf.fill([len(active)], np.float32(w)),
            seed=tf.constant(seed * 1_000_003 + step, tf.int64),
        )["actions"].numpy()
        for row, i in enumerate(active):
            ob, _, terminated, truncated, info = envs[i].step(np.clip(actions[row], -1, 1))
            obs[i] = ob
            if terminated or truncated:
                done[i] = True
                success[i] = float(info["success"])
        step += 1
    for env in envs:
        env.close()
    return list(success)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--export_dir", required=True)
    parser.add_argument("--weights", default="1")
    parser.add_argument("--episodes_per_task", type=int, default=10)
    parser.add_argument("--seed", type=int, default=123)
    args = parser.parse_args()

    with open(os.path.join(args.export_dir, "cfgrl_export.json"), encoding="utf-8") as f:
        meta = json.load(f)
    serve = tf.saved_model.load(args.export_dir).signatures["serving_default"]
    run_dir = os.path.dirname(os.path.dirname(os.path.abspath(args.export_dir)))
    evaluated = {}
    sweep_csv = os.path.join(run_dir, "eval", "sweep.csv")
    if os.path.exists(sweep_csv):
        with open(sweep_csv, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["task_id"] == "overall":
                    evaluated[float(row["sweep_value"])] = row
    print(f"{meta['agent']} step {meta['step']} on {meta['env_name']} (goals: {meta['goal_key']})")
    print("     w  export success (se)  episodes   eval success (se)  episodes   seconds")
    for w in (float(v) for v in args.weights.split(",")):
        started = time.perf_counter()
        results = rollout(
            serve, meta["env_name"], meta["goal_key"], w, args.episodes_per_task, args.seed
        )
        mean = float(np.mean(results))
        se = float(np.std(results, ddof=1) / math.sqrt(len(results)))
        row = evaluated.get(w)
        theirs = (
            f"{float(row['success']):.3f} ({float(row['success_se']):.3f})  {row['episodes']:>8}"
            if row
            else "          -"
        )
        print(
            f"{w:6g}  {mean:14.3f} ({se:.3f})  {len(results):8d}   {theirs}   "
            f"{time.perf_counter() - started:7.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
