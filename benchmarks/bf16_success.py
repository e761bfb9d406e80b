"""What bfloat16 does to success: flat CFGRL on pointmaze-medium-navigate, the quickstart's budget.

  python benchmarks/bf16_success.py                         # 3 seeds x 2 precisions, ~40 min
  python benchmarks/bf16_success.py --seeds=0 --out_dir=/tmp/bf16

Each run is the quickstart itself, one per (precision, seed):

  cfgrl-quickstart --agents=cfgrl --root_dir=<root>/<precision>_s<seed> \
    --gin_bindings=train.seed=<seed> --gin_bindings="hidden_precision.precision='<precision>'"

(20k steps, OGBench's 5 tasks x 10 episodes per w; the dataset is generated once, in the first
run's folder, and linked into the others). Finished runs are reused, so the command resumes.
Runs go `--parallel` at a time, one intra-op thread each when more than one. The summary
(`<out_dir>/bf16_success_summary.txt/.csv` and a plot) gives success per w for each precision
(mean and sd over seeds) and, per w, the paired difference bfloat16 - float32 (same seed, same
evaluation episodes) with its sd, said to be inside or outside that spread.

Speed is another benchmark's: benchmarks/train_variants.py (variants tf_data and bf16).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os

import comparison_jobs

from cfgrl_tf.eval import goal_summary

DATASET = "pointmaze-medium-navigate-v0"
PRECISIONS = ("float32", "mixed_bfloat16")


def run_quickstart(root: str, precision: str, seed: int, threads: int | None) -> str:
    """One quickstart run (skipped when its evaluation exists); returns its run folder."""
    folder = os.path.join(root, f"{precision}_s{seed}")
    run_dir = os.path.join(folder, "runs", DATASET, "cfgrl")
    if os.path.exists(os.path.join(run_dir, "eval", "sweep.csv")):
        return run_dir
    cmd = [
        "cfgrl-quickstart",
        "--agents=cfgrl",
        f"--root_dir={folder}",
        f"--gin_bindings=train.seed={seed}",
        f"--gin_bindings=hidden_precision.precision='{precision}'",
    ]
    comparison_jobs.run(cmd, folder + ".log", threads)
    return run_dir


def link_dataset(root: str, first: str, folder: str) -> None:
    """Points `folder`'s dataset at the one `first` generated."""
    source = os.path.join(root, first, "data", DATASET)
    target = os.path.join(root, folder, "data", DATASET)
    if not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.symlink(source, target)


def paired_lines(runs: dict) -> list[str]:
    """Per w: bfloat16 - float32, paired by seed, mean and sd, against that sd."""
    sweeps = {key: goal_summary.overall_success(run_dir) for key, run_dir in runs.items()}
    seeds = sorted({seed for _, _, seed in runs})
    lines = ["paired difference bfloat16 - float32 (same seed, same evaluation episodes):"]
    for w in sorted(next(iter(sweeps.values()))):
        diffs = [
            sweeps[(DATASET, "cfgrl_bf16", s)][w] - sweeps[(DATASET, "cfgrl_f32", s)][w]
            for s in seeds
        ]
        mean, sd = goal_summary.seed_stats(diffs)
        mean = round(mean, 9) + 0.0  # no "-0.000"
        lines.append(
            f"  w={w:g}: {mean:+.3f} (sd {goal_summary.format_sd(sd)}; per seed "
            f"{', '.join(f'{round(d, 9) + 0.0:+.3f}' for d in diffs)}): "
            f"{'outside' if abs(mean) > sd else 'inside'} the spread"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=os.path.join(comparison_jobs.REPO, "runs", "bf16"))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument(
        "--out_dir", default=os.path.join(comparison_jobs.REPO, "benchmarks", "results")
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if not seeds:
        parser.error("--seeds: at least one seed")
    root = os.path.abspath(args.root)
    jobs = [(p, s) for s in seeds for p in PRECISIONS]
    first = f"{jobs[0][0]}_s{jobs[0][1]}"
    threads = 1 if args.parallel > 1 else None
    # The first run generates the dataset; the others link to it and go `--parallel` at a time.
    run_dirs = {jobs[0]: run_quickstart(root, *jobs[0], threads=None)}
    for precision, seed in jobs[1:]:
        link_dataset(root, first, f"{precision}_s{seed}")
    with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
        futures = {job: pool.submit(run_quickstart, root, *job, threads) for job in jobs[1:]}
        for job, future in futures.items():
            run_dirs[job] = future.result()
            print(f"done: {job[0]} seed {job[1]}", flush=True)
    names = {"float32": "cfgrl_f32", "mixed_bfloat16": "cfgrl_bf16"}
    runs = {(DATASET, names[p], s): run_dirs[(p, s)] for p, s in jobs}
    header = (
        f"python benchmarks/bf16_success.py --seeds={args.seeds}\n"
        "flat CFGRL, CPU scale (3x256, batch 256), the quickstart's 20k steps, 5 tasks x 10 "
        "episodes per w; cfgrl_bf16: hidden_precision.precision='mixed_bfloat16'\n"
    )
    text = goal_summary.summarize_goal_runs(runs, args.out_dir, "bf16_success", header)
    extra = "\n".join(paired_lines(runs)) + "\n"
    with open(os.path.join(args.out_dir, "bf16_success_summary.txt"), "a", encoding="utf-8") as f:
        f.write(extra)
    print(text + extra)


if __name__ == "__main__":
    main()
