"""Evaluation throughput with the environments stepped by 1 and by 2 worker processes.

  python benchmarks/env_workers.py                       # the three suites, 1 vs 2 workers
  python benchmarks/env_workers.py --envs=walker_walk --repeats=3
  python benchmarks/env_workers.py --policy=zero         # env stepping alone (a free policy)

The same lockstep evaluation (`cfgrl_tf.envs.lockstep.run_lockstep`: every (episode, knob value)
rollout side by side, one policy call per step for all of them) is run with `env_workers=1` (every
env stepped in this process, one after the other) and `env_workers=2` (`env_slots.WorkerSlots`:
half the envs in each of two worker processes, stepping at the same time), alternating, on:

  pointmaze-large-singletask-v0            cheap point-mass physics, 1000-step episodes
  cube-single-singletask-v0                a MuJoCo arm and cube, 16 envs alive at once
  walker_walk                              dm_control's walker, ExORL's suite

The policy is what the suites call: an untrained CFGRL agent's compiled sampler (3x256, 16 flow
steps, guided: two network halves per step), so the serial policy call is in the figure as it
is in a real evaluation; `--policy=zero` makes it free, leaving env stepping alone. An untrained
policy rarely ends an episode early, so every rollout runs `--max_episode_steps`.

Prints env steps per second (mean over repeats, every repeat's figure beside it), the ratio
2 workers / 1 worker, and a one-line summary. The results of both are also compared: they must
be identical (the loop assigns rollouts to slots, not the workers). Run it alone: two cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

ENVS = {
    "pointmaze-large-singletask-v0": "ogbench",
    "cube-single-singletask-v0": "ogbench",
    "walker_walk": "dmc",
}
KNOBS = (0.5, 1.0, 1.25, 1.5, 2.0, 3.0)


def evaluator(env: str):
    """(evaluate(policy, env_workers) -> results, (obs_dim, action_dim)) for one suite."""
    if ENVS[env] == "dmc":
        from cfgrl_tf.envs import dmc_eval, dmc_tasks  # noqa: PLC0415

        task = dmc_tasks.make_task(env, seed=0)
        dims = (
            int(np.prod(task.observation_spec().shape)),
            int(np.prod(task.action_spec().shape)),
        )
        task.close()
        return dmc_eval.evaluate_lockstep, dims
    from cfgrl_tf.envs import ogbench_task  # noqa: PLC0415

    return ogbench_task.evaluate_lockstep, ogbench_task.env_dims(env)


def make_policy(kind: str, obs_dim: int, action_dim: int):
    if kind == "zero":
        return lambda inputs, knobs, seed: np.zeros((len(knobs), action_dim), np.float32)
    import keras  # noqa: PLC0415

    from cfgrl_tf.agents.cfgrl import CFGRLAgent  # noqa: PLC0415

    keras.utils.set_random_seed(0)
    agent = CFGRLAgent(obs_dim, action_dim)
    agent.build()
    return agent.policy().numpy_sampler()


def measure(env: str, args) -> dict:
    evaluate, (obs_dim, action_dim) = evaluator(env)
    policy = make_policy(args.policy, obs_dim, action_dim)
    kwargs = dict(
        sweep_values=KNOBS,
        episodes=args.episodes,
        max_episode_steps=args.max_episode_steps,
        progress=False,
    )
    # Warm-up: the policy compiles for every batch size it will meet.
    evaluate(env, policy, env_workers=1, **kwargs)
    rates: dict[int, list[float]] = {1: [], 2: []}
    results = {}
    for repeat in range(args.repeats):
        for workers in (1, 2) if repeat % 2 == 0 else (2, 1):
            start = time.perf_counter()
            out = evaluate(env, policy, env_workers=workers, **kwargs)
            seconds = time.perf_counter() - start
            rates[workers].append(sum(r.length for r in out) / seconds)
            results[workers] = out
            print(f"  {env}: {workers} worker(s) {rates[workers][-1]:.0f} env steps/s", flush=True)
    return {"env": env, "rates": rates, "same": results[1] == results[2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", default=",".join(ENVS))
    parser.add_argument("--policy", choices=("cfgrl", "zero"), default="cfgrl")
    parser.add_argument("--episodes", type=int, default=10, help="per knob value (6 values)")
    parser.add_argument("--max_episode_steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    envs = [e for e in args.envs.split(",") if e]
    unknown = [e for e in envs if e not in ENVS]
    if unknown:
        parser.error(f"unknown --envs {unknown}; known: {', '.join(ENVS)}")
    print(
        f"{os.cpu_count()} CPU cores; policy {args.policy}; {len(KNOBS)} knob values x "
        f"{args.episodes} episodes of {args.max_episode_steps} steps per evaluation",
        flush=True,
    )
    rows = [measure(env, args) for env in envs]
    print(f"\n{'env':<40} {'1 worker':>10} {'2 workers':>10} {'ratio':>6}  same results  runs")
    for row in rows:
        one, two = (np.mean(row["rates"][w]) for w in (1, 2))
        runs = " / ".join(
            f"{a:.0f},{b:.0f}" for a, b in zip(row["rates"][1], row["rates"][2], strict=True)
        )
        row["ratio"] = two / one
        print(
            f"{row['env']:<40} {one:>10.0f} {two:>10.0f} {row['ratio']:>5.2f}x  "
            f"{'yes' if row['same'] else 'NO':<12}  {runs}"
        )
    cells = ", ".join(f"{r['env']} {r['ratio']:.2f}x" for r in rows)
    same = all(r["same"] for r in rows)
    print(
        f"\nSummary: env steps/s with 2 workers / 1 worker: {cells}; results identical: "
        f"{'yes' if same else 'NO'}"
    )


if __name__ == "__main__":
    main()
