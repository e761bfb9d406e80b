r"""ExORL-style collection speed: random and RND, with 1 and 2 workers, projected to 1M transitions.

  python benchmarks/exorl_collect_speed.py                 # 1M walker transitions per run: hours
  python benchmarks/exorl_collect_speed.py --algorithms=rnd --workers=2   # the issue's target
  python benchmarks/exorl_collect_speed.py --num_transitions=8000 --episode_length=250 \
    --num_seed_frames=1000                                 # a smoke run of a minute or two
  python benchmarks/exorl_collect_speed.py --output_dir=data/exorl-bench   # keep the buffers

Each run is `generate_exorl` exactly as `cfgrl-generate --gin_file=exorl/<domain>-<alg>.gin`
runs it (its defaults unless a flag overrides them), into a fresh folder. Columns: the wall time
of the whole call (worker start-up, TensorFlow import and XLA compilation included), the
steady rate measured from the episode files' modification times after each worker's first
round of `num_envs` episodes (start-up, the seed frames and compilation excluded), and the
projected wall time of 1M transitions: the time to the end of the first rounds plus the rest
at the steady rate. The last column, the workers' CPU time per transition (start-up included),
does not depend on what else runs on the machine: on N free cores, N workers need about
CPU ms x 1000 / N seconds per million. With one worker TensorFlow gets every core
(`threads_per_worker`'s default). Run it alone: two cores are shared. Prints a table and a
one-line summary.
"""

from __future__ import annotations

import argparse
import inspect
import os
import resource
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from cfgrl_tf.data import exorl_generate  # noqa: E402

MILLION = 1_000_000


def measure(root: str, algorithm: str, workers: int, args) -> dict:
    """One collection into `root`; its wall time, steady rate and 1M projection."""
    overrides = {
        name: getattr(args, name)
        for name in ("episode_length", "num_envs", "num_seed_frames", "update_every", "batch_size")
        if getattr(args, name) is not None
    }
    cpu_before = _children_cpu()
    start = time.time()
    paths = exorl_generate.generate_exorl(
        root,
        domain=args.domain,
        algorithm=algorithm,
        num_transitions=args.num_transitions,
        num_workers=workers,
        seed=args.seed,
        progress=args.progress,
        **overrides,
    )
    wall = time.time() - start
    cpu = _children_cpu() - cpu_before  # the workers', joined when the call returns
    length = int(os.path.basename(paths[0])[: -len(".npz")].split("_")[2])
    num_envs = args.num_envs or _default("num_envs")
    transitions = len(paths) * length
    # Files appear a round (num_envs episodes per worker) at a time, in mtime order.
    times = sorted(os.path.getmtime(path) for path in paths)
    first = min(len(paths), workers * num_envs)
    first_end = times[first - 1] - start
    if first < len(paths) and times[-1] - times[first - 1] > 0:
        steady = (len(paths) - first) * length / (times[-1] - times[first - 1])
        projected = first_end + (MILLION - first * length) / steady
    else:  # a single round: the average is all there is
        steady = transitions / wall
        projected = MILLION / steady
    return {
        "algorithm": algorithm,
        "workers": workers,
        "transitions": transitions,
        "wall": wall,
        "rate": transitions / wall,
        "steady": steady,
        "projected": projected,
        "cpu_ms": 1e3 * cpu / transitions,
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _default(name: str):
    return inspect.signature(exorl_generate.generate_exorl).parameters[name].default


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:.1f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--domain", default="walker", choices=sorted(exorl_generate.TIME_LIMIT_STEPS)
    )
    parser.add_argument("--algorithms", default="random,rnd")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--num_transitions", type=int, default=MILLION)
    parser.add_argument("--episode_length", type=int, default=None)
    parser.add_argument("--num_envs", type=int, default=None)
    parser.add_argument("--num_seed_frames", type=int, default=None)
    parser.add_argument("--update_every", type=int, default=None)
    parser.add_argument("--batch_size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", action="store_true", help="show each run's progress lines")
    parser.add_argument(
        "--output_dir", default=None, help="keep the buffers here (<dir>/<alg>-<workers>w/...)"
    )
    args = parser.parse_args()

    rows = []
    for algorithm in args.algorithms.split(","):
        for workers in (int(w) for w in args.workers.split(",")):
            if args.output_dir:
                root = os.path.join(args.output_dir, f"{algorithm}-{workers}w")
            else:
                root = tempfile.mkdtemp(prefix="exorl_speed_")
            try:
                rows.append(measure(root, algorithm, workers, args))
            finally:
                if not args.output_dir:
                    shutil.rmtree(root, ignore_errors=True)
            row = rows[-1]
            print(
                f"  {algorithm}, {workers} worker(s): {row['wall']:.0f} s, "
                f"{row['steady']:,.0f} transitions/s steady",
                flush=True,
            )

    print(
        f"\n{args.domain}: {args.num_transitions:,} transitions per run, on {os.cpu_count()} cores"
    )
    header = (
        f"{'algorithm':<10} {'workers':>7} {'transitions':>11} {'wall s':>8} "
        f"{'trans/s':>8} {'steady/s':>9} {'1M projected':>13} {'CPU ms/trans':>13}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['algorithm']:<10} {row['workers']:>7} {row['transitions']:>11,} "
            f"{row['wall']:>8.1f} {row['rate']:>8,.0f} {row['steady']:>9,.0f} "
            f"{_duration(row['projected']):>13} {row['cpu_ms']:>13.2f}"
        )
    best = {r["algorithm"]: r for r in sorted(rows, key=lambda r: -r["projected"])}
    summary = "; ".join(
        f"{alg} {_duration(r['projected'])} with {r['workers']} worker(s)"
        for alg, r in best.items()
    )
    print(f"\nsummary: 1M {args.domain} transitions take about {summary} (projected)")
    if args.output_dir:
        print(f"buffers kept under {args.output_dir}/<algorithm>-<workers>w/{args.domain}/")


if __name__ == "__main__":  # Workers are spawned and re-import this module.
    main()
