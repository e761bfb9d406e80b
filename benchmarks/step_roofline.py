"""Where a train step's time goes: the shipped step against its own matmuls at the machine's speed.

  python benchmarks/step_roofline.py                        # CFGRL and CFGRL+IQL, both sizes
  python benchmarks/step_roofline.py --sizes=paper --agents=cfgrl --steps=100

For each agent (built from its shipped gin file, as benchmarks/train_vs_jax.py builds it) this
times, in one process, one after another and `--repeats` times:

  loop        the Learner's real training path (its compiled multi-step loop: batch draw, the
              XLA-compiled step, target/EMA updates, metric sums), its own steps/s;
  step        the XLA-compiled replica step alone, called in a tf.function loop on one fixed
              batch (no draw, no EMA, no metric sums);
  dots f32    every matrix product of that step (read from the step's own optimized XLA HLO:
              same shapes, same transposes, same count), alone, in float32, through TensorFlow's
              oneDNN kernels and through XLA; the faster is "the machine's matmul throughput on
              the step's shapes";
  dots bf16   the same products in bfloat16 through oneDNN (what a bfloat16 step could reach).

It prints the step's matmul FLOPs, each time per step, and the ratios the speed issue asks for:
the training loop's FLOP rate against the float32 matmul throughput on the same shapes
(= time of the products alone / time of a training step), and how the rest splits between
the work around the step (loop - step) and the step's non-matmul work (step - its dots under
XLA): elementwise layers, LayerNorm, Adam, RNG, losses. The HLO's instruction mix (fusions,
transcendental ops) is printed beside it.

Data: pointmaze-sized synthetic data as in train_vs_jax.py (speed only). Run it alone: the two
cores are shared.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import statistics
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")

import train_vs_jax as tvj  # noqa: E402
from bench_util import timed  # noqa: E402

from cfgrl_tf.data import reader  # noqa: E402

# One HLO instruction: `%name = <type>[<dims>]{layout} <opcode>(<operands>), <attributes>`.
_INSTRUCTION = re.compile(
    r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(\w+)\[([0-9,]*)\]\S*\s+([a-z][\w\-]*)\((.*)$"
)
_CONTRACTING = re.compile(
    r"lhs_contracting_dims=\{([0-9,]*)\}.*?rhs_contracting_dims=\{([0-9,]*)\}"
)
TRANSCENDENTAL = (
    "exponential",
    "log",
    "log-plus-one",
    "exponential-minus-one",
    "tanh",
    "erf",
    "logistic",
    "sqrt",
    "rsqrt",
    "power",
    "sine",
    "cosine",
)


def _dims(text: str) -> tuple[int, ...]:
    return tuple(int(d) for d in text.split(",") if d)


class Dot(collections.namedtuple("Dot", "lhs rhs lhs_contract rhs_contract")):
    """One matrix (or matrix-vector) product of the HLO: operand shapes, contracting dims."""

    @property
    def flops(self) -> int:
        m = [d for i, d in enumerate(self.lhs) if i != self.lhs_contract]
        n = [d for i, d in enumerate(self.rhs) if i != self.rhs_contract]
        return 2 * int(np.prod(m)) * int(np.prod(n)) * self.lhs[self.lhs_contract]

    def __call__(self, a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
        """The product on operands of this dot's shapes (the same transposes for 2-D ones)."""
        if len(self.lhs) == len(self.rhs) == 2:
            return tf.linalg.matmul(
                a, b, transpose_a=self.lhs_contract == 0, transpose_b=self.rhs_contract == 1
            )
        return tf.tensordot(a, b, axes=[[self.lhs_contract], [self.rhs_contract]])


def parse_hlo(hlo: str) -> tuple[list[Dot], collections.Counter]:
    """The dots of an HLO module and a count of its instructions by opcode (operand shapes
    are looked up by name: optimized HLO text does not print them)."""
    shapes, found = {}, []
    ops = collections.Counter()
    for line in hlo.splitlines():
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        name, _, dims, opcode, rest = match.groups()
        shapes[name] = _dims(dims)
        ops[opcode] += 1
        if opcode == "dot":
            found.append((line, rest))
    dots = []
    for line, rest in found:
        operands = re.findall(r"%([\w.\-]+)", rest.split(")")[0])
        contracting = _CONTRACTING.search(rest)
        if len(operands) != 2 or not contracting or not all(o in shapes for o in operands):
            raise SystemExit(f"step_roofline: cannot read this HLO dot: {line.strip()[:200]}")
        lhs, rhs = (shapes[o] for o in operands)
        lc, rc = (_dims(c) for c in contracting.groups())
        if not (1 <= len(lhs) <= 2 and 1 <= len(rhs) <= 2 and len(lc) == len(rc) == 1):
            raise SystemExit(f"step_roofline: a dot that is not a matmul: {line.strip()[:200]}")
        dots.append(Dot(lhs, rhs, lc[0], rc[0]))
    if not dots:
        raise SystemExit("step_roofline: no dot found in the step's HLO")
    return dots, ops


def dots_fn(dots: list[Dot], dtype: tf.DType, jit: bool):
    """A function running every dot once on its own random operands (so nothing is shared or
    hoisted), returning one scalar that depends on all of them."""
    rng = np.random.default_rng(0)
    operands = [
        (
            tf.constant(rng.normal(size=d.lhs), dtype),
            tf.constant(rng.normal(size=d.rhs), dtype),
        )
        for d in dots
    ]

    @tf.function(jit_compile=jit)
    def run(operands):
        total = tf.constant(0.0, dtype)
        for d, (a, b) in zip(dots, operands, strict=True):
            total += tf.reshape(d(a, b), [-1])[0]
        return total

    return lambda: run(operands)


def step_fn(learner, batch: dict, steps: int):
    """`steps` calls of the learner's compiled replica step on one fixed batch, in a loop."""
    replica_fn = learner._replica_fn

    @tf.function
    def run():
        for _ in tf.range(steps):
            metrics = replica_fn(batch)
        return metrics

    return run


def jax_step_fn(peer, steps: int):
    """`steps` calls of the JAX peer's jitted update on one fixed batch already on its device."""
    jax = tvj.jax_peer.jax
    batch = jax.device_put(peer.sampler.sample())

    def run():
        state = peer.state
        for _ in range(steps):
            state, metrics = peer.update(state, batch)
        peer.state = state
        return jax.device_get(metrics)

    return run, batch


def hlo_mix(dots: list[Dot], ops: collections.Counter) -> str:
    transcendental = sum(ops[o] for o in TRANSCENDENTAL)
    return (
        f"{len(dots)} dots ({sum(d.flops for d in dots) / 1e9:.3f} GFLOP), {ops['fusion']} "
        f"fusions, {transcendental} transcendental ops, {sum(ops.values())} instructions "
        "(fused computations' bodies included)"
    )


def measure(key: str, size: str, dataset, args, workdir: str) -> dict:
    ours = tvj.Ours(key, size, dataset, os.path.join(workdir, f"{size}-{key}"))
    ours.run(tvj.WARMUP_STEPS)  # compiles
    learner = ours.learner
    tensors = {k: tf.constant(v) for k, v in dataset.arrays.items()}
    sampler = reader.BatchSampler(tensors, ours.batch_size, learner.goal_sampler)
    batch = sampler(tf.constant(0, tf.int64), 0)
    hlo = learner._replica_fn.experimental_get_compiler_ir(batch)(stage="optimized_hlo")
    dots, ops = parse_hlo(hlo)
    flops = sum(d.flops for d in dots)
    chunk = max(args.steps // 10, 1)
    step_loop = step_fn(learner, batch, chunk)
    timers = {
        "loop": lambda: 1.0 / ours.run(args.steps),
        "step": lambda: timed(step_loop, 10) / chunk,
        "dots f32 oneDNN": lambda: timed(dots_fn(dots, tf.float32, False), 30),
        "dots f32 XLA": lambda: timed(dots_fn(dots, tf.float32, True), 30),
        "dots bf16 oneDNN": lambda: timed(dots_fn(dots, tf.bfloat16, False), 30),
    }
    mixes = {"cfgrl_tf": hlo_mix(dots, ops)}
    if tvj.jax_peer is not None:
        peer = tvj.make_peer(key, ours, dataset)
        peer.run(tvj.WARMUP_STEPS)  # compiles
        jax_loop, jax_batch = jax_step_fn(peer, chunk)
        compiled = peer.update.lower(peer.state, jax_batch).compile()
        mixes["JAX"] = hlo_mix(*parse_hlo(compiled.as_text()))
        timers["JAX loop"] = lambda: 1.0 / peer.run(args.steps)
        timers["JAX step"] = lambda: timed(jax_loop, 10) / chunk
    times = {name: [] for name in timers}
    for repeat in range(args.repeats):
        for name, timer in timers.items():
            times[name].append(timer())
        shown = ", ".join(f"{n} {1e3 * t[-1]:.3f}" for n, t in times.items())
        print(
            f"  {size} {tvj.AGENTS[key][0]} repeat {repeat + 1} (ms per step): {shown}", flush=True
        )
    median = {name: statistics.median(t) for name, t in times.items()}
    return {
        "agent": tvj.AGENTS[key][0],
        "size": size,
        "batch": ours.batch_size,
        "flops": flops,
        "median": median,
        "hlo_mix": mixes,
    }


def report(rows: list[dict]) -> None:
    print("\n== ms per train step (median of repeats); GFLOP/s = the step's matmul FLOPs / time")
    names = list(rows[0]["median"])
    print(f"{'size':<6} {'agent':<10} {'GFLOP':>6} " + " ".join(f"{n:>17}" for n in names))
    for row in rows:
        cells = " ".join(
            f"{1e3 * t:>7.3f} ({row['flops'] / t / 1e9:>5.0f}/s)" for t in row["median"].values()
        )
        print(f"{row['size']:<6} {row['agent']:<10} {row['flops'] / 1e9:>6.3f} {cells}")
    print("\n== the training loop against the float32 matmul throughput on the step's own shapes")
    for row in rows:
        m = row["median"]
        f32 = min(m["dots f32 oneDNN"], m["dots f32 XLA"])
        around = m["loop"] - m["step"]
        non_matmul = m["step"] - m["dots f32 XLA"]
        print(
            f"{row['size']} {row['agent']}: loop at {100 * f32 / m['loop']:.0f}% of the f32 matmul"
            f" throughput ({row['flops'] / m['loop'] / 1e9:.0f} of {row['flops'] / f32 / 1e9:.0f}"
            f" GFLOP/s); of its {1e3 * m['loop']:.2f} ms: dots at XLA's speed "
            f"{1e3 * m['dots f32 XLA']:.2f} ms ({100 * m['dots f32 XLA'] / m['loop']:.0f}%), "
            f"the step's other work {1e3 * non_matmul:.2f} ms "
            f"({100 * non_matmul / m['loop']:.0f}%), around the step {1e3 * around:.2f} ms "
            f"({100 * around / m['loop']:.0f}%); bf16 dots would take "
            f"{1e3 * m['dots bf16 oneDNN']:.2f} ms ({f32 / m['dots bf16 oneDNN']:.2f}x faster "
            "than f32)."
        )
        if "JAX step" in m:
            loop, step = (
                (1e3 * m["loop"], 1e3 * m["JAX loop"]),
                (1e3 * m["step"], 1e3 * m["JAX step"]),
            )
            print(
                f"  against the JAX peer: loop {loop[0]:.2f} vs {loop[1]:.2f} ms (cfgrl_tf/JAX "
                f"speed {loop[1] / loop[0]:.2f}x), step alone on a fixed batch {step[0]:.2f} vs "
                f"{step[1]:.2f} ms ({step[1] / step[0]:.2f}x)"
            )
        for side, mix in row["hlo_mix"].items():
            print(f"  {side} step HLO: {mix}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="cpu,paper")
    parser.add_argument("--agents", default="cfgrl,cfgrl_iql", help=",".join(tvj.AGENTS))
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="timed train steps per repeat (default 500 cpu, 50 paper)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=200)
    args = parser.parse_args()
    args.dataset_dir = None  # train_vs_jax.load_data: its synthetic data
    agents = args.agents.split(",")
    sizes = args.sizes.split(",")
    for name in agents:
        if name not in tvj.AGENTS:
            parser.error(f"unknown agent {name!r}; expected some of {','.join(tvj.AGENTS)}")
    for size in sizes:
        if size not in tvj.SIZES:
            parser.error(f"unknown size {size!r}; expected some of {','.join(tvj.SIZES)}")
    print(f"TensorFlow {tf.__version__}; {os.cpu_count()} CPUs")
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        args.agents = agents
        goal_data, task_data = tvj.load_data(args, workdir)
        for size in sizes:
            steps = args.steps or (500 if size == "cpu" else 50)
            for key in agents:
                data = task_data if key == "cfgrl_iql" else goal_data
                run_args = argparse.Namespace(**{**vars(args), "steps": steps})
                rows.append(measure(key, size, data, run_args, workdir))
    report(rows)


if __name__ == "__main__":
    main()
