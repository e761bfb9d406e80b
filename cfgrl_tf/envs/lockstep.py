"""Every rollout of an evaluation in lockstep: one environment each, one policy call per step.

The reference evaluation loop runs one episode at a time with one policy call per environment
step. For a sweep over a sampling knob (e.g. the guidance weight w) that is tasks x episodes x
|values| separate episodes, each paying a compiled policy's call overhead at every step.
`run_lockstep` runs all those rollouts side by side instead: one environment per rollout, and ONE
policy call per step for the rows of every rollout still running, the sweep value being a per-row
input. `run_one_at_a_time` is the reference loop, kept as the peer it is measured and tested
against. With an adapter whose resets the rollout's seed pins down, the two agree exactly for a
deterministic policy.

Neither loop knows which environments it runs: a suite (e.g. `cfgrl_tf.envs.ogbench_goal`) hands
them an `EnvAdapter` and its rollouts (`cfgrl_tf.envs.rollout`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cfgrl_tf import errors
from cfgrl_tf.envs import env_slots
from cfgrl_tf.envs.episodes import EpisodeResult
from cfgrl_tf.envs.rollout import EnvAdapter, Live, Recording, Rollout

# Policy seed of lockstep step t is base * stride + t: fresh noise each step, reproducible, and no
# two steps of an episode collide while episodes are shorter than the stride (OGBench's longest
# is 4000 steps).
SEED_STRIDE = 100_003

# (inputs, sweep_values [B] float32, seed) -> actions [B, action_dim], numpy or tf.Tensor.
Policy = Callable[[dict[str, np.ndarray], np.ndarray, int], Any]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a loop returns.

    Attributes:
        results: one per rollout, in rollout order.
        recordings: one per filmed rollout, in rollout order.
    """

    results: list[EpisodeResult]
    recordings: list[Recording]


def run_lockstep(
    adapter: EnvAdapter,
    policy: Policy,
    rollouts: Sequence[Rollout],
    *,
    seed: int,
    max_envs: int | None = None,
    env_workers: int | None = None,
    progress: bool = True,
) -> Outcome:
    """Runs the rollouts in lockstep, one policy call per step for all the running ones.

    At each step the policy gets the rows of the rollouts still running, padded (by repeating a
    running row, whose extra outputs are dropped) to the next power of two, capped at the number
    of environments. A compiled policy thus meets at most log2(envs) + 1 batch sizes, so an XLA
    sampler compiles a handful of times, while finished rollouts stop costing compute. Actions are
    clipped to the adapter's action bounds.

    Args:
        adapter: the suite's environments.
        policy: `(inputs, sweep_values [B] float32, seed int) -> actions [B, action_dim]`, where
            `inputs` holds "observations" [B, obs_dim] and each of the rollouts' `Start.inputs`
            (e.g. "goals" [B, goal_dim]), all float32. The seed differs at every step
            (base * SEED_STRIDE + step).
        rollouts: from `rollout.make_rollouts` (rollout i at position i).
        seed: non-negative; sets the policy seeds.
        max_envs: environments alive at once; rollouts beyond it wait and reuse a finished
            rollout's env. Default: `adapter.default_max_envs`.
        env_workers: processes stepping the environments (`env_slots.WorkerSlots`); 1 steps them
            in this process. Default: `env_slots.auto_workers` (one per core for a large
            evaluation). Results do not depend on it.
        progress: print a line to stdout about every 10% of the horizon's steps.

    Raises:
        UserError: a bad max_envs or env_workers, or a policy returning the wrong shape or
            non-finite actions.
    """
    if max_envs is not None:
        check_count("max_envs", max_envs)
    if env_workers is not None:
        check_count("env_workers", env_workers)
    first = adapter.make_env()
    try:
        if max_envs is None:
            max_envs = adapter.default_max_envs(first, len(rollouts))
        num_envs = min(max_envs, len(rollouts))
        bounds = adapter.action_bounds(first)
        horizon = adapter.horizon(first)
        if env_workers is None:
            env_workers = env_slots.auto_workers(num_envs, len(rollouts) * horizon)
        workers = min(env_workers, num_envs)
    except BaseException:
        adapter.close_env(first)
        raise
    slots = env_slots.make_slots(adapter, first, num_envs, workers)
    try:
        return _lockstep(adapter, policy, rollouts, slots, bounds, horizon, seed, progress)
    finally:
        slots.close()


def _lockstep(
    adapter: EnvAdapter,
    policy: Policy,
    rollouts: Sequence[Rollout],
    slots: env_slots.LocalSlots | env_slots.WorkerSlots,
    bounds: tuple[int, np.ndarray, np.ndarray],
    horizon: int,
    seed: int,
    progress: bool,
) -> Outcome:
    num_envs = len(slots)
    action_dim, low, high = bounds
    pending = iter(rollouts)
    running: list[Rollout | None] = [next(pending) for _ in range(num_envs)]
    lengths = np.zeros(num_envs, np.int64)  # steps of each slot's current rollout
    inputs: dict[str, np.ndarray] = {}
    sweeps = np.zeros(num_envs, np.float32)

    def load(assignments: list[tuple[int, Rollout]]) -> None:
        for (slot, rollout), (observation, fixed) in zip(
            assignments, slots.reset(assignments), strict=True
        ):
            row = {"observations": observation, **fixed}
            if not inputs:  # one row per env; "observations" first, then the start's inputs
                inputs.update(
                    {k: np.zeros((num_envs, *np.shape(v)), np.float32) for k, v in row.items()}
                )
            for key, value in row.items():
                inputs[key][slot] = value
            sweeps[slot] = rollout.sweep_value
            lengths[slot] = 0

    load(list(enumerate(running)))

    results: list[EpisodeResult | None] = [None] * len(rollouts)
    recordings: list[Recording] = []
    active = np.ones(num_envs, bool)
    bound = math.ceil(len(rollouts) / num_envs) * horizon
    report_every = max(1, horizon // 10)
    base = _policy_seed_base(seed, 0)
    step = finished = successes = env_steps = 0
    returns = 0.0
    start = time.perf_counter()
    while active.any():
        rows = np.flatnonzero(active)
        n = len(rows)
        # Pad to a power of two (capped at the env count) by repeating a running row.
        size = min(num_envs, 1 << (n - 1).bit_length())
        rows_in = np.concatenate([rows, np.full(size - n, rows[0])]) if size > n else rows
        actions = call_policy(
            policy,
            {k: v[rows_in] for k, v in inputs.items()},
            sweeps[rows_in],
            base * SEED_STRIDE + step,
            action_dim,
            adapter.name,
        )
        actions = np.clip(actions[:n], low, high)
        lengths[rows] += 1
        starts = []
        for slot, stepped in zip(rows.tolist(), slots.step(rows.tolist(), actions), strict=True):
            if not stepped.done:
                inputs["observations"][slot] = stepped.observation
                continue
            result = stepped.result
            results[running[slot].index] = result
            _keep(recordings, stepped.recording)
            finished += 1
            successes += result.success
            returns += result.episode_return
            env_steps += result.length
            nxt = next(pending, None)
            running[slot] = nxt
            if nxt is None:
                active[slot] = False
            else:
                starts.append((slot, nxt))
        if starts:
            load(starts)
        step += 1
        if progress and (step % report_every == 0 or not active.any()):
            rate = (env_steps + int(lengths[active].sum())) / max(time.perf_counter() - start, 1e-9)
            print(
                f"[{adapter.name}] step {step}/{bound}: active rollouts "
                f"{int(active.sum())}, finished {finished}/{len(rollouts)}, "
                f"{_so_far(adapter, successes, returns, finished)}, {rate:.0f} env steps/s",
                flush=True,
            )
    recordings.sort(key=lambda r: r.rollout.index)
    return Outcome([r for r in results if r is not None], recordings)


def run_one_at_a_time(
    adapter: EnvAdapter,
    policy: Policy,
    rollouts: Sequence[Rollout],
    *,
    seed: int,
    progress: bool = True,
) -> Outcome:
    """The reference loop: one env, one episode at a time, one policy call (B = 1) per step.

    Same arguments (but max_envs) and results as `run_lockstep`. Each episode's policy seeds
    start from their own base, so episodes do not share noise; progress lines come about every
    10% of the episodes.
    """
    total = len(rollouts)
    report_every = max(1, total // 10)
    results: list[EpisodeResult] = []
    recordings: list[Recording] = []
    env = adapter.make_env()
    try:
        action_dim, low, high = adapter.action_bounds(env)
        start, env_steps, successes, returns = time.perf_counter(), 0, 0, 0.0
        for i, rollout in enumerate(rollouts):
            live = Live(env, rollout, adapter)
            fixed = {k: np.asarray(v, np.float32)[None] for k, v in live.inputs.items()}
            sweep = np.full(1, rollout.sweep_value, np.float32)
            base = _policy_seed_base(seed, rollout.index + 1)
            done, success = False, False
            while not done:
                obs = np.asarray(live.observation, np.float32)[None]
                seed_t = base * SEED_STRIDE + live.length
                actions = call_policy(
                    policy, {"observations": obs, **fixed}, sweep, seed_t, action_dim, adapter.name
                )
                done, success = live.step(np.clip(actions[0], low, high))
            env_steps += live.length
            successes += success
            returns += live.episode_return
            results.append(live.result(success))
            _keep(recordings, live.recording(success))
            if progress and ((i + 1) % report_every == 0 or i + 1 == total):
                rate = env_steps / max(time.perf_counter() - start, 1e-9)
                print(
                    f"[{adapter.name}] episode {i + 1}/{total}: "
                    f"{_so_far(adapter, successes, returns, i + 1)}, {rate:.0f} env steps/s",
                    flush=True,
                )
    finally:
        adapter.close_env(env)
    return Outcome(results, recordings)


def call_policy(
    policy: Policy,
    inputs: dict[str, np.ndarray],
    sweep_values: np.ndarray,
    seed: int,
    action_dim: int,
    env_name: str,
) -> np.ndarray:
    """Calls the policy on a batch; returns its actions as float32 [B, action_dim].

    Raises:
        UserError: actions of another shape, non-numeric or non-finite.
    """
    batch = sweep_values.shape[0]
    out = np.asarray(policy(inputs, sweep_values, int(seed)))
    if out.shape != (batch, action_dim):
        raise errors.UserError(
            f"policy returned actions of shape {tuple(out.shape)}, expected ({batch}, "
            f"{action_dim}) for {batch} rows of {env_name} (action_dim {action_dim})"
        )
    try:
        actions = out.astype(np.float32)
    except (TypeError, ValueError) as e:
        raise errors.UserError(f"policy returned non-numeric actions of dtype {out.dtype}") from e
    bad = ~np.isfinite(actions).all(axis=1)
    if bad.any():
        raise errors.UserError(
            f"policy returned non-finite actions in {int(bad.sum())} of {batch} rows on "
            f"{env_name}, at sweep values {sorted(set(sweep_values[bad].tolist()))}"
        )
    return actions


def check_count(name: str, value: Any) -> None:
    """Raises a UserError naming `name` unless `value` is a positive integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise errors.UserError(f"{name} must be a positive integer, got {value!r}")


def choose_loop(*, one_at_a_time: bool, max_envs: int | None, env_workers: int | None = None):
    """The loop an evaluation runs: `run_one_at_a_time` (the reference), or `run_lockstep` with
    `max_envs` environments alive at once, stepped by `env_workers` processes (both checked;
    None for the defaults)."""
    if one_at_a_time:
        return run_one_at_a_time
    if max_envs is not None:
        check_count("max_envs", max_envs)
    if env_workers is not None:
        check_count("env_workers", env_workers)
    return functools.partial(run_lockstep, max_envs=max_envs, env_workers=env_workers)


def check_seed(seed: Any) -> int:
    """`seed` as an int; raises a UserError unless it is a non-negative integer (not a bool)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise errors.UserError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _so_far(adapter: EnvAdapter, successes: int, returns: float, finished: int) -> str:
    # A suite scored by return (an adapter with `scores_success = False`) has no successes.
    if getattr(adapter, "scores_success", True):
        return f"successes so far {successes}"
    mean = returns / finished if finished else float("nan")
    return f"mean return so far {mean:.1f}"


def _keep(recordings: list[Recording], recording: Recording | None) -> None:
    if recording is not None:
        recordings.append(recording)


def _policy_seed_base(seed: int, stream: int) -> int:
    # Stream 0 is the lockstep loop; stream i + 1 is rollout i in the one-at-a-time loop. Below
    # 2**32, so base * SEED_STRIDE + step stays far inside int64.
    return int(np.random.SeedSequence([seed, 1_000_003, stream]).generate_state(1)[0])
