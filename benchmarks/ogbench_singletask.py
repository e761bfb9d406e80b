"""Offline RL on OGBench single-task: CFGRL over w against IQL+AWR over temperatures, 3 seeds.

For each dataset: generate it with OGBench's oracles (cfgrl-generate), convert it with the
default task's rewards (cfgrl-convert, ogbench/convert_singletask.gin), train CFGRL and IQL+AWR
with every seed (cfgrl-train with gin/ogbench_singletask/*.gin, which evaluate at the end: 50
episodes per knob value, the same starts at every value), then summarise: success per agent and
knob value (mean and sd over seeds), the paper's two checks, one plot per dataset. Everything
goes through the binaries a user runs; finished runs are reused when the command is repeated.

  python benchmarks/ogbench_singletask.py                        # the results in benchmarks/results
  python benchmarks/ogbench_singletask.py --num_steps=100000     # the configs' full step count
  python benchmarks/ogbench_singletask.py --seeds=1,2 \
    --include_summary=benchmarks/results/ogbench_singletask_100k_seed0_summary.csv
      # seeds 1 and 2 trained here, seed 0 read from an earlier one-seed summary

Two runs train at a time (one per core), each with one intra-op thread.
"""

from __future__ import annotations

import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import comparison_jobs  # noqa: E402  (benchmarks/, beside this file)

AGENTS = ("cfgrl", "iql_awr")
DATASETS = ("pointmaze-large-navigate-v0", "cube-single-play-v0")


def main() -> None:
    flags = comparison_jobs.parser(
        __doc__,
        "ogbench_singletask",
        datasets=DATASETS,
        agents=AGENTS,
        num_steps=100000,
        eval_episodes=50,
        seed_summaries=True,
    )
    args = flags.parse_args()

    from cfgrl_tf.eval import task_summary  # noqa: PLC0415 - after sys.path is set.

    started = time.perf_counter()
    jobs = comparison_jobs.plan(
        args,
        data_name=lambda dataset: dataset.replace("-v0", "-singletask-v0"),
        convert_gin="ogbench/convert_singletask.gin",
        source="ogbench_singletask_source",
    )
    comparison_jobs.check_work(jobs, args)
    bindings = [
        f"OGBenchTaskSuite.episodes={args.eval_episodes}",
        *args.gin_bindings,
    ]
    comparison_jobs.train_all(jobs, "ogbench_singletask", args.num_steps, bindings, args.parallel)
    runs = {(d, a, s): r for d, a, s, _, r in jobs}
    names = ("datasets", "agents", "num_steps", "eval_episodes", "seeds", "episodes", "parallel")
    header = comparison_jobs.header("ogbench_singletask.py", args, names, started)
    earlier = task_summary.read_summaries(args.include_summary)
    text = task_summary.summarize_task_runs(runs, args.out_dir, header=header, earlier=earlier)
    print(text, flush=True)


if __name__ == "__main__":
    main()
