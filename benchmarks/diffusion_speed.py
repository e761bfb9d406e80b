"""EDP's claim, measured side by side in one run: training cost and sampling latency against T.

  python benchmarks/diffusion_speed.py                    # CPU scale (3x256, batch 256)
  python benchmarks/diffusion_speed.py --train_steps=40 --repeats=10

Training: Diffusion-QL backpropagates its Q term through the whole reverse chain (T network
calls forward and backward per step); EDP puts the Q term on the one-step estimate x0_hat of a
noised dataset action (one network call, whatever T is). Both share the TD critic, whose next
actions come from the EMA policy by each agent's sampler: Diffusion-QL's the T-step ancestral
chain, EDP's the DDPM chain at T = 5 and DPM-solver (15 calls) at T = 100, as EDP trains. The
table gives train steps/s through the Learner's compiled loop for both at T = 5 and T = 100, and
Diffusion-BC (no critic, no chain) as the floor.

Sampling: one batch of actions from the same noise network by the T-step ancestral DDPM chain
and by DPM-Solver++(2M) with 15 calls, for one observation (the latency of acting) and for a
batch of 256, XLA-compiled as the agents sample.

Random data of pointmaze's sizes (speed only). Prints the tables and one summary line; run it
alone, two cores are shared.
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
from bench_util import timed, tiny_dataset, train_rate  # noqa: E402

from cfgrl_tf.agents import DiffusionBCAgent, DiffusionQLAgent, EDPAgent, TDCritic  # noqa: E402

OBS_DIM, ACTION_DIM = 2, 2  # pointmaze's observation and action sizes
HIDDEN, BATCH = (256, 256, 256), 256
SOLVER_STEPS = 15


def agents(steps: int) -> dict:
    """name -> agent_fn for the train table at T = `steps`."""
    large = steps > 5
    edp_sampler = "dpm_solver" if large else "ddpm"

    def make(cls, sampler="ddpm", **kwargs):
        def agent_fn(**dims):
            if cls is not DiffusionBCAgent:
                kwargs["critic"] = TDCritic(HIDDEN)
            return cls(
                hidden_dims=HIDDEN,
                num_diffusion_steps=steps,
                sampler=sampler,
                solver_steps=SOLVER_STEPS,
                **kwargs,
                **dims,
            )

        return agent_fn

    return {
        f"Diffusion-BC, T={steps}": make(DiffusionBCAgent),
        f"Diffusion-QL, T={steps} (ddpm chain)": make(DiffusionQLAgent, eta=1.0),
        f"EDP, T={steps} ({edp_sampler.replace('_', '-')})": make(EDPAgent, edp_sampler),
    }


def bench_train(dataset, workdir, steps_by_t):
    rows = {}
    for t, timed_steps in steps_by_t.items():
        for name, agent_fn in agents(t).items():
            loop = min(timed_steps, 50)
            folder = os.path.join(workdir, name.split(",")[0].replace(" ", "") + f"-{t}")
            rows[name] = train_rate(agent_fn, dataset, folder, BATCH, timed_steps, loop)
            print(f"  {name:<34} {rows[name]:>8.1f} steps/s", flush=True)
    return rows


def bench_sampling(repeats, t_large):
    agent = DiffusionBCAgent(OBS_DIM, ACTION_DIM, hidden_dims=HIDDEN, num_diffusion_steps=t_large)
    agent.build()
    network = agent.policy_net.sampling
    ddpm = agent.generative
    rows = {}
    for batch in (1, BATCH):
        obs = tf.random.normal([batch, OBS_DIM])
        for sampler, label in (("ddpm", f"DDPM, {t_large} steps"), ("dpm_solver", "DPM-solver")):
            calls = t_large if sampler == "ddpm" else min(SOLVER_STEPS, t_large)
            fn = tf.function(
                lambda o, s, sampler=sampler: ddpm.sample(
                    network, {"observations": o}, seed=s, jit_compile=True, sampler=sampler
                )
            )
            seed = tf.constant(0, tf.int64)
            sec = timed(lambda fn=fn, obs=obs, seed=seed: fn(obs, seed), repeats)
            rows[(batch, sampler)] = (f"{label} ({calls} calls)", sec)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train_steps", type=int, default=200, help="timed steps at T = 5")
    parser.add_argument("--large_t", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    # Diffusion-QL at large T is ~T times slower per step: time fewer of its steps.
    steps_by_t = {5: args.train_steps, args.large_t: max(10, args.train_steps // 10)}
    print(
        f"== train steps/s, {len(HIDDEN)}x{HIDDEN[0]} Mish, batch {BATCH}, twin-Q TD critic "
        f"(XLA, Learner's compiled loop; timed steps {steps_by_t})",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as workdir:
        dataset = tiny_dataset(os.path.join(workdir, "data"), OBS_DIM, ACTION_DIM)
        train = bench_train(dataset, workdir, steps_by_t)
    t = args.large_t
    dql = {k: v for k, v in train.items() if k.startswith("Diffusion-QL")}
    edp = {k: v for k, v in train.items() if k.startswith("EDP")}
    (dql5, dql_t), (edp5, edp_t) = list(dql.values()), list(edp.values())
    print(f"\n{'':<34} {'T=5':>8} {f'T={t}':>8} {'T=5 / T=' + str(t):>12}")
    for name, (a, b) in (("Diffusion-QL", (dql5, dql_t)), ("EDP", (edp5, edp_t))):
        print(f"{name:<34} {a:>8.1f} {b:>8.1f} {a / b:>11.1f}x")
    print(f"{'EDP / Diffusion-QL':<34} {edp5 / dql5:>7.2f}x {edp_t / dql_t:>7.2f}x")

    print(f"\n== sampling latency, the same noise network ({len(HIDDEN)}x{HIDDEN[0]}), XLA")
    sampling = bench_sampling(args.repeats, t)
    print(f"{'sampler':<30} {'batch':>6} {'ms/call':>9} {'vs DDPM':>8}")
    for batch in (1, BATCH):
        base = sampling[(batch, "ddpm")][1]
        for sampler in ("ddpm", "dpm_solver"):
            label, sec = sampling[(batch, sampler)]
            print(f"{label:<30} {batch:>6} {sec * 1e3:>9.2f} {base / sec:>7.1f}x")
    one = sampling[(1, "ddpm")][1] / sampling[(1, "dpm_solver")][1]
    many = sampling[(BATCH, "ddpm")][1] / sampling[(BATCH, "dpm_solver")][1]
    print(
        f"\nSummary: at T={t} EDP trains {edp_t / dql_t:.1f}x as many steps/s as Diffusion-QL "
        f"(at T=5: {edp5 / dql5:.2f}x); Diffusion-QL's step rate falls {dql5 / dql_t:.1f}x from "
        f"T=5 to T={t}, EDP's {edp5 / edp_t:.1f}x; DPM-solver samples {one:.1f}x (batch 1) and "
        f"{many:.1f}x (batch {BATCH}) faster than the {t}-step DDPM chain."
    )


if __name__ == "__main__":
    main()
