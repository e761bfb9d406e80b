"""Sampling latency of cfgrl_tf's guided flow policies against a plain JAX/Flax sampler.

  pip install -e ".[bench]"                       # jax, flax, optax: the peer's column
  python benchmarks/sample_vs_jax.py              # CFGRL and HCFGRL, 3x256 and 4x512, batch 1, 300
  python benchmarks/sample_vs_jax.py --sizes=cpu --batches=1 --repeats=50
  python benchmarks/sample_vs_jax.py --smoke      # a tiny run: does it all work

For goal-conditioned CFGRL (one flow) and HCFGRL (a subgoal flow, then the action flow), built
from their shipped gin files (gin/ogbench/) at the CPU scale (3x256) and the paper's (4x512,
plus paper_size.gin) with the agents' configured Euler steps (16) at w = 1.5 for every row.
The agents are built exactly as train_vs_jax.py builds them (its `Ours`, on its synthetic
pointmaze-sized dataset: 2-D states, actions and goals), untrained: latency does not depend on
the weights' values. Each column times one policy call, numpy in and numpy out:

  in memory  what an evaluator calls: `agent.policy().numpy_sampler()` (one tf.function with a
             None batch dimension around the sampler, the Euler integration compiled by XLA).
  export     the SavedModel `cfgrl_tf.export.export_policy` writes, loaded back with
             `tf.saved_model.load` and called through its `serving_default` signature, as a
             server does (benchmarks/rollout_export.py).
  JAX        `jax_peer.goal_flow_sampler`: one jitted function of the same networks holding the
             same weights (copied from the agent, and checked: each level's integration from the
             same noise agrees with cfgrl_tf's), the same steps, guidance in one network call of
             2B rows per step, the same normalisation, noise from jax.random inside the jit.

Each is warmed up (compilation excluded), then the three are called in turn `--repeats` times
(the order alternating), and the table gives the median and the 90th percentile in ms and the
ratio JAX / cfgrl_tf of the medians: above 1, ours is faster. Without jax or flax the benchmark
says so and prints only the cfgrl_tf columns.

Run it alone: two cores are shared, and latency beside another job means little.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import train_vs_jax  # noqa: E402 - its agents, sizes, dataset and `Ours`

from cfgrl_tf.agents.gc_cfgrl import goal_context  # noqa: E402
from cfgrl_tf.export import export_policy  # noqa: E402
from cfgrl_tf.generative import ClassifierFreeGuidance, NoGuidance  # noqa: E402

try:
    import jax_peer  # noqa: E402
except ImportError as e:  # jax or flax missing
    jax_peer = None
    JAX_MISSING = str(e)

AGENTS = ("cfgrl", "hcfgrl", "gcfbc")  # train_vs_jax's goal-conditioned flow agents
GUIDANCE_WEIGHT = 1.5
WARMUP_CALLS = 5
# Each level's integration from the same noise, ours against the peer's: float32 rounding
# through 16 steps stays far below this.
CHECK_TOLERANCE = 1e-3
SIDES = ("in memory", "export", "JAX")


# -- the JAX peer holding the agent's weights ---------------------------------------------------


def flax_params(net) -> dict:
    """The weights of a cfgrl_tf GoalVectorField as jax_peer.GoalVectorField's flax params."""
    dense = [layer for layer in net.mlp._hidden if isinstance(layer, keras.layers.Dense)]
    dense.append(net.mlp._out)
    mlp = {
        f"Dense_{i}": {
            "kernel": keras.ops.convert_to_numpy(layer.kernel),
            "bias": keras.ops.convert_to_numpy(layer.bias),
        }
        for i, layer in enumerate(dense)
    }
    return {"params": {"null_goal": keras.ops.convert_to_numpy(net.null_goal), "MLP_0": mlp}}


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"sample_vs_jax: the JAX peer does not implement {what}")


def make_peer(agent) -> jax_peer.GoalFlowSampler:
    """The JAX sampler of `agent`'s sampling networks (their EMA), same shapes and weights."""
    steps = {level.generative.num_steps for level in agent.levels.values()}
    _require(len(steps) == 1, "levels with different numbers of flow steps")
    config = train_vs_jax.goal_flow_config(agent)
    peer = jax_peer.goal_flow_sampler(config, steps.pop(), agent.guided)
    jax = jax_peer.jax
    for name, level in agent.levels.items():
        ours = flax_params(level.flow.sampling)
        template = peer.params[name]
        shapes = [jax.tree.map(np.shape, tree) for tree in (ours, template)]
        same = jax.tree.structure(ours) == jax.tree.structure(template) and shapes[0] == shapes[1]
        _require(same, f"the {name} network's layout {shapes[0]} (peer: {shapes[1]})")
        peer.params[name] = jax.tree.map(jax.numpy.asarray, ours)
    return peer


def check_peer(agent, peer, rows: int = 4) -> float:
    """Max |ours - peer| over each level's Euler integration from the same noise and inputs."""
    rng = np.random.default_rng(1)
    observations = rng.normal(size=(rows, agent.observation_dim)).astype(np.float32)
    goals = rng.normal(size=(rows, agent.goal_dim)).astype(np.float32)
    weights = np.full(rows, GUIDANCE_WEIGHT, np.float32)
    guidance = ClassifierFreeGuidance() if agent.guided else NoGuidance()
    worst = 0.0
    for name, level in agent.levels.items():
        net = level.flow.sampling
        noise = rng.normal(size=(rows, net.action_dim)).astype(np.float32)
        ours = level.generative.integrate(
            net,
            goal_context(tf.constant(observations), tf.constant(goals), 1.0),
            tf.constant(noise),
            tf.constant(weights) if agent.guided else None,
            guidance=guidance,
        ).numpy()
        theirs = jax_peer.guided_euler(
            peer.nets[name], peer.params[name], observations, goals, noise, weights,
            num_steps=level.generative.num_steps, guided=agent.guided, clip=level.generative.clip,
        )  # fmt: skip
        worst = max(worst, float(np.max(np.abs(ours - np.asarray(theirs)))))
    return worst


# -- the three samplers -------------------------------------------------------------------------


def samplers(ours: train_vs_jax.Ours, peer, export_dir: str) -> tuple[dict, object]:
    """({side: call(observations, goals, weights, seed) -> numpy actions}, the loaded export,
    which must stay alive as long as its signature is called)."""
    agent = ours.agent
    policy = agent.policy()
    in_memory = policy.numpy_sampler()
    export_policy(policy, export_dir, metadata={"agent": agent.name, "benchmark": __file__})
    loaded = tf.saved_model.load(export_dir)
    serve = loaded.signatures["serving_default"]

    def exported(observations, goals, weights, seed):
        return serve(
            observations=tf.constant(observations),
            goals=tf.constant(goals),
            guidance_weight=tf.constant(weights),
            seed=tf.constant(seed, tf.int64),
        )["actions"].numpy()

    calls = {
        "in memory": lambda o, g, w, s: in_memory({"observations": o, "goals": g}, w, s),
        "export": exported,
    }
    if peer is not None:
        calls["JAX"] = peer
    return calls, loaded


def latencies(calls: dict, agent, batch: int, repeats: int, warmup: int) -> dict:
    """{side: [seconds per call]}: `warmup` calls each, then every side once per round."""
    rng = np.random.default_rng(0)
    observations = rng.normal(size=(batch, agent.observation_dim)).astype(np.float32)
    goals = rng.normal(size=(batch, agent.goal_dim)).astype(np.float32)
    weights = np.full(batch, GUIDANCE_WEIGHT, np.float32)
    for side, call in calls.items():
        for seed in range(warmup):
            actions = call(observations, goals, weights, seed)
        if actions.shape != (batch, agent.action_dim) or not np.isfinite(actions).all():
            raise SystemExit(f"sample_vs_jax: {side} returned {actions.shape} or non-finite")
    times = {side: [] for side in calls}
    order = list(calls)
    for repeat in range(repeats):
        for side in order if repeat % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            calls[side](observations, goals, weights, warmup + repeat)
            times[side].append(time.perf_counter() - start)
    return times


# -- the run ------------------------------------------------------------------------------------


def bench(key: str, size: str, dataset, batches, repeats, warmup, workdir) -> list[dict]:
    name = train_vs_jax.AGENTS[key][0]
    ours = train_vs_jax.Ours(key, size, dataset, os.path.join(workdir, f"{size}-{key}"))
    agent = ours.agent
    hidden = agent.levels["actor"].flow.sampling.hidden_dims
    steps = agent.levels["actor"].generative.num_steps
    common = {"size": size, "name": name, "net": f"{len(hidden)}x{hidden[0]}",
              "flows": len(agent.levels), "steps": steps}  # fmt: skip
    peer = None
    if jax_peer is not None:
        peer = make_peer(agent)
        error = check_peer(agent, peer)
        verdict = "agrees" if error < CHECK_TOLERANCE else "DIFFERS: the JAX column is suspect"
        print(f"  {size} {name}: peer integration from the same noise {verdict} "
              f"(max |diff| {error:.1e})", flush=True)  # fmt: skip
    calls, loaded = samplers(ours, peer, os.path.join(workdir, f"{size}-{key}-export"))
    rows = []
    for batch in batches:
        times = latencies(calls, agent, batch, repeats, warmup)
        row = {**common, "batch": batch, "times": times}
        print(f"  {size} {name} batch {batch}: " + ", ".join(
            f"{side} {np.median(t) * 1e3:.2f} ms" for side, t in times.items()
        ), flush=True)  # fmt: skip
        rows.append(row)
    del ours, peer, calls, loaded
    gc.collect()
    return rows


def ratio(row: dict, side: str) -> float | None:
    times = row["times"]
    if "JAX" not in times:
        return None
    return float(np.median(times["JAX"]) / np.median(times[side]))


def _ms(times: list[float], q: float = 50) -> float:
    return float(np.percentile(times, q)) * 1e3


def _ratio_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def print_table(rows: list[dict], repeats: int) -> None:
    print(f"\n== sampling latency, ms per call (median / p90 of {repeats}), w = {GUIDANCE_WEIGHT}")
    header = f"{'size':<5} {'agent':<7} {'net':<6} {'flows':>5} {'steps':>5} {'batch':>5}"
    header += "".join(f" {side + ' med/p90':>19}" for side in SIDES)
    print(f"{header} {'JAX/mem':>8} {'JAX/export':>10}")
    for row in rows:
        line = (
            f"{row['size']:<5} {row['name']:<7} {row['net']:<6} {row['flows']:>5} "
            f"{row['steps']:>5} {row['batch']:>5}"
        )
        for side in SIDES:
            t = row["times"].get(side)
            cell = f"{_ms(t):.2f} / {_ms(t, 90):.2f}" if t else "-"
            line += f" {cell:>19}"
        line += f" {_ratio_cell(ratio(row, 'in memory')):>8}"
        line += f" {_ratio_cell(ratio(row, 'export')):>10}"
        print(line)


def summary(rows: list[dict]) -> str:
    def where(row):
        return f"{row['size']} {row['name']} b{row['batch']}"

    if jax_peer is None:
        cells = ", ".join(
            f"{where(r)} {_ms(r['times']['in memory']):.2f} ms "
            f"(export {_ms(r['times']['export']):.2f})"
            for r in rows
        )
        return f"Summary (cfgrl_tf median ms per call; no JAX peer): {cells}"
    cells = ", ".join(
        f"{where(r)} {ratio(r, 'in memory'):.2f}x/{ratio(r, 'export'):.2f}x" for r in rows
    )
    wins = [sum(ratio(r, side) >= 1.0 for r in rows) for side in ("in memory", "export")]
    return (
        f"Summary (JAX/cfgrl_tf median latency, in memory/export; >1: ours faster): {cells}; "
        f"ours at or below JAX in {wins[0]}/{len(rows)} in memory, {wins[1]}/{len(rows)} exported"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="cpu,paper", help="cpu (3x256) and/or paper (4x512)")
    parser.add_argument("--agents", default="cfgrl,hcfgrl", help=",".join(AGENTS))
    parser.add_argument("--batches", default="1,300", help="rows per policy call")
    parser.add_argument("--repeats", type=int, default=100, help="timed calls per side")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny: cpu size, batches 1 and 8, 5 timed calls"
    )
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.batches, args.repeats = "cpu", "1,8", 5
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    keys = [a.strip() for a in args.agents.split(",") if a.strip()]
    unknown = [s for s in sizes if s not in train_vs_jax.SIZES] + [
        a for a in keys if a not in AGENTS
    ]
    if unknown:
        parser.error(
            f"unknown {', '.join(unknown)}; agents: {', '.join(AGENTS)}; sizes: cpu, paper"
        )
    try:
        batches = [int(b) for b in args.batches.split(",")]
    except ValueError:
        parser.error(f"--batches={args.batches!r}: expected comma-separated integers")
    if min(batches) < 1 or args.repeats < 1:
        parser.error("--batches and --repeats must be at least 1")
    warmup = 2 if args.smoke else WARMUP_CALLS
    train_vs_jax.print_peer_status("columns")
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        # Two episodes are enough: only the dataset's sizes and statistics reach the sampler.
        dataset = train_vs_jax.synthetic_goal_dataset(os.path.join(workdir, "data"), episodes=2)
        for size in sizes:
            for key in keys:
                rows += bench(key, size, dataset, batches, args.repeats, warmup, workdir)
    print_table(rows, args.repeats)
    print(f"\n{summary(rows)}")


if __name__ == "__main__":
    main()
