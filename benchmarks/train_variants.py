"""Train steps/s of one agent under the Learner's options, side by side: input pipeline, bfloat16.

  python benchmarks/train_variants.py                   # CFGRL, HCFGRL, CFGRL+IQL; both sizes
  python benchmarks/train_variants.py --sizes=cpu --agents=cfgrl --steps=500 --repeats=3

Each agent is built from its shipped gin file (gin/ogbench/, gin/ogbench_singletask/cfgrl.gin;
plus paper_size.gin at the paper's 4x512, batch 1024) and trained through the Learner's compiled
multi-step loop, as `benchmarks/train_vs_jax.py` builds it (its `Ours`, on its synthetic
pointmaze-sized data), under each variant:

  tf_data         train.input_pipeline='tf_data': batches drawn on the host by tf.data and fed
                  to the loop (the default on CPUs); XLA step
  in_graph        train.input_pipeline='in_graph' (the default on GPUs and TPUs): each step
                  draws its batch inside the loop from the dataset held on the device; XLA step
                  (the same batches, so the same weights: tests)
  bf16            in_graph with hidden_precision.precision='mixed_bfloat16' (bfloat16 hidden
                  layers, float32 weights and outputs); XLA step
  bf16_noxla      the same with train.jit_compile=False: TensorFlow's own (oneDNN) kernels,
                  which have bfloat16 matmuls where XLA's CPU backend may not
  f32_noxla       in_graph, float32, train.jit_compile=False: the peer of the line above

The variants run in turn, the order reversed every repeat, after a warm-up that compiles each;
the table gives each repeat's steps/s and the ratio of the medians to tf_data (above 1: faster).
It measures speed only; what bfloat16 does to success is another measurement (README). Run it
alone: two cores are shared.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import train_vs_jax  # noqa: E402 - its agents, sizes, data and `Ours`

VARIANTS = {
    "tf_data": ["train.input_pipeline = 'tf_data'"],
    "in_graph": ["train.input_pipeline = 'in_graph'"],
    "bf16": ["train.input_pipeline = 'in_graph'", "hidden_precision.precision = 'mixed_bfloat16'"],
    "bf16_noxla": [
        "train.input_pipeline = 'in_graph'",
        "hidden_precision.precision = 'mixed_bfloat16'",
        "train.jit_compile = False",
    ],
    "f32_noxla": ["train.input_pipeline = 'in_graph'", "train.jit_compile = False"],
}
AGENTS = ("cfgrl", "hcfgrl", "cfgrl_iql")


def bench(key, size, dataset, steps, repeats, variants, workdir) -> dict:
    runners = {}
    for name in variants:
        root = os.path.join(workdir, f"{size}-{key}-{len(runners)}")
        runners[name] = train_vs_jax.Ours(key, size, dataset, root, VARIANTS[name])
        runners[name].run(train_vs_jax.WARMUP_STEPS)  # compiles
    rates = {name: [] for name in variants}
    for repeat in range(repeats):
        order = list(variants) if repeat % 2 == 0 else list(variants)[::-1]
        for name in order:
            rates[name].append(runners[name].run(steps))
        shown = ", ".join(f"{name} {rates[name][-1]:.1f}" for name in variants)
        print(f"  {size} {train_vs_jax.AGENTS[key][0]} repeat {repeat + 1}: {shown}", flush=True)
    shape = f"{runners[variants[0]].batch_size}"
    del runners
    gc.collect()
    return {"name": train_vs_jax.AGENTS[key][0], "size": size, "batch": shape, "rates": rates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="cpu,paper")
    parser.add_argument("--agents", default=",".join(AGENTS), help=",".join(train_vs_jax.AGENTS))
    parser.add_argument("--variants", default=",".join(VARIANTS), help=",".join(VARIANTS))
    parser.add_argument("--steps", type=int, default=1000, help="per repeat at cpu (paper: /5)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=1000, help="synthetic 1000-step walks")
    args = parser.parse_args()
    sizes = [s for s in args.sizes.split(",") if s]
    keys = [a for a in args.agents.split(",") if a]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = (
        [s for s in sizes if s not in train_vs_jax.SIZES]
        + [a for a in keys if a not in train_vs_jax.AGENTS]
        + [v for v in variants if v not in VARIANTS]
    )
    if unknown:
        parser.error(f"unknown {unknown}; variants: {', '.join(VARIANTS)}")
    args.agents, args.dataset_dir = keys, None
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        goal_data, task_data = train_vs_jax.load_data(args, workdir)
        for size in sizes:
            steps = args.steps if size == "cpu" else max(20, args.steps // 5)
            for key in keys:
                dataset = task_data if key == "cfgrl_iql" else goal_data
                rows.append(bench(key, size, dataset, steps, args.repeats, variants, workdir))
    base = variants[0]
    print(f"\n== train steps/s per repeat; ratio of medians to {base}")
    print(f"{'size':<6} {'agent':<10} {'batch':>5}  " + "  ".join(f"{v:>18}" for v in variants))
    for row in rows:
        ref = statistics.median(row["rates"][base])
        cells = []
        for v in variants:
            median = statistics.median(row["rates"][v])
            cells.append(f"{median:>8.1f} ({median / ref:>4.2f}x)")
        print(f"{row['size']:<6} {row['name']:<10} {row['batch']:>5}  " + "  ".join(
            f"{c:>18}" for c in cells
        ))  # fmt: skip
    summary = "; ".join(
        f"{r['size']} {r['name']}: "
        + ", ".join(
            f"{v} {statistics.median(r['rates'][v]) / statistics.median(r['rates'][base]):.2f}x"
            for v in variants[1:]
        )
        for r in rows
    )
    print(f"\nSummary (median steps/s relative to {base}): {summary}")


if __name__ == "__main__":
    main()
