"""Offline RL on ExORL-style data (the paper's Table 1): CFGRL over w against IQL+AWR, by return.

For each task: collect its domain's reward-free data once (cfgrl-generate with
pipelines/exorl/<domain>-<algorithm>.gin, `--transitions` per domain), relabel it with the
task's rewards (cfgrl-convert, exorl/convert.gin), train CFGRL and IQL+AWR with every seed
(cfgrl-train with gin/exorl/*.gin: the paper's ExORL variant of CFGRL, evaluated at the end over
w = 1 ... 100 and the AWR temperatures, 1000-step episodes from the same initial states at
every knob value), then summarise by mean return: per agent and knob value (mean and sd over
seeds), each method at its best, the paper's two checks, one plot per task. Everything goes
through the binaries a user runs; finished steps are reused when the command is repeated.

  python benchmarks/exorl_singletask.py                          # walker stand/walk, cheetah run
  python benchmarks/exorl_singletask.py --tasks=walker_walk --seeds=0 --num_steps=2000 \
    --transitions=20000 --eval_episodes=2                        # a smoke run in minutes
  python benchmarks/exorl_singletask.py --seeds=1,2 \
    --include_summary=benchmarks/results/exorl_singletask_seed0_summary.csv

Two runs train at a time (one per core), each with one intra-op thread; collection uses both
cores (two explorer processes).
"""

from __future__ import annotations

import math
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import comparison_jobs  # noqa: E402  (benchmarks/, beside this file)

AGENTS = ("cfgrl", "iql_awr")
TASKS = ("walker_stand", "walker_walk", "cheetah_run")
# Steps per episode of each domain (its time limit), for the completeness check of a collection.
EPISODE_STEPS = {"walker": 1000, "quadruped": 1000, "cheetah": 1000, "jaco": 250}


def collect(domain: str, algorithm: str, transitions: int, root: str) -> str:
    """Collects `<root>/raw/<domain>/<algorithm>` unless a complete collection is there; returns
    that folder.

    Raises:
      SystemExit: a buffer holding some but not all of the episodes asked for (an interrupted
        collection): it is left alone for the user to remove.
    """
    raw = os.path.join(root, "raw")
    folder = os.path.join(raw, domain, algorithm)
    buffer = os.path.join(folder, "buffer")
    expected = math.ceil(transitions / EPISODE_STEPS[domain])
    found = (
        len([n for n in os.listdir(buffer) if n.endswith(".npz")]) if os.path.isdir(buffer) else 0
    )
    if found == expected:
        return folder
    if found:
        raise SystemExit(
            f"error: {buffer} holds {found} of the {expected} episodes asked for (an interrupted "
            "or different collection); remove it, or pass the --transitions it was collected with"
        )
    print(f"[collect] {domain} {algorithm}: {transitions} transitions", flush=True)
    comparison_jobs.run(
        [
            "cfgrl-generate",
            f"--gin_file=exorl/{domain}-{algorithm}.gin",
            f"--output_dir={raw}",
            f"--gin_bindings=generate_exorl.num_transitions={transitions}",
        ],
        os.path.join(root, "logs", f"collect-{domain}-{algorithm}.txt"),
    )
    return folder


def convert(task: str, folder: str, algorithm: str, root: str) -> str:
    """Relabels `folder` with `task`'s rewards; returns the dataset directory."""
    data_dir = os.path.join(root, "data", f"exorl-{algorithm}-{task}")
    if not os.path.exists(os.path.join(data_dir, "dataset_info.json")):
        print(f"[convert] {task}", flush=True)
        comparison_jobs.run(
            [
                "cfgrl-convert",
                "--gin_file=exorl/convert.gin",
                f"--output_dir={data_dir}",
                f"--gin_bindings=exorl_source.path='{folder}'",
                f"--gin_bindings=exorl_source.task='{task}'",
            ],
            os.path.join(root, "logs", f"convert-{task}.txt"),
        )
    return data_dir


def main() -> None:
    flags = comparison_jobs.parser(
        __doc__,
        "exorl_singletask",
        datasets=TASKS,
        agents=AGENTS,
        num_steps=100000,
        eval_episodes=10,
        seed_summaries=True,
    )
    flags.add_argument("--tasks", dest="datasets", help="dm_control tasks, comma-separated")
    flags.add_argument("--algorithm", default="rnd", help="the exploration data: rnd or random")
    flags.add_argument(
        "--transitions", type=int, default=1_000_000, help="transitions collected per domain"
    )
    args = flags.parse_args()

    from cfgrl_tf.eval import task_summary  # noqa: PLC0415 - after sys.path is set.

    started = time.perf_counter()
    seeds = [int(s) for s in args.seeds.split(",") if s]
    jobs = []
    for task in args.datasets.split(",") if seeds else ():
        domain = task.split("_")[0]
        if domain not in EPISODE_STEPS:
            raise SystemExit(f"--tasks: {task!r} is not a task of {', '.join(EPISODE_STEPS)}")
        folder = collect(domain, args.algorithm, args.transitions, args.root)
        data_dir = convert(task, folder, args.algorithm, args.root)
        for seed in seeds:
            for agent in args.agents.split(","):
                run_dir = os.path.join(args.root, "runs", task, agent, f"seed{seed}")
                jobs.append((task, agent, seed, data_dir, run_dir))
    comparison_jobs.check_work(jobs, args)
    bindings = [f"DMCSuite.episodes={args.eval_episodes}", *args.gin_bindings]
    comparison_jobs.train_all(jobs, "exorl", args.num_steps, bindings, args.parallel)
    runs = {(t, a, s): r for t, a, s, _, r in jobs}
    names = ("datasets", "agents", "algorithm", "transitions", "num_steps", "eval_episodes")
    header = comparison_jobs.header(
        "exorl_singletask.py", args, (*names, "seeds", "parallel"), started
    )
    earlier = task_summary.read_summaries(args.include_summary)
    text = task_summary.summarize_task_runs(
        runs, args.out_dir, prefix="exorl_singletask", header=header, earlier=earlier,
        metric="return",
    )  # fmt: skip
    print(text, flush=True)


if __name__ == "__main__":
    main()
