"""The goal-conditioned comparison: GCBC, GCFBC, CFGRL, HGCFBC, HCFGRL on OGBench, several seeds.

For each dataset: generate it with OGBench's oracles (cfgrl-generate), convert it (cfgrl-convert),
train every agent with every seed (cfgrl-train with the CPU-scale gin files, which evaluate at the
end over OGBench's 5 tasks and the w sweep), then summarise: success per agent and w (mean and sd
over seeds), the CFGRL checks, and one plot per dataset. Everything goes through the same binaries
a user runs; every run dir is a normal, resumable cfgrl-train root dir, and finished runs are
reused when the command is repeated.

  python benchmarks/ogbench_comparison.py                       # the results in benchmarks/results
  python benchmarks/ogbench_comparison.py --num_steps=100000    # the full CPU-scale step count

Two runs train at a time (one per core), each with one intra-op thread.
"""

from __future__ import annotations

import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import comparison_jobs  # noqa: E402  (benchmarks/, beside this file)

AGENTS = ("gcbc", "gcfbc", "cfgrl", "hgcfbc", "hcfgrl")
DATASETS = ("pointmaze-medium-navigate-v0", "cube-single-play-v0")


def main() -> None:
    args = comparison_jobs.parser(
        __doc__,
        "ogbench_comparison",
        datasets=DATASETS,
        agents=AGENTS,
        num_steps=20000,
        eval_episodes=10,
        episodes="pointmaze-medium-navigate-v0=1000,cube-single-play-v0=300",
    ).parse_args()

    from cfgrl_tf.eval import goal_summary  # noqa: PLC0415 - after sys.path is set.

    started = time.perf_counter()
    jobs = comparison_jobs.plan(args)
    bindings = [
        f"OGBenchGoalSuite.episodes_per_task={args.eval_episodes}",
        *args.gin_bindings,
    ]
    comparison_jobs.train_all(jobs, "ogbench", args.num_steps, bindings, args.parallel)
    runs = {(d, a, s): r for d, a, s, _, r in jobs}
    header = (
        f"python benchmarks/ogbench_comparison.py --num_steps={args.num_steps} "
        f"--eval_episodes={args.eval_episodes} --seeds={args.seeds} --episodes={args.episodes}\n"
        f"wall time {time.perf_counter() - started:.0f}s on {os.cpu_count()} CPU cores\n"
    )
    text = goal_summary.summarize_goal_runs(
        runs, args.out_dir, prefix="ogbench_comparison", header=header
    )
    print(text, flush=True)


if __name__ == "__main__":
    main()
