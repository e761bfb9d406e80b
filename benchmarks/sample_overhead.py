"""Where one batch-1 sampling call spends its time: cfgrl_tf's pieces beside the JAX peer's.

  pip install -e ".[bench]"                  # jax, flax: the peer's rows
  python benchmarks/sample_overhead.py       # goal-conditioned CFGRL, 3x256, 16 Euler steps
  python benchmarks/sample_overhead.py --agent=hcfgrl --batch=1 --repeats=500

sample_vs_jax.py times whole calls; this one splits a call into what it is made of, each piece
timed alone as a median over `--repeats` calls (`bench_util.timed`; numpy in and out where
the piece is a whole call, tensors in and out otherwise), all in one run:

  policy sampler (as shipped)   `policy.numpy_sampler()`: what an evaluator calls
  polymorphic tf.function       the same sampler through a tf.function taking a dict (the
                                dispatch `numpy_sampler` used before it held a concrete function)
  exported signature            the SavedModel's serving_default, numpy in and out
  TF call floor                 a concrete tf.function that adds 1 to a [1, 2] tensor
  TF noise draw                 the sampler's initial-noise draw alone (it must stay outside XLA:
                                cfgrl_tf.generative.noise), in a concrete function
  TF XLA integration            the Euler integration alone (16 steps, guidance in one call of 2B
                                rows), compiled by XLA, in a concrete function, noise given
  JAX whole sampler             the peer's jitted sampler (noise inside), numpy in and out
  JAX call floor                a jitted function that adds 1, numpy in and out

The difference between the shipped sampler and the XLA integration is the TF graph around it
(input conversion, normalisation, knob broadcast, noise) and one more function call. Run it
alone: two cores are shared.
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import bench_util  # noqa: E402 - beside this file
import numpy as np  # noqa: E402
import sample_vs_jax  # noqa: E402 - its peer, its samplers
import tensorflow as tf  # noqa: E402
import train_vs_jax  # noqa: E402

from cfgrl_tf.agents.gc_cfgrl import goal_context  # noqa: E402
from cfgrl_tf.generative import ClassifierFreeGuidance, NoGuidance  # noqa: E402
from cfgrl_tf.generative.noise import initial_noise  # noqa: E402


def pieces(agent, loaded, peer, batch: int) -> dict:
    """{piece: call()} for one batch of `batch` rows."""
    policy = agent.policy()
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(batch, agent.observation_dim)).astype(np.float32)
    goals = rng.normal(size=(batch, agent.goal_dim)).astype(np.float32)
    weights = np.full(batch, sample_vs_jax.GUIDANCE_WEIGHT, np.float32)
    t_obs, t_goals, t_weights = tf.constant(obs), tf.constant(goals), tf.constant(weights)
    t_seed = tf.constant(3, tf.int64)
    shipped = policy.numpy_sampler()
    polymorphic = tf.function(
        policy.sample,
        input_signature=[
            policy.input_specs(),
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([], tf.int64),
        ],
    )
    serve = loaded.signatures["serving_default"]
    floor = tf.function(lambda x: x + 1.0).get_concrete_function(t_obs)
    level = agent.levels["actor"]
    noise = tf.function(
        lambda seed: initial_noise(tf.constant(batch), level.flow.sampling.action_dim, seed)
    ).get_concrete_function(t_seed)
    t_noise = noise(t_seed)
    guidance = ClassifierFreeGuidance() if agent.guided else NoGuidance()
    integrate = tf.function(
        lambda o, g, n, k: level.generative.integrate(
            level.flow.sampling, goal_context(o, g, 1.0), n, k, guidance=guidance
        ),
        jit_compile=True,
    ).get_concrete_function(t_obs, t_goals, t_noise, t_weights)
    out = {
        "policy sampler (as shipped)": lambda: shipped(
            {"observations": obs, "goals": goals}, weights, 3
        ),
        "polymorphic tf.function": lambda: polymorphic(
            {"observations": tf.constant(obs), "goals": tf.constant(goals)},
            tf.constant(weights),
            tf.constant(3, tf.int64),
        ).numpy(),
        "exported signature": lambda: serve(
            observations=tf.constant(obs),
            goals=tf.constant(goals),
            guidance_weight=tf.constant(weights),
            seed=tf.constant(3, tf.int64),
        )["actions"].numpy(),
        "TF call floor": lambda: floor(t_obs),
        "TF noise draw": lambda: noise(t_seed),
        "TF XLA integration": lambda: integrate(t_obs, t_goals, t_noise, t_weights),
    }
    if peer is not None:
        jax = sample_vs_jax.jax_peer.jax
        add_one = jax.jit(lambda x: x + 1.0)
        out["JAX whole sampler"] = lambda: peer(obs, goals, weights, 3)
        out["JAX call floor"] = lambda: np.asarray(add_one(obs))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agent", default="cfgrl", choices=sample_vs_jax.AGENTS)
    parser.add_argument("--size", default="cpu", choices=sorted(train_vs_jax.SIZES))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    if args.batch < 1 or args.repeats < 1:
        parser.error("--batch and --repeats must be at least 1")
    train_vs_jax.print_peer_status("rows")
    with tempfile.TemporaryDirectory() as workdir:
        dataset = train_vs_jax.synthetic_goal_dataset(os.path.join(workdir, "data"), episodes=2)
        ours = train_vs_jax.Ours(args.agent, args.size, dataset, os.path.join(workdir, "run"))
        peer = None
        if sample_vs_jax.jax_peer is not None:
            peer = sample_vs_jax.make_peer(ours.agent)
        _, loaded = sample_vs_jax.samplers(ours, peer, os.path.join(workdir, "export"))
        calls = pieces(ours.agent, loaded, peer, args.batch)
        results = {name: bench_util.timed(call, args.repeats) * 1e3 for name, call in calls.items()}
    name = train_vs_jax.AGENTS[args.agent][0]
    print(f"\n== {name}, {args.size} size, batch {args.batch}: median ms per call "
          f"({args.repeats} calls each)")  # fmt: skip
    for piece, ms in results.items():
        print(f"  {piece:<30} {ms:7.3f}")
    shipped = results["policy sampler (as shipped)"]
    glue = shipped - results["TF XLA integration"]
    xla = results["TF XLA integration"]
    line = f"Summary: shipped {shipped:.2f} ms = XLA integration {xla:.2f}"
    line += f" + {glue:.2f} around it (TF call floor {results['TF call floor']:.2f})"
    if "JAX whole sampler" in results:
        line += (
            f"; JAX {results['JAX whole sampler']:.2f} ms (its call floor "
            f"{results['JAX call floor']:.2f}); "
            f"JAX/shipped {results['JAX whole sampler'] / shipped:.2f}x"
        )
    print(line)


if __name__ == "__main__":
    main()
