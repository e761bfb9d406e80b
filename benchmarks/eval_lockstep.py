"""OGBench evaluation wall time: every rollout in lockstep vs the reference one-at-a-time loop.

  python benchmarks/eval_lockstep.py                      # pointmaze-medium, 5 tasks x 2 x 6 w
  python benchmarks/eval_lockstep.py --episodes=10        # OGBench's usual 10 episodes per task
  python benchmarks/eval_lockstep.py --policy=controller  # a numpy policy: env stepping alone
  python benchmarks/eval_lockstep.py --run_dir=runs/x     # a trained agent (see load_policy)

Both loops run the SAME episodes (same reset seeds, so the same starts and goals) in one run:
`evaluate_lockstep` makes one policy call per env step for all running rollouts, w being a
per-row input; `evaluate_one_at_a_time` makes one call per step per episode with B = 1, as
OGBench's reference evaluation does.

The default policy mimics the cost of a trained flow policy without training one: a Keras MLP
(3 x 256) applied 16 times (a 16-step Euler flow sampler) to (observation, goal, w, x, t), under
`tf.function` with a None batch dimension and XLA, so what is measured is what matters: the
per-call overhead against environment stepping. Both loops get a warm (compiled) policy.

Prints a table and a one-line summary; redirect it to benchmarks/results/eval_lockstep.txt to
keep it. Run it alone: two cores are shared.
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

from cfgrl_tf.envs import ogbench_goal  # noqa: E402

FLOW_STEPS = 16
HIDDEN = (256, 256, 256)


def load_policy(root_dir: str):
    """A trained run's policy (its latest checkpoint), exactly as `cfgrl-eval` calls it: the
    agent's sampler compiled with a None batch dimension. Returns (policy, label)."""
    from cfgrl_tf import run_dir  # noqa: PLC0415 - only needed for a trained run.

    run_dir.parse_run_config(root_dir)
    agent, step, _ = run_dir.restore_agent(root_dir)
    return agent.policy().numpy_sampler(), f"{agent.name} at step {step} from {root_dir}"


def mlp_policy(obs_dim: int, goal_dim: int, action_dim: int, jit: bool, seed: int):
    """The stand-in: 16 applications of a 3 x 256 MLP, like a 16-step flow sampler."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)  # The same random network (and successes) every run.
    layers = [keras.layers.Dense(h, activation="gelu") for h in HIDDEN]
    layers.append(keras.layers.Dense(action_dim))
    net = keras.Sequential([keras.Input((obs_dim + goal_dim + action_dim + 2,)), *layers])

    @tf.function(jit_compile=jit)
    def integrate(observations, goals, weights, noise):
        x, dt = noise, 1.0 / FLOW_STEPS
        cond = tf.concat([observations, goals, weights[:, None]], axis=1)
        for step in range(FLOW_STEPS):
            t = tf.fill([tf.shape(x)[0], 1], step * dt)
            x = x + dt * net(tf.concat([cond, x, t], axis=1))
        return tf.clip_by_value(x, -1.0, 1.0)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, obs_dim], tf.float32),
            tf.TensorSpec([None, goal_dim], tf.float32),
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([], tf.int64),
        ]
    )
    def sample(observations, goals, weights, seed):
        # Noise outside XLA, as the real sampler draws it (guidance.initial_noise).
        shape = [tf.shape(observations)[0], action_dim]
        noise = tf.random.stateless_normal(shape, seed=tf.stack([seed, tf.constant(0, tf.int64)]))
        return integrate(observations, goals, weights, noise)

    def policy(inputs, sweep_values, seed):
        observations, goals = inputs["observations"], inputs["goals"]
        return sample(observations, goals, sweep_values, np.int64(seed)).numpy()

    return policy


def controller_policy(inputs, sweep_values, seed):
    """Almost free: heads for the goal, scaled by w. Measures env stepping and the loop alone."""
    del seed
    heading = inputs["goals"] - inputs["observations"]
    return np.clip(sweep_values[:, None] * 5.0 * heading, -1.0, 1.0)


class Timed:
    """Counts a policy's calls and the seconds spent inside it."""

    def __init__(self, policy):
        self.policy, self.calls, self.seconds = policy, 0, 0.0

    def __call__(self, *args):
        start = time.perf_counter()
        out = self.policy(*args)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="pointmaze-medium-v0")
    parser.add_argument("--episodes", type=int, default=2, help="episodes per task")
    parser.add_argument("--tasks", default="1,2,3,4,5")
    parser.add_argument("--sweep", default="0.5,1,1.25,1.5,2,3", help="guidance weights")
    parser.add_argument("--max_episode_steps", type=int, default=None)
    parser.add_argument("--goal_key", default="observations", choices=ogbench_goal.GOAL_KEYS)
    parser.add_argument("--policy", default="mlp", choices=("mlp", "controller"))
    parser.add_argument("--no_jit", action="store_true", help="the MLP policy without XLA")
    parser.add_argument("--max_envs", type=int, default=None)
    parser.add_argument("--run_dir", default=None, help="a trained run (see load_policy)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    sweep = tuple(float(v) for v in args.sweep.split(","))
    tasks = tuple(int(t) for t in args.tasks.split(","))
    rollouts = len(tasks) * args.episodes * len(sweep)
    if args.run_dir:
        policy, label = load_policy(args.run_dir)
    elif args.policy == "mlp":
        obs_dim, goal_dim, action_dim = ogbench_goal.env_dims(args.env, args.goal_key)
        policy = mlp_policy(obs_dim, goal_dim, action_dim, jit=not args.no_jit, seed=args.seed)
        xla = "off" if args.no_jit else "on"
        label = f"MLP {len(HIDDEN)}x{HIDDEN[0]} x {FLOW_STEPS} steps, XLA {xla}"
        # Compile both batch sizes the loops start with, outside the timings.
        for batch in (1, rollouts):
            inputs = {
                "observations": np.zeros((batch, obs_dim), np.float32),
                "goals": np.zeros((batch, goal_dim), np.float32),
            }
            policy(inputs, np.zeros(batch, np.float32), 0)
    else:
        policy, label = controller_policy, "numpy controller"

    common = dict(
        sweep_values=sweep,
        task_ids=tasks,
        episodes_per_task=args.episodes,
        seed=args.seed,
        max_episode_steps=args.max_episode_steps,
        goal_key=args.goal_key,
        progress=False,
    )
    print(
        f"== {args.env}: {len(tasks)} tasks x {args.episodes} episodes x {len(sweep)} w = "
        f"{rollouts} rollouts; policy: {label}"
    )
    rows = {}
    for name, fn, extra in (
        ("lockstep (ours)", ogbench_goal.evaluate_lockstep, {"max_envs": args.max_envs}),
        ("one at a time", ogbench_goal.evaluate_one_at_a_time, {}),
    ):
        timed = Timed(policy)
        start = time.perf_counter()
        results = fn(args.env, timed, **common, **extra)
        wall = time.perf_counter() - start
        steps = sum(r.length for r in results)
        rows[name] = (wall, timed, steps, sum(r.success for r in results))
        print(f"  {name}: {wall:.1f} s", flush=True)

    ours = rows["lockstep (ours)"][0]
    header = (
        f"{'loop':<16} {'wall s':>7} {'calls':>7} {'ms/call':>8} {'policy s':>9} "
        f"{'rest s':>7} {'env steps/s':>12} {'successes':>10} {'vs ours':>8}"
    )
    print(header)
    for name, (wall, timed, steps, successes) in rows.items():
        print(
            f"{name:<16} {wall:>7.1f} {timed.calls:>7} {1e3 * timed.seconds / timed.calls:>8.2f} "
            f"{timed.seconds:>9.1f} {wall - timed.seconds:>7.1f} {steps / wall:>12.0f} "
            f"{successes:>6}/{rollouts:<3} {wall / ours:>7.1f}x"
        )
    slow = rows["one at a time"]
    print(
        f"\nSummary: lockstep is {slow[0] / ours:.1f}x faster than one at a time on {args.env} "
        f"({rollouts} rollouts, {label}): {rows['lockstep (ours)'][1].calls} policy calls "
        f"instead of {slow[1].calls}"
    )


if __name__ == "__main__":
    main()
