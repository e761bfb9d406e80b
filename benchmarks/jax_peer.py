"""A plain JAX/Flax/optax implementation of cfgrl_tf's train steps: the peer of train_vs_jax.py.

Written for this benchmark from cfgrl_tf's own agent files (the networks, losses, optimisers and
target updates of agents/gcbc.py, gc_cfgrl.py, cfgrl.py and critic.py), the way a user of the
reference JAX code runs training: a numpy sampler draws each batch on the host (random indices
into numpy arrays, and the goals of the goal-conditioned agents drawn in numpy too), then one
jitted update per step. Nothing here imports cfgrl_tf or TensorFlow: train_vs_jax.py reads the
settings off the cfgrl_tf agent it times and passes them in as the configs below.

The step does the same work as cfgrl_tf's, network for network and pass for pass:

  GCBC       one Gaussian MLP over [s, g]: forward, backward, Adam.
  GCFBC,     one goal-conditioned flow: goal dropped to a learned null goal with probability
  CFGRL      `goal_dropout` (0 for GCFBC), flow-matching loss, backward, Adam, EMA of the weights.
  HCFGRL     two such flows (actor on the subgoal, high actor on the goal), each its own Adam
             and EMA.
  CFGRL+IQL  the IQL critic (target twin Q forward; V forward, backward, Adam; V on the next
             states; twin Q forward, backward, Adam), the advantage from the Q and V those
             losses computed (the critic before its step, as the reference), the
             label-conditioned flow (forward, backward, Adam), then the Polyak target Q and EMA.

Randomness is JAX's: a key carried in the state and split every step.

Sampling (the peer of sample_vs_jax.py): `goal_flow_sampler` is the jitted policy of GCFBC, CFGRL
and HCFGRL, Euler steps of v = v_null + w (v_goal - v_null) with both halves in one network call
per step, the high actor's subgoal first for HCFGRL, the batch as the leading dimension.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

# Keras's defaults, which cfgrl_tf's networks and optimisers use.
KERAS_LAYER_NORM_EPSILON = 1e-3
KERAS_EMBEDDING_RANGE = 0.05
# The flow conditioned on an optimality label: 0 is the null label, then not optimal, optimal.
NULL_LABEL, NOT_OPTIMAL_LABEL, OPTIMAL_LABEL = 0, 1, 2


# -- networks ----------------------------------------------------------------------------------


def gelu(x: jax.Array) -> jax.Array:
    # Keras's "gelu" is the exact (erf) form; flax's nn.gelu defaults to the tanh approximation.
    return jax.nn.gelu(x, approximate=False)


def _dense(width: int) -> nn.Dense:
    # Keras Dense: Glorot-uniform kernels, zero biases (cfgrl_tf's output layers too, at scale 1).
    return nn.Dense(width, kernel_init=nn.initializers.xavier_uniform())


class MLP(nn.Module):
    """Dense + gelu (+ LayerNorm after the activation) per hidden layer, then a linear output."""

    hidden_dims: Sequence[int]
    output_dim: int
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden_dims:
            x = gelu(_dense(width)(x))
            if self.layer_norm:
                x = nn.LayerNorm(epsilon=KERAS_LAYER_NORM_EPSILON)(x)
        return _dense(self.output_dim)(x)


def time_features(times: jax.Array, num_frequencies: int) -> jax.Array:
    """[B, 1 + 2 * num_frequencies]: t and sin/cos of t at log-spaced frequencies (1 to 16)."""
    t = times.reshape(-1, 1)
    if not num_frequencies:
        return t
    angles = 2.0 * math.pi * t * (2.0 ** jnp.linspace(0.0, 4.0, num_frequencies))[None, :]
    return jnp.concatenate([t, jnp.sin(angles), jnp.cos(angles)], axis=-1)


class GoalVectorField(nn.Module):
    """v(x_t, t | s, g), with a learned null goal where `condition_mask` is 0."""

    hidden_dims: Sequence[int]
    output_dim: int
    goal_dim: int
    num_time_frequencies: int

    @nn.compact
    def __call__(self, observations, goals, condition_mask, noisy, times):
        null_goal = self.param("null_goal", nn.initializers.zeros, (self.goal_dim,))
        mask = condition_mask[:, None]
        goals = mask * goals + (1.0 - mask) * null_goal[None, :]
        features = [observations, goals, noisy, time_features(times, self.num_time_frequencies)]
        return MLP(self.hidden_dims, self.output_dim)(jnp.concatenate(features, axis=-1))


def _keras_uniform(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -KERAS_EMBEDDING_RANGE, KERAS_EMBEDDING_RANGE)


class LabelVectorField(nn.Module):
    """v(x_t, t | s, o) over an optimality label o, the null label where `condition_mask` is 0."""

    hidden_dims: Sequence[int]
    output_dim: int
    num_labels: int
    label_embedding_dim: int
    num_time_frequencies: int
    layer_norm: bool

    @nn.compact
    def __call__(self, observations, labels, condition_mask, noisy, times):
        labels = jnp.where(condition_mask > 0.5, labels, NULL_LABEL)
        embedding = nn.Embed(
            self.num_labels + 1, self.label_embedding_dim, embedding_init=_keras_uniform
        )(labels)
        features = [observations, noisy, time_features(times, self.num_time_frequencies), embedding]
        mlp = MLP(self.hidden_dims, self.output_dim, layer_norm=self.layer_norm)
        return mlp(jnp.concatenate(features, axis=-1))


class GaussianPolicy(nn.Module):
    """N(tanh(mu(x)), diag(exp(log_std))) with a state-independent, clipped log std."""

    hidden_dims: Sequence[int]
    action_dim: int
    log_std_bounds: tuple[float, float]
    squash_mean: bool

    @nn.compact
    def __call__(self, x):
        mean = MLP(self.hidden_dims, self.action_dim)(x)
        if self.squash_mean:
            mean = jnp.tanh(mean)
        log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
        log_std = jnp.clip(log_std, *self.log_std_bounds)
        return mean, jnp.broadcast_to(log_std, mean.shape)


class ValueNetwork(nn.Module):
    hidden_dims: Sequence[int]

    @nn.compact
    def __call__(self, observations):
        return MLP(self.hidden_dims, 1, layer_norm=True)(observations)[:, 0]


class TwinQNetwork(nn.Module):
    """Two separate Q(s, a) MLP heads (as cfgrl_tf's TwinQNetwork, not a vmapped ensemble)."""

    hidden_dims: Sequence[int]

    @nn.compact
    def __call__(self, observations, actions):
        x = jnp.concatenate([observations, actions], axis=-1)
        heads = [MLP(self.hidden_dims, 1, layer_norm=True, name=f"q{i}")(x)[:, 0] for i in (0, 1)]
        return jnp.stack(heads, axis=0)


# -- configs -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Adam:
    """Keras Adam's settings; optax.adam adds epsilon after the bias correction, Keras before it
    (the same work, a slightly different epsilon)."""

    learning_rate: float
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7

    def make(self) -> optax.GradientTransformation:
        return optax.adam(self.learning_rate, b1=self.beta_1, b2=self.beta_2, eps=self.epsilon)


@dataclasses.dataclass(frozen=True)
class Normalization:
    """(x - mean) / std with the dataset's statistics, constants of the compiled step."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, x):
        return (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)


@dataclasses.dataclass(frozen=True)
class GCBCConfig:
    observation_dim: int
    action_dim: int
    goal_dim: int
    hidden_dims: tuple[int, ...]
    adam: Adam
    observation_norm: Normalization
    goal_norm: Normalization
    log_std_bounds: tuple[float, float] = (-5.0, 2.0)


@dataclasses.dataclass(frozen=True)
class GoalFlowConfig:
    """GCFBC (goal_dropout 0), CFGRL (0.1) and, with `hierarchical`, HGCFBC and HCFGRL."""

    observation_dim: int
    action_dim: int
    goal_dim: int
    hidden_dims: tuple[int, ...]
    adam: Adam
    observation_norm: Normalization
    goal_norm: Normalization
    goal_dropout: float
    ema_decay: float
    hierarchical: bool = False
    num_time_frequencies: int = 8


@dataclasses.dataclass(frozen=True)
class CFGRLIQLConfig:
    observation_dim: int
    action_dim: int
    hidden_dims: tuple[int, ...]
    adam: Adam
    critic_hidden_dims: tuple[int, ...]
    critic_adam: Adam
    discount: float
    expectile: float
    target_update_rate: float
    advantage_from: str
    label_dropout: float
    optimality_threshold: float
    ema_decay: float
    num_labels: int = 2
    label_embedding_dim: int = 32
    num_time_frequencies: int = 8
    layer_norm: bool = False


@dataclasses.dataclass(frozen=True)
class GoalDraws:
    """cfgrl_tf's GoalSampler, drawn in numpy: the goal of record i (trajectory end e) is i with
    probability p_current, a future state in (i, e] with p_trajectory (uniform, or geometric with
    `discount`), a random record with p_random; the subgoal is min(i + subgoal_steps, goal) (the
    trajectory's end for a goal outside it)."""

    p_current: float
    p_trajectory: float
    p_random: float
    geometric: bool
    discount: float
    subgoal_steps: int
    subgoals: bool


# -- the host side -----------------------------------------------------------------------------


class BatchSampler:
    """Uniform batches with replacement from numpy arrays, goals drawn on the host.

    Args:
      arrays: the dataset's arrays (record-major), with `trajectory_end` for goal draws.
      batch_size: rows per batch.
      keys: the stored features the step reads.
      goals: how to draw goals (None: no goals).
      goal_table: the goal of each record ([N, goal_dim]; the observations if goals are states).
      seed: numpy's seed.
    """

    def __init__(self, arrays, batch_size, keys, goals=None, goal_table=None, seed=0):
        self.arrays = {key: np.ascontiguousarray(arrays[key]) for key in keys}
        self.num_records = len(next(iter(self.arrays.values())))
        self.batch_size = int(batch_size)
        self.goals = goals
        if goals is not None:
            self.trajectory_end = np.asarray(arrays["trajectory_end"], np.int64)
            self.goal_table = np.ascontiguousarray(goal_table, np.float32)
        self.rng = np.random.default_rng(seed)

    def sample(self) -> dict[str, np.ndarray]:
        rng, size = self.rng, self.batch_size
        indices = rng.integers(0, self.num_records, size)
        batch = {key: value[indices] for key, value in self.arrays.items()}
        if self.goals is None:
            return batch
        g = self.goals
        end = self.trajectory_end[indices]
        remaining = end - indices
        if g.geometric:
            offset = np.minimum(rng.geometric(1.0 - g.discount, size), remaining)
        else:
            offset = np.minimum(
                np.floor(rng.random(size) * remaining).astype(np.int64) + 1, remaining
            )
        goal_indices = indices + offset
        if g.p_trajectory < 1.0:
            kind = rng.random(size)
            random = rng.integers(0, self.num_records, size)
            goal_indices = np.where(
                kind < g.p_current,
                indices,
                np.where(kind < g.p_current + g.p_trajectory, goal_indices, random),
            )
        batch["goals"] = self.goal_table[goal_indices]
        if g.subgoals:
            inside = (goal_indices >= indices) & (goal_indices <= end)
            limit = np.where(inside, goal_indices, end)
            batch["subgoals"] = self.goal_table[np.minimum(indices + g.subgoal_steps, limit)]
        return batch


# -- the device side ---------------------------------------------------------------------------


def polyak(target, source, rate: float):
    return jax.tree.map(lambda t, s: rate * s + (1.0 - rate) * t, target, source)


def adam_step(tx, params, opt_state, grads):
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def flow_matching_loss(apply_fn, params, context, targets, key):
    """The mean over the batch of |v(x_t, t | context) - (target - noise)|^2 / dim."""
    noise_key, time_key = jax.random.split(key)
    noise = jax.random.normal(noise_key, targets.shape)
    times = jax.random.uniform(time_key, targets.shape[:1])
    t = times[:, None]
    x_t = (1.0 - t) * noise + t * targets
    predicted = apply_fn(params, *context, x_t, times)
    return jnp.mean(jnp.mean(jnp.square(predicted - (targets - noise)), axis=-1))


@dataclasses.dataclass
class Peer:
    """A JAX agent ready to train: its state, its jitted update and its batch sampler."""

    name: str
    state: Any
    update: Callable
    sampler: BatchSampler

    def run(self, steps: int) -> float:
        """Trains `steps` steps (sample on the host, one jitted update each); returns steps/s."""
        state, metrics = self.state, None
        start = time.perf_counter()
        for _ in range(steps):
            state, metrics = self.update(state, self.sampler.sample())
        metrics = jax.device_get(metrics)  # waits for the last step, as a log point would
        elapsed = time.perf_counter() - start
        self.state = state
        bad = [k for k, v in metrics.items() if not np.isfinite(v)]
        if bad:
            raise FloatingPointError(f"{self.name}: non-finite {', '.join(bad)}")
        return steps / elapsed


def gcbc(config: GCBCConfig, sampler: BatchSampler, seed: int = 0) -> Peer:
    """Goal-conditioned Gaussian BC: maximum likelihood of the action given [s, g]."""
    policy = GaussianPolicy(
        tuple(config.hidden_dims), config.action_dim, config.log_std_bounds, squash_mean=True
    )
    tx = config.adam.make()
    dim = config.observation_dim + config.goal_dim
    params = policy.init(jax.random.PRNGKey(seed), jnp.zeros([2, dim]))
    state = {"params": params, "opt": tx.init(params)}

    def loss_fn(params, inputs, actions):
        mean, log_std = policy.apply(params, inputs)
        z = (actions - mean) * jnp.exp(-log_std)
        log_prob = (
            -0.5 * jnp.sum(jnp.square(z), -1)
            - jnp.sum(log_std, -1)
            - 0.5 * config.action_dim * math.log(2 * math.pi)
        )
        return -jnp.mean(log_prob), mean

    @jax.jit
    def update(state, batch):
        observations = config.observation_norm(batch["observations"])
        goals = config.goal_norm(batch["goals"])
        inputs = jnp.concatenate([observations, goals], axis=-1)
        actions = batch["actions"]
        (loss, mean), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state["params"], inputs, actions
        )
        params, opt = adam_step(tx, state["params"], state["opt"], grads)
        metrics = {
            "actor/nll": loss,
            "actor/mse": jnp.mean(jnp.square(mean - actions)),
            "actor/grad_norm": optax.global_norm(grads),
        }
        return {"params": params, "opt": opt}, metrics

    return Peer("gcbc", state, update, sampler)


def goal_flow(config: GoalFlowConfig, sampler: BatchSampler, seed: int = 0) -> Peer:
    """GCFBC, CFGRL and HCFGRL: goal-conditioned flows trained by flow matching, the goal dropped
    to the learned null goal with probability `goal_dropout`; an EMA of each flow's weights."""
    levels = {"actor": config.action_dim}
    if config.hierarchical:
        levels["high_actor"] = config.goal_dim
    nets = {
        name: GoalVectorField(
            tuple(config.hidden_dims), output_dim, config.goal_dim, config.num_time_frequencies
        )
        for name, output_dim in levels.items()
    }
    tx = config.adam.make()
    keys = jax.random.split(jax.random.PRNGKey(seed), len(nets) + 1)
    state = {"rng": keys[0]}
    for key, (name, net) in zip(keys[1:], nets.items(), strict=True):
        params = net.init(
            key,
            jnp.zeros([2, config.observation_dim]),
            jnp.zeros([2, config.goal_dim]),
            jnp.ones([2]),
            jnp.zeros([2, levels[name]]),
            jnp.zeros([2]),
        )
        state[name] = {"params": params, "opt": tx.init(params), "ema": params}

    def level_step(name, level, observations, goals, targets, key):
        drop_key, flow_key = jax.random.split(key)
        keep = jax.random.uniform(drop_key, targets.shape[:1]) >= config.goal_dropout
        context = (observations, goals, keep.astype(jnp.float32))
        loss, grads = jax.value_and_grad(
            lambda p: flow_matching_loss(nets[name].apply, p, context, targets, flow_key)
        )(level["params"])
        params, opt = adam_step(tx, level["params"], level["opt"], grads)
        ema = polyak(level["ema"], params, 1.0 - config.ema_decay)
        metrics = {f"{name}/flow_loss": loss, f"{name}/grad_norm": optax.global_norm(grads)}
        return {"params": params, "opt": opt, "ema": ema}, metrics

    @jax.jit
    def update(state, batch):
        rng, actor_key, high_key = jax.random.split(state["rng"], 3)
        observations = config.observation_norm(batch["observations"])
        goals = config.goal_norm(batch["goals"])
        new = {"rng": rng}
        if not config.hierarchical:
            new["actor"], metrics = level_step(
                "actor", state["actor"], observations, goals, batch["actions"], actor_key
            )
            return new, metrics
        subgoals = config.goal_norm(batch["subgoals"])
        new["actor"], metrics = level_step(
            "actor", state["actor"], observations, subgoals, batch["actions"], actor_key
        )
        new["high_actor"], high_metrics = level_step(
            "high_actor", state["high_actor"], observations, goals, subgoals, high_key
        )
        return new, {**metrics, **high_metrics}

    name = ("h" if config.hierarchical else "") + ("cfgrl" if config.goal_dropout else "gcfbc")
    return Peer(name, state, update, sampler)


def cfgrl_iql(config: CFGRLIQLConfig, sampler: BatchSampler, seed: int = 0) -> Peer:
    """CFGRL with an IQL critic: V by expectile regression on the target min Q, twin Q by TD on
    r + gamma mask V(s'), the label o = 1[A >= threshold] dropped to the null label with
    probability `label_dropout`, flow matching on pi(a | s, o)."""
    if config.advantage_from not in ("online", "target"):
        raise ValueError(f"advantage_from={config.advantage_from!r}")
    value = ValueNetwork(tuple(config.critic_hidden_dims))
    q = TwinQNetwork(tuple(config.critic_hidden_dims))
    flow = LabelVectorField(
        tuple(config.hidden_dims),
        config.action_dim,
        config.num_labels,
        config.label_embedding_dim,
        config.num_time_frequencies,
        config.layer_norm,
    )
    critic_tx, actor_tx = config.critic_adam.make(), config.adam.make()
    rng, value_key, q_key, flow_key = jax.random.split(jax.random.PRNGKey(seed), 4)
    observations = jnp.zeros([2, config.observation_dim])
    actions = jnp.zeros([2, config.action_dim])
    value_params = value.init(value_key, observations)
    q_params = q.init(q_key, observations, actions)
    flow_params = flow.init(
        flow_key, observations, jnp.ones([2], jnp.int32), jnp.ones([2]), actions, jnp.zeros([2])
    )
    state = {
        "rng": rng,
        "value": {"params": value_params, "opt": critic_tx.init(value_params)},
        "q": {"params": q_params, "opt": critic_tx.init(q_params), "target": q_params},
        "actor": {"params": flow_params, "opt": actor_tx.init(flow_params), "ema": flow_params},
    }
    tau = config.expectile

    @jax.jit
    def update(state, batch):
        rng, drop_key, flow_key = jax.random.split(state["rng"], 3)
        observations, actions = batch["observations"], batch["actions"]

        # V: expectile regression on the target network's min Q.
        target_q = jnp.min(q.apply(state["q"]["target"], observations, actions), axis=0)

        def value_loss(params):
            v = value.apply(params, observations)
            diff = target_q - v
            return jnp.mean(jnp.where(diff < 0.0, 1.0 - tau, tau) * jnp.square(diff)), v

        (v_loss, v), v_grads = jax.value_and_grad(value_loss, has_aux=True)(
            state["value"]["params"]
        )
        value_params, value_opt = adam_step(
            critic_tx, state["value"]["params"], state["value"]["opt"], v_grads
        )

        # Q: TD on r + gamma mask V(s'), V already updated (as in cfgrl_tf's program order).
        next_v = value.apply(value_params, batch["next_observations"])
        td_target = batch["rewards"] + config.discount * batch["masks"] * next_v

        def q_loss(params):
            q_values = q.apply(params, observations, actions)
            return jnp.mean(jnp.sum(jnp.square(q_values - td_target[None, :]), axis=0)), q_values

        (q_loss_value, q_values), q_grads = jax.value_and_grad(q_loss, has_aux=True)(
            state["q"]["params"]
        )
        q_params, q_opt = adam_step(critic_tx, state["q"]["params"], state["q"]["opt"], q_grads)

        # The optimality label from the critic before this step (the values its losses computed),
        # as the reference agent and cfgrl_tf's IQLCritic.train_step.
        q_before = jnp.min(q_values, axis=0) if config.advantage_from == "online" else target_q
        advantages = q_before - v
        optimal = jax.lax.stop_gradient(advantages) >= config.optimality_threshold
        labels = jnp.where(optimal, OPTIMAL_LABEL, NOT_OPTIMAL_LABEL)
        keep = jax.random.uniform(drop_key, optimal.shape) >= config.label_dropout
        context = (observations, labels, keep.astype(jnp.float32))
        flow_loss, flow_grads = jax.value_and_grad(
            lambda p: flow_matching_loss(flow.apply, p, context, actions, flow_key)
        )(state["actor"]["params"])
        flow_params, flow_opt = adam_step(
            actor_tx, state["actor"]["params"], state["actor"]["opt"], flow_grads
        )

        new = {
            "rng": rng,
            "value": {"params": value_params, "opt": value_opt},
            "q": {
                "params": q_params,
                "opt": q_opt,
                "target": polyak(state["q"]["target"], q_params, config.target_update_rate),
            },
            "actor": {
                "params": flow_params,
                "opt": flow_opt,
                "ema": polyak(state["actor"]["ema"], flow_params, 1.0 - config.ema_decay),
            },
        }
        metrics = {
            "critic/value_loss": v_loss,
            "critic/q_loss": q_loss_value,
            "critic/v_mean": jnp.mean(v),
            "critic/q_mean": jnp.mean(q_values),
            "critic/value_grad_norm": optax.global_norm(v_grads),
            "critic/q_grad_norm": optax.global_norm(q_grads),
            "actor/flow_loss": flow_loss,
            "actor/grad_norm": optax.global_norm(flow_grads),
            "actor/optimal_fraction": jnp.mean(optimal.astype(jnp.float32)),
        }
        return new, metrics

    return Peer("cfgrl_iql", state, update, sampler)


# -- sampling (the peer of sample_vs_jax.py) ------------------------------------------------------


def goal_vector_fields(config: GoalFlowConfig) -> dict[str, GoalVectorField]:
    """The flows of a goal-conditioned agent by level: the actor, and the high actor (over
    subgoals) of a hierarchical one, as `goal_flow` builds them."""
    levels = {"actor": config.action_dim}
    if config.hierarchical:
        levels["high_actor"] = config.goal_dim
    return {
        name: GoalVectorField(
            tuple(config.hidden_dims), output_dim, config.goal_dim, config.num_time_frequencies
        )
        for name, output_dim in levels.items()
    }


def guided_euler(net, params, observations, goals, noise, weights, *, num_steps, guided, clip):
    """Euler steps of v = v_null + w (v_goal - v_null) from `noise` at t = 0 to t = 1.

    As cfgrl_tf's sampler: the goal and null-goal halves of the batch go through the network in
    one call of 2B rows per step, `weights` [B] is each row's w, and actions (not subgoals) are
    clipped into [-1, 1] at the end. Unguided (`guided` False), one call of B rows on the goal.
    """
    rows = noise.shape[0]
    copies = 2 if guided else 1
    mask = jnp.ones([rows])
    if guided:
        observations = jnp.concatenate([observations, observations], axis=0)
        goals = jnp.concatenate([goals, goals], axis=0)
        mask = jnp.concatenate([mask, jnp.zeros([rows])], axis=0)
    x, dt = noise, 1.0 / num_steps
    for step in range(num_steps):  # unrolled, as cfgrl_tf's compiled integration is
        times = jnp.full([copies * rows], step * dt)
        v = net.apply(params, observations, goals, mask, jnp.concatenate([x] * copies, 0), times)
        if guided:
            cond, null = jnp.split(v, 2, axis=0)
            v = null + weights[:, None] * (cond - null)
        x = x + dt * v
    return jnp.clip(x, -1.0, 1.0) if clip else x


@dataclasses.dataclass
class GoalFlowSampler:
    """A goal-conditioned flow policy ready to sample: its networks, weights and jitted sampler.

    `sample(params, observations [B, obs], goals [B, goal], guidance_weight [B], seed [])`
    returns [B, action_dim] actions; the batch is the leading dimension of every input.
    """

    name: str
    nets: dict[str, GoalVectorField]
    params: dict[str, Any]
    sample: Callable

    def __call__(self, observations, goals, guidance_weight, seed) -> np.ndarray:
        """Actions as a numpy array (waits for them, as a policy call in an evaluator would)."""
        return np.asarray(self.sample(self.params, observations, goals, guidance_weight, seed))


def goal_flow_sampler(
    config: GoalFlowConfig,
    num_flow_steps: int,
    guided: bool,
    params: dict[str, Any] | None = None,
    seed: int = 0,
) -> GoalFlowSampler:
    """The sampler of GCFBC, CFGRL and HCFGRL, the way the reference JAX code samples.

    Inputs are normalised with the dataset's statistics; a hierarchical policy first samples a
    subgoal (in the normalised goal space, unclipped) with the high actor, then the action toward
    it with the actor, both at the same w. Noise comes from `jax.random` inside the jitted
    function, from a key made of the scalar seed.

    Args:
      config: the agent's sizes and statistics (the training settings are not read).
      num_flow_steps: Euler steps per level.
      guided: classifier-free guidance (CFGRL, HCFGRL); False samples on the goal alone (GCFBC).
      params: {level: flax params} (e.g. copied from a cfgrl_tf agent); None initialises them as
        `goal_flow` does.
      seed: the initialisation's seed when `params` is None.
    """
    nets = goal_vector_fields(config)
    if params is None:
        keys = jax.random.split(jax.random.PRNGKey(seed), len(nets))
        params = {
            name: net.init(
                key,
                jnp.zeros([2, config.observation_dim]),
                jnp.zeros([2, config.goal_dim]),
                jnp.ones([2]),
                jnp.zeros([2, net.output_dim]),
                jnp.zeros([2]),
            )
            for key, (name, net) in zip(keys, nets.items(), strict=True)
        }
    steps = {"num_steps": int(num_flow_steps), "guided": bool(guided)}

    @jax.jit
    def sample(params, observations, goals, guidance_weight, seed):
        high_key, low_key = jax.random.split(jax.random.PRNGKey(seed))
        observations = config.observation_norm(observations)
        goals = config.goal_norm(goals)
        rows = observations.shape[0]
        weights = jnp.broadcast_to(jnp.asarray(guidance_weight, jnp.float32), (rows,))
        if config.hierarchical:
            noise = jax.random.normal(high_key, (rows, config.goal_dim))
            goals = guided_euler(
                nets["high_actor"], params["high_actor"], observations, goals, noise, weights,
                clip=False, **steps,
            )  # fmt: skip
        noise = jax.random.normal(low_key, (rows, config.action_dim))
        return guided_euler(
            nets["actor"], params["actor"], observations, goals, noise, weights, clip=True, **steps
        )

    name = ("h" if config.hierarchical else "") + ("cfgrl" if guided else "gcfbc")
    return GoalFlowSampler(name, nets, params, sample)
