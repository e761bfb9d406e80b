"""cfgrl_tf's train steps/s against a plain JAX/Flax/optax implementation of the same step.

  pip install -e ".[bench]"                       # jax, flax, optax: the peer's column
  python benchmarks/train_vs_jax.py               # synthetic pointmaze-sized data, both sizes
  python benchmarks/train_vs_jax.py --sizes=cpu --agents=cfgrl,hcfgrl --steps=300
  python benchmarks/train_vs_jax.py \
    --dataset_dir=runs/ogbench_comparison/data/pointmaze-medium-navigate-v0

For GCBC, GCFBC, CFGRL, HCFGRL (goal-conditioned, gin/ogbench/) and CFGRL with its IQL critic
(single-task, gin/ogbench_singletask/cfgrl.gin), at the CPU scale (3x256, batch 256) and the
paper's (4x512, batch 1024: the same gin file plus paper_size.gin):

  cfgrl_tf  the agent built from its shipped gin file, trained through its real path: the
            Learner's compiled multi-step loop (XLA step, train.steps_per_loop steps per host
            call) drawing its batches (goals included) inside that loop. The figure is the Learner's
            own steps/s (the loops' time, not the checkpoint it writes when train() returns).
  JAX       benchmarks/jax_peer.py: the same networks, losses, batch size and Adam, configured
            from the very agent object timed beside it, trained as the reference JAX code is
            run: a numpy batch (and goal) sampler on the host and one jitted update per step.

Both train on the same numpy arrays, in one process, alternating (cfgrl_tf then JAX, then JAX
then cfgrl_tf, ...) `--repeats` times after a warm-up that compiles each; every repeat is
printed, then a table with the ratio cfgrl_tf / JAX of the medians and a summary line.

Data: by default a synthetic goal-conditioned dataset written in cfgrl_tf's TFRecord format and
read back (2-D states and actions like pointmaze, random walks of 1000 steps, `--episodes` of
them: 1000 by default, pointmaze-medium-navigate's 1M transitions). CFGRL+IQL trains on the same
transitions written as a single-task dataset, with a placeholder reward (0 and mask 0 at an
episode's last transition, -1 and 1 elsewhere): values that mean nothing, for speed only.
`--dataset_dir` takes a converted OGBench dataset instead (goal-conditioned: every agent, CFGRL+IQL
on its transitions with the placeholder reward; single-task: CFGRL+IQL only).

Without jax, flax or optax the benchmark says so and prints only the cfgrl_tf column.

Time: 20 minutes on 2 CPU cores with --repeats=3 (measured, results/train_vs_jax.txt), about 1
of them writing the 1M-transition dataset twice. Run it alone: two cores are shared.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gin  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# AutoGraph warns once per agent that it leaves the empty `update_targets` hook as it is.
tf.get_logger().setLevel("ERROR")

from cfgrl_tf import agents, configurables  # noqa: E402
from cfgrl_tf.data import ogbench_npz, reader, spec, writer  # noqa: E402
from cfgrl_tf.learner import Learner  # noqa: E402

try:
    import jax_peer  # noqa: E402
except ImportError as e:  # jax, flax or optax missing
    jax_peer = None
    JAX_MISSING = str(e)

SIZES = {"cpu": "", "paper": "paper_size.gin"}
# key: (name, gin file, agent class, trains on goals)
AGENTS = {
    "gcbc": ("GCBC", "ogbench/gcbc.gin", agents.GCBCAgent, True),
    "gcfbc": ("GCFBC", "ogbench/gcfbc.gin", agents.GCFBCAgent, True),
    "cfgrl": ("CFGRL", "ogbench/cfgrl.gin", agents.GCCFGRLAgent, True),
    "hcfgrl": ("HCFGRL", "ogbench/hcfgrl.gin", agents.HCFGRLAgent, True),
    "cfgrl_iql": ("CFGRL+IQL", "ogbench_singletask/cfgrl.gin", agents.CFGRLAgent, False),
}
WARMUP_STEPS = 20
EPISODE_LENGTH = 1000
OBS_DIM = ACTION_DIM = 2


# -- data --------------------------------------------------------------------------------------


def synthetic_goal_dataset(folder: str, episodes: int, seed: int = 0) -> reader.Dataset:
    """Random walks of EPISODE_LENGTH steps in 2-D, as goal-conditioned transitions."""
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1.0, 1.0, (episodes, EPISODE_LENGTH, ACTION_DIM)).astype(np.float32)
    starts = rng.uniform(2.0, 20.0, (episodes, 1, OBS_DIM)).astype(np.float32)
    states = np.concatenate([starts, starts + 0.2 * np.cumsum(actions, axis=1)], axis=1)
    num = episodes * EPISODE_LENGTH
    index = np.arange(num, dtype=np.int64)
    first = index - index % EPISODE_LENGTH
    observations = states[:, :-1].reshape(num, OBS_DIM)
    arrays = {
        "observations": observations,
        "actions": actions.reshape(num, ACTION_DIM),
        "next_observations": states[:, 1:].reshape(num, OBS_DIM),
        "terminals": (index % EPISODE_LENGTH == EPISODE_LENGTH - 1).astype(np.float32),
        "trajectory_start": first,
        "trajectory_end": first + EPISODE_LENGTH - 1,
        "trajectory_step": index - first,
        "rewards": np.zeros(num, np.float32),
        "masks": np.ones(num, np.float32),
        "optimal": np.full(num, spec.NO_LABEL, np.int64),
    }
    stats = ogbench_npz.statistics(observations)
    writer.write_dataset(
        arrays,
        folder,
        features=ogbench_npz.goal_conditioned_features(OBS_DIM, ACTION_DIM, None),
        num_shards=2,
        source={
            "name": "benchmark/synthetic-pointmaze",
            "statistics": {"observations": stats, "goals": stats},
        },
        labels={"optimal": {"rule": "goal"}},
        action_scale=1.0,
    )
    return reader.load_dataset(folder)


def singletask_dataset(folder: str, goal_data: reader.Dataset) -> reader.Dataset:
    """The transitions of a goal-conditioned dataset with the placeholder reward."""
    source = goal_data.arrays
    terminals = source["terminals"].astype(np.float32)
    arrays = {
        key: source[key] for key in ("observations", "actions", "next_observations", "terminals")
    }
    arrays["rewards"] = terminals - 1.0
    arrays["masks"] = 1.0 - terminals
    arrays["optimal"] = np.full(len(terminals), spec.NO_LABEL, np.int64)
    observations = arrays["observations"]
    writer.write_dataset(
        arrays,
        folder,
        features=spec.transition_features(observations.shape[1], arrays["actions"].shape[1]),
        num_shards=2,
        source={
            "name": "benchmark/placeholder-reward",
            "statistics": {"observations": ogbench_npz.statistics(observations)},
        },
        labels={"optimal": {"rule": "none"}},
        action_scale=1.0,
    )
    return reader.load_dataset(folder)


# -- cfgrl_tf's side ---------------------------------------------------------------------------


class Ours:
    """One agent from its shipped gin file (plus paper_size.gin and `bindings`), trained by the
    Learner with `train.input_pipeline` as bound."""

    def __init__(self, key: str, size: str, dataset: reader.Dataset, root_dir: str, bindings=()):
        _, gin_file, agent_class, _ = AGENTS[key]
        gin.clear_config()
        configurables.parse_gin([gin_file, *([SIZES[size]] if SIZES[size] else [])], bindings)
        self.batch_size = int(gin.query_parameter("train.batch_size"))
        self.steps_per_loop = int(gin.query_parameter("train.steps_per_loop"))
        self.learner = Learner(
            agent_class,
            dataset,
            root_dir,
            tf.distribute.get_strategy(),
            batch_size=self.batch_size,
            seed=0,
            steps_per_loop=self.steps_per_loop,
            checkpoint_interval=10**9,
            jit_compile=bool(gin.query_parameter("train.jit_compile")),
            input_pipeline=_bound("train.input_pipeline", "auto"),
        )
        self.agent = self.learner.agent

    def run(self, steps: int) -> float:
        """Trains `steps` more steps; the Learner's own steps/s over them."""
        target = self.learner.current_step + steps
        with contextlib.redirect_stdout(io.StringIO()):  # its progress lines
            last = self.learner.train(target, log_interval=10**9)
        return last["perf/steps_per_second"]


def _bound(name: str, default):
    """A gin parameter's bound value, or `default` where nothing binds it."""
    try:
        return gin.query_parameter(name)
    except ValueError:
        return default


def print_peer_status(columns: str) -> None:
    """One line: the JAX peer's version and platform, or why it is missing (then only the
    cfgrl_tf `columns` are printed)."""
    if jax_peer is None:
        print(f"JAX peer unavailable ({JAX_MISSING}): `pip install -e \".[bench]\"` for it; "
              f"printing only the cfgrl_tf {columns}.")  # fmt: skip
        return
    jax = jax_peer.jax
    print(f"JAX {jax.__version__} on {jax.devices()[0].platform}; TensorFlow {tf.__version__}")


# -- the JAX peer, configured from the agent timed beside it ------------------------------------


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"train_vs_jax: the JAX peer does not implement {what}")


def _adam(optimizer) -> jax_peer.Adam:
    return jax_peer.Adam(
        float(optimizer.learning_rate),
        float(optimizer.beta_1),
        float(optimizer.beta_2),
        float(optimizer.epsilon),
    )


def _norm(normalizer) -> jax_peer.Normalization:
    return jax_peer.Normalization(
        tuple(map(float, normalizer.mean)), tuple(map(float, normalizer.std))
    )


def _check_mlp(net, what: str) -> None:
    _require(net.activation == "gelu", f"{what} activation {net.activation!r} (only gelu)")


def _check_ema(ema, what: str) -> None:
    _require(ema.decay > 0 and ema.start == 0 and ema.every == 1, f"{what}'s EMA settings")


def gcbc_config(agent) -> jax_peer.GCBCConfig:
    _require(not agent.hierarchical, "hierarchical GCBC")
    level = agent.levels["actor"]
    policy = level.policy
    _require(policy.squash_mean and not policy.mean_net.layer_norm, "this Gaussian policy")
    _check_mlp(policy.mean_net, "GCBC")
    return jax_peer.GCBCConfig(
        observation_dim=agent.observation_dim,
        action_dim=agent.action_dim,
        goal_dim=agent.goal_dim,
        hidden_dims=policy.hidden_dims,
        adam=_adam(level.optimizer),
        observation_norm=_norm(agent.normalize_observations),
        goal_norm=_norm(agent.normalize_goals),
        log_std_bounds=policy.log_std_bounds,
    )


def goal_flow_config(agent) -> jax_peer.GoalFlowConfig:
    levels = list(agent.levels.values())
    nets = [level.flow.online for level in levels]
    for level, net in zip(levels, nets, strict=True):
        _check_mlp(net, level.name)
        _check_ema(level.flow, level.name)
        _require(not level.generative.discrete_times, "discrete flow times")
        _require(net.hidden_dims == nets[0].hidden_dims, "levels of different sizes")
        _require(_adam(level.optimizer) == _adam(levels[0].optimizer), "different optimisers")
    return jax_peer.GoalFlowConfig(
        observation_dim=agent.observation_dim,
        action_dim=agent.action_dim,
        goal_dim=agent.goal_dim,
        hidden_dims=nets[0].hidden_dims,
        adam=_adam(levels[0].optimizer),
        observation_norm=_norm(agent.normalize_observations),
        goal_norm=_norm(agent.normalize_goals),
        goal_dropout=agent.goal_dropout,
        ema_decay=levels[0].flow.decay,
        hierarchical=agent.hierarchical,
        num_time_frequencies=nets[0].num_time_frequencies,
    )


def cfgrl_iql_config(agent) -> jax_peer.CFGRLIQLConfig:
    critic, net = agent.critic, agent.flow.online
    _check_mlp(net, "the flow")
    _check_ema(agent.flow, "the flow")
    _require(agent.objective == "label_dropout", f"objective {agent.objective!r}")
    _require(agent.label_source == "critic", f"label_source {agent.label_source!r}")
    _require(not agent.generative.discrete_times, "discrete flow times")
    _check_mlp(critic.value, "V")
    _check_mlp(critic.q, "Q")
    _require(critic.q.layer_norm, "a Q without LayerNorm")
    _require(critic.q.hidden_dims == critic.value.hidden_dims, "V and Q of different sizes")
    value_adam = _adam(critic.value_optimizer)
    _require(value_adam == _adam(critic.q_optimizer), "different V and Q optimisers")
    return jax_peer.CFGRLIQLConfig(
        observation_dim=agent.observation_dim,
        action_dim=agent.action_dim,
        hidden_dims=net.hidden_dims,
        adam=_adam(agent.actor_optimizer),
        critic_hidden_dims=critic.value.hidden_dims,
        critic_adam=value_adam,
        discount=critic.discount,
        expectile=critic.expectile,
        target_update_rate=critic.target_update_rate,
        advantage_from=critic.advantage_from,
        label_dropout=agent.label_dropout,
        optimality_threshold=agent.optimality_threshold,
        ema_decay=agent.flow.decay,
        num_labels=net.num_labels,
        label_embedding_dim=net.label_embedding_dim,
        num_time_frequencies=net.num_time_frequencies,
        layer_norm=net.layer_norm,
    )


def make_peer(key: str, ours: Ours, dataset: reader.Dataset) -> jax_peer.Peer:
    agent, arrays, batch = ours.agent, dataset.arrays, ours.batch_size
    if key == "cfgrl_iql":
        keys = ("observations", "actions", "next_observations", "rewards", "masks")
        sampler = jax_peer.BatchSampler(arrays, batch, keys)
        return jax_peer.cfgrl_iql(cfgrl_iql_config(agent), sampler)
    goals = ours.learner.goal_sampler
    draws = jax_peer.GoalDraws(
        p_current=goals.p_current,
        p_trajectory=goals.p_trajectory,
        p_random=goals.p_random,
        geometric=goals.geometric,
        discount=goals.discount,
        subgoal_steps=goals.subgoal_steps,
        subgoals="subgoals" in agent.batch_features,
    )
    table = arrays.get(ogbench_npz.GOAL_REPS, arrays["observations"])
    sampler = jax_peer.BatchSampler(arrays, batch, ("observations", "actions"), draws, table)
    if key == "gcbc":
        return jax_peer.gcbc(gcbc_config(agent), sampler)
    return jax_peer.goal_flow(goal_flow_config(agent), sampler)


# -- the run -----------------------------------------------------------------------------------


def load_data(args, workdir: str) -> tuple[reader.Dataset | None, reader.Dataset]:
    """(goal-conditioned dataset or None, single-task dataset)."""
    start = time.perf_counter()
    if args.dataset_dir:
        data = reader.load_dataset(args.dataset_dir)
        print(f"dataset {args.dataset_dir}: {data.num_records} transitions")
        if not ogbench_npz.is_goal_conditioned(data.info):
            print("  single-task: CFGRL+IQL only (the goal-conditioned agents need trajectories)")
            return None, data
        goal_data = data
    else:
        goal_data = synthetic_goal_dataset(os.path.join(workdir, "goal_data"), args.episodes)
        print(
            f"dataset: synthetic, {args.episodes} random walks of {EPISODE_LENGTH} steps in 2-D "
            f"({goal_data.num_records} transitions)"
        )
    task_data = None
    if "cfgrl_iql" in args.agents:
        task_data = singletask_dataset(os.path.join(workdir, "task_data"), goal_data)
        print("  CFGRL+IQL on the same transitions with a placeholder reward (speed only)")
    print(f"  written and read back in {time.perf_counter() - start:.0f}s")
    return goal_data, task_data


def bench(key: str, size: str, dataset, steps: int, repeats: int, workdir: str) -> dict:
    name = AGENTS[key][0]
    ours = Ours(key, size, dataset, os.path.join(workdir, f"{size}-{key}"))
    ours.run(WARMUP_STEPS)  # compiles
    peer = None
    if jax_peer is not None:
        peer = make_peer(key, ours, dataset)
        peer.run(WARMUP_STEPS)  # compiles
    rates = {"cfgrl_tf": [], "JAX": []}
    for repeat in range(repeats):
        sides = [("cfgrl_tf", ours)] + ([("JAX", peer)] if peer is not None else [])
        for side, runner in sides if repeat % 2 == 0 else sides[::-1]:
            rates[side].append(runner.run(steps))
        shown = ", ".join(f"{side} {r[-1]:.1f}" for side, r in rates.items() if r)
        print(f"  {size} {name} repeat {repeat + 1}: {shown} steps/s", flush=True)
    hidden = next(
        n.hidden_dims for n in ours.agent.networks().values() if hasattr(n, "hidden_dims")
    )
    shape = f"{len(hidden)}x{hidden[0]}, batch {ours.batch_size}"
    del ours, peer
    gc.collect()
    return {"name": name, "shape": shape, "rates": rates}


def ratio_text(rates: dict) -> str:
    if not rates["JAX"]:
        return "-"
    return f"{statistics.median(rates['cfgrl_tf']) / statistics.median(rates['JAX']):.2f}x"


def print_table(label: str, rows: list[dict]) -> None:
    print(f"\n== {label}")
    header = f"{'agent':<10} {'network, batch':<20} {'cfgrl_tf steps/s':>20} {'JAX steps/s':>20}"
    print(f"{header} {'cfgrl_tf/JAX':>13}")
    for row in rows:
        ours = ", ".join(f"{r:.1f}" for r in row["rates"]["cfgrl_tf"])
        peer = ", ".join(f"{r:.1f}" for r in row["rates"]["JAX"]) or "-"
        line = f"{row['name']:<10} {row['shape']:<20} {ours:>20} {peer:>20}"
        print(f"{line} {ratio_text(row['rates']):>13}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="cpu,paper", help="cpu (3x256) and/or paper (4x512)")
    parser.add_argument("--agents", default=",".join(AGENTS), help=",".join(AGENTS))
    parser.add_argument(
        "--steps", type=int, default=1000, help="timed steps per repeat at cpu (paper: a fifth)"
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dataset_dir", default=None, help="a converted OGBench dataset")
    parser.add_argument(
        "--episodes", type=int, default=1000, help="synthetic episodes (1000 steps each)"
    )
    args = parser.parse_args()
    args.agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [a for a in args.agents if a not in AGENTS] + [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(
            f"unknown {', '.join(unknown)}; agents: {', '.join(AGENTS)}; sizes: cpu, paper"
        )
    print_peer_status("column")
    summary = []
    with tempfile.TemporaryDirectory() as workdir:
        goal_data, task_data = load_data(args, workdir)
        for size in sizes:
            steps = args.steps if size == "cpu" else max(20, args.steps // 5)
            rows = []
            for key in args.agents:
                dataset = task_data if key == "cfgrl_iql" else goal_data
                if dataset is None:
                    continue
                rows.append(bench(key, size, dataset, steps, args.repeats, workdir))
            print_table(f"{size}: {steps} timed steps per repeat, each repeat shown", rows)
            for row in rows:
                if jax_peer is None:
                    figure = f"{statistics.median(row['rates']['cfgrl_tf']):.1f} steps/s"
                else:
                    figure = ratio_text(row["rates"])
                summary.append(f"{size} {row['name']} {figure}")
    what = "cfgrl_tf train steps/s" if jax_peer is None else "cfgrl_tf/JAX train steps/s"
    print(f"\nSummary ({what}): " + ", ".join(summary))


if __name__ == "__main__":
    main()
