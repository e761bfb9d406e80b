"""Sampler latency and training throughput, each measured beside its peer in the same run.

  python benchmarks/sampler_and_train.py          # small (3x256, batch 256), paper (4x512, 1024)
  python benchmarks/sampler_and_train.py --sizes=small --repeats=20

Sampler: CFGRL's guided sampler draws one batch of actions with 10 Euler steps. Ours batches the
conditional and null halves into ONE network call per step and compiles the integration with
XLA. Peers, side by side: the same with XLA off; two network calls per step (cond, then null,
the straightforward way); and eager Keras (no tf.function at all).

Training: full CFGRL train steps (IQL critic + flow) through the Learner's compiled multi-step
loop, against the same with XLA off, and against one host round trip per step (steps_per_loop=1).
Also the input pipeline alone (batches/s), which must be far above the train step rate.

Prints a table and a one-line summary. Run it alone: two cores are shared.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
from bench_util import guided_sample, timed, tiny_dataset, train_rate  # noqa: E402

from cfgrl_tf.agents import CFGRLAgent, IQLCritic  # noqa: E402
from cfgrl_tf.data import reader  # noqa: E402
from cfgrl_tf.generative.guidance import guided_velocity  # noqa: E402
from cfgrl_tf.generative.noise import initial_noise  # noqa: E402

SIZES = {"small": ((256, 256, 256), 256), "paper": ((512, 512, 512, 512), 1024)}
OBS_DIM, ACTION_DIM, FLOW_STEPS = 17, 6, 10


def two_call_integrate(field, observations, noise, labels, w, num_flow_steps):
    """The peer: conditional and null velocities from two separate network calls per step."""
    x, dt = noise, 1.0 / num_flow_steps
    ones = tf.ones(tf.shape(labels))
    for step in range(num_flow_steps):
        times = tf.fill(tf.shape(labels), step * dt)
        base = {"observations": observations, "noisy_actions": x, "times": times}
        v_cond = field({**base, "labels": labels, "condition_mask": ones})
        v_null = field({**base, "labels": labels, "condition_mask": 0.0 * ones})
        x = x + dt * guided_velocity(v_cond, v_null, w)
    return tf.clip_by_value(x, -1.0, 1.0)


def bench_sampler(hidden, batch, repeats):
    agent = CFGRLAgent(OBS_DIM, ACTION_DIM, critic=IQLCritic((32,)), hidden_dims=hidden)
    agent.build()
    field = agent.flow.sampling
    obs = tf.random.normal([batch, OBS_DIM])
    labels = tf.fill([batch], 2)
    w = tf.fill([batch], 1.5)
    seed = tf.constant(0, tf.int64)

    def ours(jit):
        fn = tf.function(lambda o, lab, g, s: guided_sample(field, o, lab, g, s, FLOW_STEPS, jit))
        return lambda: fn(obs, labels, w, seed)

    def two_calls(jit):
        inner = tf.function(
            lambda o, n, lab, g: two_call_integrate(field, o, n, lab, g, FLOW_STEPS),
            jit_compile=jit,
        )
        outer = tf.function(
            lambda o, lab, g, s: inner(o, initial_noise(tf.shape(o)[0], ACTION_DIM, s), lab, g)
        )
        return lambda: outer(obs, labels, w, seed)

    def eager():
        return guided_sample(field, obs, labels, w, seed, FLOW_STEPS)

    rows = {
        "one call/step, XLA (ours)": timed(ours(True), repeats),
        "one call/step, no XLA": timed(ours(False), repeats),
        "two calls/step, XLA": timed(two_calls(True), repeats),
        "two calls/step, no XLA": timed(two_calls(False), repeats),
        "eager Keras": timed(eager, max(3, repeats // 5)),
    }
    return rows


def bench_train(hidden, batch, steps, dataset, workdir, size):
    def agent_fn(**dims):
        return CFGRLAgent(critic=IQLCritic(hidden), hidden_dims=hidden, **dims)

    def rate(jit, steps_per_loop, tag):
        folder = os.path.join(workdir, f"{size}-{tag}")
        return train_rate(agent_fn, dataset, folder, batch, steps, steps_per_loop, jit)

    loop = min(steps, 50)
    return {
        f"XLA, {loop} steps/loop (ours)": rate(True, loop, "xla"),
        f"no XLA, {loop} steps/loop": rate(False, loop, "noxla"),
        "XLA, 1 step/loop": rate(True, 1, "xla1"),
    }


def bench_input(dataset, batch, n=2000):
    it = iter(reader.make_batch_dataset(dataset.arrays, batch, seed=0))
    next(it)
    start = time.perf_counter()
    for _ in range(n):
        next(it)
    return n / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="small,paper")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--train_steps", type=int, default=200)
    args = parser.parse_args()
    summary = []
    with tempfile.TemporaryDirectory() as workdir:
        dataset = tiny_dataset(os.path.join(workdir, "data"), OBS_DIM, ACTION_DIM)
        for size in args.sizes.split(","):
            hidden, batch = SIZES[size]
            label = f"{size} ({len(hidden)}x{hidden[0]}, batch {batch})"
            print(
                f"\n== {label}: guided sampler, {FLOW_STEPS} flow steps, {batch} actions per call"
            )
            rows = bench_sampler(hidden, batch, args.repeats)
            ours = rows["one call/step, XLA (ours)"]
            print(f"{'variant':<28} {'ms/batch':>9} {'actions/s':>11} {'vs ours':>8}")
            for name, sec in rows.items():
                print(f"{name:<28} {sec * 1e3:>9.2f} {batch / sec:>11.0f} {sec / ours:>7.2f}x")
            summary.append(
                f"{size}: sampler {ours * 1e3:.1f} ms/batch "
                f"({rows['two calls/step, XLA'] / ours:.2f}x faster than two calls, "
                f"{rows['eager Keras'] / ours:.0f}x faster than eager)"
            )

            steps = args.train_steps if size == "small" else max(20, args.train_steps // 10)
            print(f"\n== {label}: CFGRL train steps (critic + flow), {steps} timed steps")
            train = bench_train(hidden, batch, steps, dataset, workdir, size)
            best = next(iter(train.values()))
            print(f"{'variant':<28} {'steps/s':>9} {'vs ours':>8}")
            for name, r in train.items():
                print(f"{name:<28} {r:>9.1f} {r / best:>7.2f}x")
            pipeline = bench_input(dataset, batch)
            print(
                f"{'input pipeline alone':<28} {pipeline:>9.0f} batches/s "
                f"({pipeline / best:.0f}x the train step rate)"
            )
            summary.append(
                f"{size}: {best:.1f} train steps/s, input pipeline {pipeline / best:.0f}x faster"
            )
    print("\nSummary: " + "; ".join(summary))


if __name__ == "__main__":
    main()
