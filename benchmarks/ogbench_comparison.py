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

import argparse
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import ogbench_jobs  # noqa: E402  (benchmarks/, beside this file)

AGENTS = ("gcbc", "gcfbc", "cfgrl", "hgcfbc", "hcfgrl")
DATASETS = ("pointmaze-medium-navigate-v0", "cube-single-play-v0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.path.join(REPO, "runs", "ogbench_comparison"))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--agents", default=",".join(AGENTS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--num_steps", type=int, default=20000)
    parser.add_argument("--eval_episodes", type=int, default=10, help="episodes per task")
    parser.add_argument(
        "--episodes",
        default="pointmaze-medium-navigate-v0=1000,cube-single-play-v0=300",
        help="dataset=episodes to generate (others: OGBench's default)",
    )
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--out_dir", default=os.path.join(REPO, "benchmarks", "results"))
    args = parser.parse_args()

    from cfgrl_tf.eval import goal_summary  # noqa: PLC0415 - after sys.path is set.

    episodes = dict(item.split("=") for item in args.episodes.split(",") if item)
    datasets = args.datasets.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    started = time.perf_counter()
    jobs = []
    for dataset in datasets:
        data_dir = ogbench_jobs.prepare(
            dataset, args.root, int(episodes[dataset]) if dataset in episodes else None
        )
        for seed in seeds:
            for agent in args.agents.split(","):
                run_dir = os.path.join(args.root, "runs", dataset, agent, f"seed{seed}")
                jobs.append((dataset, agent, seed, data_dir, run_dir))
    bindings = [
        f"train.num_steps={args.num_steps}",
        f"OGBenchGoalSuite.episodes_per_task={args.eval_episodes}",
    ]
    ogbench_jobs.train_all(jobs, "ogbench", bindings, args.parallel)
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
