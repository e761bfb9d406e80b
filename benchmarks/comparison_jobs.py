"""What the comparison drivers share: generate, convert and train through the binaries.

Every step runs the binary a user runs (cfgrl-generate, cfgrl-convert, cfgrl-train) with its log
in the run's folder; finished steps are skipped, so a repeated command resumes the comparison.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import subprocess
import time
from collections.abc import Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parser(
    doc: str,
    name: str,
    *,
    datasets: Sequence[str],
    agents: Sequence[str],
    num_steps: int,
    eval_episodes: int,
    episodes: str = "",
    seed_summaries: bool = False,
) -> argparse.ArgumentParser:
    """The flags every comparison driver takes, with its own defaults; with `seed_summaries`,
    --include_summary (seeds read from earlier one-seed summaries)."""
    out = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    out.add_argument("--root", default=os.path.join(REPO, "runs", name))
    out.add_argument("--datasets", default=",".join(datasets))
    out.add_argument("--agents", default=",".join(agents))
    out.add_argument("--seeds", default="0,1,2")
    out.add_argument("--num_steps", type=int, default=num_steps)
    out.add_argument("--eval_episodes", type=int, default=eval_episodes)
    out.add_argument(
        "--episodes",
        default=episodes,
        help="dataset=episodes to generate, comma-separated (others: OGBench's default)",
    )
    out.add_argument("--parallel", type=int, default=2)
    out.add_argument(
        "--gin_bindings",
        action="append",
        default=[],
        help="an extra gin binding for every training run (repeatable), e.g. "
        "train.eval_interval=25000",
    )
    out.add_argument("--out_dir", default=os.path.join(REPO, "benchmarks", "results"))
    if not seed_summaries:
        return out
    out.add_argument(
        "--include_summary",
        action="append",
        default=[],
        help="an earlier one-seed <prefix>_summary.csv whose seed joins the runs' seeds (run "
        "with the same code and flags; its seed must not be among --seeds); repeatable",
    )
    return out


def check_work(jobs: Sequence[tuple], args: argparse.Namespace) -> None:
    """Stops with a message when there is nothing to train and no earlier seed to summarise."""
    if not jobs and not getattr(args, "include_summary", []):
        raise SystemExit("error: nothing to summarise: --seeds is empty and no --include_summary")


def header(script: str, args: argparse.Namespace, names: Sequence[str], started: float) -> str:
    """The summary's first lines: the command that made it (the flags `names`, then every
    --gin_bindings and --include_summary) and the wall time since `started`."""
    flags = [f"--{name}={getattr(args, name)}" for name in names]
    flags += [f"--gin_bindings={b}" for b in args.gin_bindings]
    flags += [f"--include_summary={p}" for p in getattr(args, "include_summary", [])]
    return (
        f"python benchmarks/{script} {' '.join(flags)}\n"
        f"wall time {time.perf_counter() - started:.0f}s on {os.cpu_count()} CPU cores\n"
    )


def plan(args: argparse.Namespace, data_name=lambda dataset: dataset, **convert) -> list[tuple]:
    """Prepares every dataset (`prepare` with `convert`) and lists the (dataset, agent, seed,
    data_dir, run_dir) jobs of the flags."""
    episodes = dict(item.split("=") for item in args.episodes.split(",") if item)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    jobs = []
    # No seeds to train (every seed read from earlier summaries): no data to prepare either.
    for dataset in args.datasets.split(",") if seeds else ():
        count = int(episodes[dataset]) if dataset in episodes else None
        data_dir = prepare(dataset, args.root, count, data_name=data_name(dataset), **convert)
        for seed in seeds:
            for agent in args.agents.split(","):
                run_dir = os.path.join(args.root, "runs", dataset, agent, f"seed{seed}")
                jobs.append((dataset, agent, seed, data_dir, run_dir))
    return jobs


def run(cmd: list[str], log_path: str, threads: int | None = None) -> None:
    """Runs `cmd` with its output appended to `log_path` (and TF's thread counts if given)."""
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


def prepare(
    dataset: str,
    root: str,
    episodes: int | None,
    *,
    convert_gin: str = "ogbench/convert.gin",
    source: str = "ogbench_source",
    data_name: str | None = None,
) -> str:
    """Generates `<root>/raw/<dataset>.npz` and converts it; returns the dataset directory."""
    raw_dir = os.path.join(root, "raw")
    npz = os.path.join(raw_dir, f"{dataset}.npz")
    data_dir = os.path.join(root, "data", data_name or dataset)
    if not os.path.exists(npz):
        bindings = [f"generate_ogbench.num_episodes={episodes}"] if episodes else []
        print(f"[generate] {dataset} ({episodes or 'default'} episodes)", flush=True)
        run(
            [
                "cfgrl-generate",
                f"--gin_file=ogbench/{dataset.removesuffix('-v0')}.gin",
                f"--output_dir={raw_dir}",
                *(f"--gin_bindings={b}" for b in bindings),
            ],
            os.path.join(root, "logs", f"generate-{dataset}.txt"),
        )
    if not os.path.exists(os.path.join(data_dir, "dataset_info.json")):
        print(f"[convert] {dataset} with {convert_gin}", flush=True)
        run(
            [
                "cfgrl-convert",
                f"--gin_file={convert_gin}",
                f"--output_dir={data_dir}",
                f"--gin_bindings={source}.path='{npz}'",
            ],
            os.path.join(root, "logs", f"convert-{os.path.basename(data_dir)}.txt"),
        )
    return data_dir


def finished(run_dir: str, num_steps: int) -> bool:
    """Whether the run was evaluated at its end and its last checkpoint is at `num_steps` (or
    later)."""
    if not os.path.exists(os.path.join(run_dir, "eval", "sweep.csv")):
        return False
    folder = os.path.join(run_dir, "checkpoints")
    names = os.listdir(folder) if os.path.isdir(folder) else []
    steps = [int(n[5:-6]) for n in names if n.startswith("ckpt-") and n.endswith(".index")]
    return bool(steps) and max(steps) >= num_steps


def train_all(
    jobs: Sequence[tuple], gin_dir: str, num_steps: int, bindings: Sequence[str], parallel: int
) -> None:
    """Trains every (dataset, agent, seed, data_dir, run_dir) job, `parallel` at a time (one
    intra-op thread each when more than one), skipping runs already trained to the step asked
    for and evaluated there; a run trained to fewer steps resumes from its last checkpoint."""

    def train(job: tuple) -> tuple:
        _, agent, seed, data_dir, run_dir = job
        if finished(run_dir, num_steps):
            return job, 0.0
        started = time.perf_counter()
        run(
            [
                "cfgrl-train",
                f"--gin_file={gin_dir}/{agent}.gin",
                f"--root_dir={run_dir}",
                f"--gin_bindings=train.dataset_dir='{data_dir}'",
                f"--gin_bindings=train.seed={seed}",
                f"--gin_bindings=train.num_steps={num_steps}",
                *(f"--gin_bindings={b}" for b in bindings),
            ],
            os.path.join(run_dir, "log.txt"),
            threads=1 if parallel > 1 else None,
        )
        return job, time.perf_counter() - started

    print(f"{len(jobs)} runs, {parallel} at a time", flush=True)
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        futures = [pool.submit(train, job) for job in jobs]
        for i, future in enumerate(concurrent.futures.as_completed(futures), 1):
            (dataset, agent, seed, _, _), seconds = future.result()
            print(f"[{i}/{len(jobs)}] {dataset} {agent} seed {seed}: {seconds:.0f}s", flush=True)
