"""Goal-conditioned input pipeline (fresh goal draws per batch) against the train steps it feeds.

  python benchmarks/goal_pipeline.py    # default: the comparison's pointmaze dataset

For a converted OGBench dataset: the tf.data pipeline that samples transitions AND draws their
goals and subgoal targets (cfgrl_tf/data/goals.py) in batches/s, side by side with the train
steps/s of GCBC, GCFBC, CFGRL and HCFGRL through the Learner's compiled loop, at the CPU scale
(3x256, batch 256) and the paper's (4x512, batch 1024). The pipeline must run far faster than the
train step. Also the same pipeline without goal draws, to show what the draws cost.

Prints a table and a summary line. Run it alone: two cores are shared.
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from cfgrl_tf import agents  # noqa: E402
from cfgrl_tf.data import reader  # noqa: E402
from cfgrl_tf.data.goals import GoalSampler  # noqa: E402
from cfgrl_tf.learner import Learner  # noqa: E402

SIZES = {"cpu": ((256, 256, 256), 256), "paper": ((512, 512, 512, 512), 1024)}
AGENTS = {
    "GCBC": agents.GCBCAgent,
    "GCFBC": agents.GCFBCAgent,
    "CFGRL": agents.GCCFGRLAgent,
    "HCFGRL": agents.HCFGRLAgent,
}


def pipeline_rate(arrays, batch, goal_sampler, n):
    it = iter(reader.make_batch_dataset(arrays, batch, seed=0, goal_sampler=goal_sampler))
    for _ in range(20):
        next(it)
    start = time.perf_counter()
    for _ in range(n):
        next(it)
    return n / (time.perf_counter() - start)


def train_rate(cls, hidden, batch, steps, dataset, workdir):
    learner = Learner(
        functools.partial(cls, hidden_dims=hidden),
        dataset,
        workdir,
        tf.distribute.get_strategy(),
        batch_size=batch,
        seed=0,
        steps_per_loop=min(steps, 100),
        checkpoint_interval=10**9,
        jit_compile=True,
        goal_sampler=GoalSampler(),
    )
    warm = min(steps, 100)
    learner.train(warm, log_interval=10**9)  # compile
    start = time.perf_counter()
    learner.train(warm + steps, log_interval=10**9)
    return steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dataset_dir",
        default=os.path.join("runs", "ogbench_comparison", "data", "pointmaze-medium-navigate-v0"),
    )
    parser.add_argument("--sizes", default="cpu,paper")
    parser.add_argument("--train_steps", type=int, default=300)
    parser.add_argument("--pipeline_batches", type=int, default=1000)
    args = parser.parse_args()
    dataset = reader.load_dataset(args.dataset_dir)
    print(
        f"dataset {args.dataset_dir}: {dataset.num_records} transitions "
        f"({dataset.info.source.get('name')})"
    )
    summary = []
    with tempfile.TemporaryDirectory() as workdir:
        for size in args.sizes.split(","):
            hidden, batch = SIZES[size]
            steps = args.train_steps if size == "cpu" else max(30, args.train_steps // 5)
            label = f"{size} ({len(hidden)}x{hidden[0]}, batch {batch})"
            with_goals = pipeline_rate(dataset.arrays, batch, GoalSampler(), args.pipeline_batches)
            without = pipeline_rate(dataset.arrays, batch, None, args.pipeline_batches)
            print(f"\n== {label}")
            print(f"{'what':<34} {'per second':>11} {'pipeline / this':>16}")
            print(f"{'input pipeline with goal draws':<34} {with_goals:>11.0f} {'':>16}")
            print(f"{'input pipeline without goals':<34} {without:>11.0f} {'':>16}")
            fastest = 0.0
            for name, cls in AGENTS.items():
                rate = train_rate(
                    cls, hidden, batch, steps, dataset, os.path.join(workdir, f"{size}-{name}")
                )
                fastest = max(fastest, rate)
                print(f"{name + ' train steps':<34} {rate:>11.1f} {with_goals / rate:>15.0f}x")
            summary.append(
                f"{size}: pipeline {with_goals:.0f} batches/s with goal draws, "
                f"{with_goals / fastest:.0f}x the fastest agent's {fastest:.0f} train steps/s"
            )
    print("\nSummary: " + "; ".join(summary))


if __name__ == "__main__":
    main()
