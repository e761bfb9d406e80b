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
import concurrent.futures
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

AGENTS = ("gcbc", "gcfbc", "cfgrl", "hgcfbc", "hcfgrl")
DATASETS = ("pointmaze-medium-navigate-v0", "cube-single-play-v0")


def _run(cmd: list[str], log_path: str, threads: int | None = None) -> None:
    env = dict(os.environ)
    if threads:
        env["TF_NUM_INTRAOP_THREADS"] = str(threads)
        env["TF_NUM_INTEROP_THREADS"] = str(threads)
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        result = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
    if result.returncode:
        raise RuntimeError(f"{cmd[0]} failed (exit {result.returncode}); see {log_path}")


def _prepare(dataset: str, root: str, episodes: int | None) -> str:
    raw_dir = os.path.join(root, "raw")
    data_dir = os.path.join(root, "data", dataset)
    npz = os.path.join(raw_dir, f"{dataset}.npz")
    pipeline = dataset.removesuffix("-v0")
    if not os.path.exists(npz):
        bindings = [f"generate_ogbench.num_episodes={episodes}"] if episodes else []
        print(f"[generate] {dataset} ({episodes or 'default'} episodes)", flush=True)
        _run(
            [
                "cfgrl-generate",
                f"--gin_file=ogbench/{pipeline}.gin",
                f"--output_dir={raw_dir}",
                *(f"--gin_bindings={b}" for b in bindings),
            ],
            os.path.join(root, "logs", f"generate-{dataset}.txt"),
        )
    if not os.path.exists(os.path.join(data_dir, "dataset_info.json")):
        print(f"[convert] {dataset}", flush=True)
        _run(
            [
                "cfgrl-convert",
                "--gin_file=ogbench/convert.gin",
                f"--output_dir={data_dir}",
                f"--gin_bindings=ogbench_source.path='{npz}'",
            ],
            os.path.join(root, "logs", f"convert-{dataset}.txt"),
        )
    return data_dir


def _train(job: tuple, args) -> tuple:
    dataset, agent, seed, data_dir, run_dir = job
    if os.path.exists(os.path.join(run_dir, "eval", "sweep.csv")):
        return job, 0.0
    started = time.perf_counter()
    _run(
        [
            "cfgrl-train",
            f"--gin_file=ogbench/{agent}.gin",
            f"--root_dir={run_dir}",
            f"--gin_bindings=train.dataset_dir='{data_dir}'",
            f"--gin_bindings=train.seed={seed}",
            f"--gin_bindings=train.num_steps={args.num_steps}",
            f"--gin_bindings=OGBenchGoalSuite.episodes_per_task={args.eval_episodes}",
        ],
        os.path.join(run_dir, "log.txt"),
        threads=1 if args.parallel > 1 else None,
    )
    return job, time.perf_counter() - started


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
        data_dir = _prepare(
            dataset, args.root, int(episodes[dataset]) if dataset in episodes else None
        )
        for seed in seeds:
            for agent in args.agents.split(","):
                run_dir = os.path.join(args.root, "runs", dataset, agent, f"seed{seed}")
                jobs.append((dataset, agent, seed, data_dir, run_dir))
    print(f"{len(jobs)} runs, {args.parallel} at a time", flush=True)
    with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
        futures = [pool.submit(_train, job, args) for job in jobs]
        for i, future in enumerate(concurrent.futures.as_completed(futures), 1):
            (dataset, agent, seed, _, run_dir), seconds = future.result()
            print(f"[{i}/{len(jobs)}] {dataset} {agent} seed {seed}: {seconds:.0f}s", flush=True)
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
