"""Goal-conditioned evaluation on OGBench environments, every rollout of a sweep in lockstep.

OGBench scores a goal-conditioned policy on each of an environment's five evaluation tasks: reset
with `options=dict(task_id=k)`, read the goal from `info["goal"]`, act until the episode ends
(success or the time limit), and count `info["success"]` of the last step. The reference loop runs
one episode at a time with one policy call per environment step. For a sweep over the guidance
weight w that is tasks x episodes x |w| separate episodes, each paying a compiled policy's call
overhead at every step.

`evaluate_lockstep` runs all those rollouts side by side instead: one environment per rollout, and
ONE policy call per step for the rows of every rollout still running, w being a per-row input.
`evaluate_one_at_a_time` is the reference loop, kept as the peer it is measured and tested against.

Paired comparisons. Episode e of task k is reset from a seed derived from (seed, k, e) only, so
every w faces the same start and goal. A reset seed alone does not pin these in OGBench: mazes
draw the start noise (and teleport targets) from numpy's global generator, and resets take a few
`action_space.sample()` steps whose generator is unseeded (manipulation envs even build a new,
randomly seeded action space on every access). `_reset` seeds all three, so the same seed gives
the same start and goal in a fresh or a reused environment, which also makes the lockstep and the
one-at-a-time loops agree exactly for a deterministic policy.

Nothing here imports ogbench or MuJoCo at import time: MuJoCo picks its rendering backend from
MUJOCO_GL when it is first imported, so that import waits until an evaluation starts. Nothing here
renders either: MuJoCo's EGL backend and TensorFlow segfault in one process, so videos are made by
replaying the recorded actions in a subprocess without TensorFlow (`cfgrl_tf.envs.video_replay`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from cfgrl_tf import errors

GOAL_KEYS = ("observations", "oracle_reps")
# Every OGBench goal-conditioned environment has five evaluation tasks.
NUM_TASKS = 5
# Policy seed of lockstep step t is base * stride + t: fresh noise each step, reproducible, and no
# two steps of an episode collide while episodes are shorter than the stride (OGBench's longest
# is 4000 steps).
SEED_STRIDE = 100_003
# Building a manipulation env compiles its MJCF model: measured 0.86 s and 165 MB per cube-single
# env on this repository's machine (a point maze: 9 ms and well under 1 MB). Those run through a
# pool of this many environments, each reused for the next waiting rollout.
DEFAULT_MANIPULATION_ENVS = 16
DEFAULT_VIDEO_FRAME_SKIP = 3
# The renderer probe imports MuJoCo and renders one tiny frame: ~2 s, far more on a loaded machine.
PROBE_TIMEOUT_SECONDS = 300

_VIDEO_HELPER = "cfgrl_tf.envs.video_replay"

_SUPPORTED_PACKAGES = ("ogbench.locomaze", "ogbench.manipspace")
_RENDERER_HINT = (
    "videos need an offscreen renderer: set MUJOCO_GL=egl or MUJOCO_GL=osmesa before starting "
    "Python (or run with a DISPLAY), or leave video_dir unset"
)

Policy = Callable[[np.ndarray, np.ndarray, np.ndarray, int], Any]


@dataclasses.dataclass(frozen=True)
class EpisodeResult:
    """One finished rollout.

    Attributes:
        task_id: the OGBench evaluation task, 1..5.
        episode: the episode index within the task, 0-based.
        sweep_value: the sweep value (e.g. the guidance weight w) the policy was called with.
        success: `info["success"]` of the last step.
        length: environment steps taken.
        episode_return: sum of the environment's rewards (`return` is a Python keyword).
    """

    task_id: int
    episode: int
    sweep_value: float
    success: bool
    length: int
    episode_return: float


@dataclasses.dataclass(frozen=True)
class _Rollout:
    index: int
    task_id: int
    episode: int
    sweep_value: float
    reset_seed: int
    record_video: bool


@dataclasses.dataclass(frozen=True)
class _Settings:
    env_name: str
    rollouts: tuple[_Rollout, ...]
    goal_key: str
    max_episode_steps: int | None
    seed: int
    progress: bool
    video_dir: str | None
    video_frame_skip: int


@dataclasses.dataclass(frozen=True)
class _Recording:
    """What the video replay needs to reproduce a finished rollout exactly."""

    rollout: _Rollout
    success: bool
    actions: np.ndarray  # [T, action_dim], the clipped actions passed to env.step
    observations: np.ndarray  # [T + 1, obs_dim] float64, the reset's and every step's
    goal: np.ndarray  # [goal_dim]


class _Live:
    """A rollout in progress in an environment.

    A rollout to be filmed keeps its actions and observations for the replay (see
    `_write_videos`); `render_goal` is only for that replay, which runs without TensorFlow.
    """

    def __init__(self, env, rollout: _Rollout, render_goal: bool = False):
        self.env = env
        self.rollout = rollout
        self.length = 0
        self.episode_return = 0.0
        # Only a teleport maze's step draws from numpy's global generator; swapping the generator
        # in costs ~10 us a step, so other envs skip it.
        self._step_needs_rng = getattr(env.unwrapped, "_teleport_info", None) is not None
        self.observation, self.goal, self._rng, self.goal_frame = _reset(
            env, rollout, render_goal=render_goal
        )
        self._actions: list[np.ndarray] | None = None
        self._observations: list[np.ndarray] | None = None
        if rollout.record_video:
            self._actions = []
            self._observations = [np.array(self.observation, np.float64).reshape(-1)]

    def step(self, action: np.ndarray) -> tuple[bool, bool]:
        """Steps the env; returns (done, success)."""
        if self._step_needs_rng:
            with _global_numpy_rng(self._rng):
                ob, reward, terminated, truncated, info = self.env.step(action)
        else:
            ob, reward, terminated, truncated, info = self.env.step(action)
        self.observation = ob
        self.length += 1
        self.episode_return += float(reward)
        if self._actions is not None:
            self._actions.append(np.array(action, copy=True))
            self._observations.append(np.array(ob, np.float64).reshape(-1))
        return bool(terminated or truncated), bool(info.get("success", False))

    def recording(self, success: bool) -> _Recording | None:
        """The finished rollout's recording if it is filmed, else None."""
        if self._actions is None:
            return None
        return _Recording(
            rollout=self.rollout,
            success=success,
            actions=np.stack(self._actions),
            observations=np.stack(self._observations),
            goal=np.array(self.goal, copy=True),
        )

    def result(self, success: bool) -> EpisodeResult:
        r = self.rollout
        return EpisodeResult(
            task_id=r.task_id,
            episode=r.episode,
            sweep_value=r.sweep_value,
            success=success,
            length=self.length,
            episode_return=self.episode_return,
        )


def evaluate_lockstep(
    env_name: str,
    policy: Policy,
    *,
    sweep_values: Sequence[float],
    task_ids: Sequence[int] = (1, 2, 3, 4, 5),
    episodes_per_task: int = 10,
    seed: int = 0,
    max_episode_steps: int | None = None,
    goal_key: str = "observations",
    progress: bool = True,
    video_dir: str | None = None,
    video_episodes: int = 1,
    video_sweep_value: float | None = None,
    video_frame_skip: int = DEFAULT_VIDEO_FRAME_SKIP,
    max_envs: int | None = None,
) -> list[EpisodeResult]:
    """Runs every (task, episode, sweep value) rollout in lockstep, one policy call per step.

    At each step the policy gets the rows of the rollouts still running, padded (by repeating a
    running row, whose extra outputs are dropped) to the next power of two, capped at the number of
    environments. A compiled policy thus meets at most log2(envs) + 1 batch sizes, so an XLA
    sampler compiles a handful of times, while finished rollouts stop costing compute: with many
    early successes the batch shrinks. Actions are clipped to the action space, as in OGBench.

    Args:
        env_name: a state-based OGBench goal-conditioned env, e.g. "pointmaze-medium-v0",
            "cube-single-v0", "scene-v0", "puzzle-3x3-v0".
        policy: `(observations [B, obs_dim] float32, goals [B, goal_dim] float32,
            sweep_values [B] float32, seed int) -> actions [B, action_dim]` (numpy or tf.Tensor).
            The seed differs at every step (base * SEED_STRIDE + step).
        sweep_values: the values to evaluate at (e.g. guidance weights), distinct and finite.
        task_ids: evaluation tasks, each in 1..5.
        episodes_per_task: episodes per task, each run at every sweep value.
        seed: non-negative; sets the reset seeds (which do not depend on the sweep value) and the
            policy seeds.
        max_episode_steps: overrides the env's time limit.
        goal_key: "observations" (goal = a full observation) or "oracle_reps" (OGBench's oracle
            goal representation, e.g. the maze x-y or the cube positions).
        progress: print a line to stdout about every 10% of an episode's steps.
        video_dir: if set, write a video (goal beside the scene) of the first `video_episodes`
            episodes of each task at `video_sweep_value` here, and print the paths: MP4 when
            imageio's ffmpeg plugin is installed, else an animated GIF. Needs an offscreen
            renderer (MUJOCO_GL=egl). The rollouts only record their actions; after them, one
            subprocess without TensorFlow replays and renders the episodes.
        video_episodes: episodes per task to record.
        video_sweep_value: the sweep value to record; the largest one by default.
        video_frame_skip: record every this many steps (and the last).
        max_envs: environments alive at once; rollouts beyond it wait and reuse a finished
            rollout's env. Default: all rollouts at once for mazes, 16 for manipulation envs.

    Returns:
        One result per rollout, ordered by task, then episode, then sweep value.

    Raises:
        UserError: an unknown or unsupported env, task ids outside 1..5, a bad goal_key, sweep or
            count, a policy returning the wrong shape or non-finite actions, or videos asked for
            without a working renderer or a writable video_dir (checked before any rollout runs).

    A video replay that fails or does not reproduce its episode prints a warning and writes no
    video; the evaluation's results are returned all the same.
    """
    settings = _settings(
        env_name,
        sweep_values=sweep_values,
        task_ids=task_ids,
        episodes_per_task=episodes_per_task,
        seed=seed,
        max_episode_steps=max_episode_steps,
        goal_key=goal_key,
        progress=progress,
        video_dir=video_dir,
        video_episodes=video_episodes,
        video_sweep_value=video_sweep_value,
        video_frame_skip=video_frame_skip,
    )
    rollouts = settings.rollouts
    if max_envs is not None:
        _check_count("max_envs", max_envs)
    _prepare_videos(settings)
    recordings: list[_Recording] = []
    with _quiet_env_warnings():
        first = _make_env(settings)
        envs = [first]
        try:
            if max_envs is None:
                heavy = "manipspace" in str(first.unwrapped.__class__.__module__)
                max_envs = DEFAULT_MANIPULATION_ENVS if heavy else len(rollouts)
            num_envs = min(max_envs, len(rollouts))
            envs.extend(_make_env(settings) for _ in range(num_envs - 1))
            results = _run_lockstep(settings, policy, envs, recordings)
        finally:
            for env in envs:
                _close_env(env)
    _write_videos(settings, recordings)
    return results


def evaluate_one_at_a_time(
    env_name: str,
    policy: Policy,
    *,
    sweep_values: Sequence[float],
    task_ids: Sequence[int] = (1, 2, 3, 4, 5),
    episodes_per_task: int = 10,
    seed: int = 0,
    max_episode_steps: int | None = None,
    goal_key: str = "observations",
    progress: bool = True,
    video_dir: str | None = None,
    video_episodes: int = 1,
    video_sweep_value: float | None = None,
    video_frame_skip: int = DEFAULT_VIDEO_FRAME_SKIP,
) -> list[EpisodeResult]:
    """The reference loop: one env, one episode at a time, one policy call (B = 1) per step.

    Same arguments, reset seeds and result order as `evaluate_lockstep`, so the two agree exactly
    for a deterministic policy. Each episode's policy seeds start from their own base, so episodes
    do not share noise.
    """
    settings = _settings(
        env_name,
        sweep_values=sweep_values,
        task_ids=task_ids,
        episodes_per_task=episodes_per_task,
        seed=seed,
        max_episode_steps=max_episode_steps,
        goal_key=goal_key,
        progress=progress,
        video_dir=video_dir,
        video_episodes=video_episodes,
        video_sweep_value=video_sweep_value,
        video_frame_skip=video_frame_skip,
    )
    total = len(settings.rollouts)
    report_every = max(1, total // 10)
    results = []
    _prepare_videos(settings)
    recordings: list[_Recording] = []
    with _quiet_env_warnings():
        env = _make_env(settings)
        try:
            action_dim, low, high = _action_bounds(env)
            start, env_steps, successes = time.perf_counter(), 0, 0
            for i, rollout in enumerate(settings.rollouts):
                live = _Live(env, rollout)
                goal = live.goal[None]
                sweep = np.full(1, rollout.sweep_value, np.float32)
                base = _policy_seed_base(settings.seed, rollout.index + 1)
                done, success = False, False
                while not done:
                    obs = np.asarray(live.observation, np.float32)[None]
                    seed_t = base * SEED_STRIDE + live.length
                    actions = _call_policy(
                        policy, obs, goal, sweep, seed_t, action_dim, settings.env_name
                    )
                    done, success = live.step(np.clip(actions[0], low, high))
                env_steps += live.length
                successes += success
                results.append(live.result(success))
                recordings.append(live.recording(success))
                if settings.progress and ((i + 1) % report_every == 0 or i + 1 == total):
                    rate = env_steps / max(time.perf_counter() - start, 1e-9)
                    _print(
                        f"[{settings.env_name}] episode {i + 1}/{total}: successes so far "
                        f"{successes}, {rate:.0f} env steps/s"
                    )
        finally:
            _close_env(env)
    _write_videos(settings, recordings)
    return results


def summarize(results: Sequence[EpisodeResult]) -> list[dict[str, Any]]:
    """Success rate per sweep value, over all tasks ("overall") and per task.

    Args:
        results: as returned by either evaluation function.

    Returns:
        Rows with keys `sweep_value, task_id, success, success_se, episodes`: for each sweep
        value (in order of first appearance) its "overall" row, then one row per task (ascending).
        `success` is the mean over episodes, `success_se` its standard error (sample standard
        deviation / sqrt(episodes); NaN for a single episode).

    Raises:
        UserError: no results.
    """
    if not results:
        raise errors.UserError("no episode results to summarize")
    by_value: dict[float, list[EpisodeResult]] = {}
    for r in results:
        by_value.setdefault(float(r.sweep_value), []).append(r)
    rows = []
    for value, group in by_value.items():
        rows.append(_summary_row(value, "overall", group))
        for task in sorted({r.task_id for r in group}):
            rows.append(_summary_row(value, task, [r for r in group if r.task_id == task]))
    return rows


def episode_rows(results: Sequence[EpisodeResult]) -> list[dict[str, Any]]:
    """One CSV-ready row per episode (`success` as 0/1, `return` for the episode return), for
    `cfgrl_tf.evaluation.write_csv`."""
    return [
        {
            "sweep_value": r.sweep_value,
            "task_id": r.task_id,
            "episode": r.episode,
            "success": int(r.success),
            "length": r.length,
            "return": r.episode_return,
        }
        for r in results
    ]


def format_table(rows: Sequence[dict[str, Any]], param_name: str = "w") -> str:
    """Success rates as a table: one line per sweep value, overall (with its standard error) and
    one column per task.

    Args:
        rows: as returned by `summarize` (or read back with `cfgrl_tf.evaluation.read_csv`).
        param_name: the header of the sweep column.

    Returns:
        The table, ending in a newline.

    Raises:
        UserError: no rows, or a row without the keys `summarize` writes.
    """
    if not rows:
        raise errors.UserError("no summary rows to format")
    needed = ("sweep_value", "task_id", "success", "success_se", "episodes")
    for i, row in enumerate(rows):
        missing = [k for k in needed if k not in row]
        if missing:
            raise errors.UserError(f"summary row {i} lacks {missing}; its keys are {list(row)}")
    values: list[float] = []
    tasks: list[int] = []
    cells: dict[tuple[float, Any], dict[str, Any]] = {}
    for row in rows:
        value = float(row["sweep_value"])
        task = "overall" if str(row["task_id"]) == "overall" else int(row["task_id"])
        if value not in values:
            values.append(value)
        if task != "overall" and task not in tasks:
            tasks.append(task)
        cells[(value, task)] = row
    tasks.sort()
    header = [param_name, "overall", "se", *(f"task{t}" for t in tasks), "episodes"]
    lines = []
    for value in values:
        overall = cells.get((value, "overall"), {})
        line = [
            f"{value:g}",
            _fmt(overall.get("success")),
            _fmt(overall.get("success_se")),
            *(_fmt(cells.get((value, t), {}).get("success")) for t in tasks),
            str(overall.get("episodes", "-")),
        ]
        lines.append(line)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out.extend("  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in lines)
    return "\n".join(out) + "\n"


def env_dims(env_name: str, goal_key: str = "observations") -> tuple[int, int, int]:
    """(obs_dim, goal_dim, action_dim) of an OGBench env, from one reset (to size a policy).

    Raises:
        UserError: an unknown or unsupported env, or a bad goal_key.
    """
    settings = _settings(
        env_name,
        sweep_values=(0.0,),
        task_ids=(1,),
        episodes_per_task=1,
        seed=0,
        max_episode_steps=None,
        goal_key=goal_key,
        progress=False,
        video_dir=None,
        video_episodes=1,
        video_sweep_value=None,
        video_frame_skip=1,
    )
    with _quiet_env_warnings():
        env = _make_env(settings)
        try:
            observation, goal, _, _ = _reset(env, settings.rollouts[0], render_goal=False)
            action_dim = _action_bounds(env)[0]
        finally:
            _close_env(env)
    return int(np.asarray(observation).size), int(goal.size), action_dim


def make_env(env_name: str, **kwargs):
    """`gymnasium.make` for a state-based OGBench goal-conditioned env, with a clear `UserError`
    for an unknown or unsupported name and OGBench's import-time warnings silenced."""
    _check_env_name(env_name)
    gymnasium = _import_ogbench()
    with _quiet_env_warnings():
        return gymnasium.make(env_name, **kwargs)


def supported_env_names() -> list[str]:
    """The state-based OGBench goal-conditioned env ids this module evaluates (imports ogbench)."""
    gymnasium = _import_ogbench()
    names = []
    for env_id, spec in gymnasium.registry.items():
        entry = str(spec.entry_point)
        if not entry.startswith(_SUPPORTED_PACKAGES):
            continue
        if env_id.startswith("visual-") or "singletask" in env_id:
            continue
        names.append(env_id)
    return sorted(names)


# ----------------------------------------------------------------------------------------------
# The lockstep loop.


def _run_lockstep(
    settings: _Settings, policy: Policy, envs: list, recordings: list[_Recording]
) -> list[EpisodeResult]:
    rollouts = settings.rollouts
    num_envs = len(envs)
    action_dim, low, high = _action_bounds(envs[0])
    pending = iter(rollouts)
    lives: list[_Live | None] = [None] * num_envs
    for slot, env in enumerate(envs):
        lives[slot] = _Live(env, next(pending))
    obs_dim = np.asarray(lives[0].observation).reshape(-1).shape[0]
    goal_dim = np.asarray(lives[0].goal).reshape(-1).shape[0]
    observations = np.zeros((num_envs, obs_dim), np.float32)
    goals = np.zeros((num_envs, goal_dim), np.float32)
    sweeps = np.zeros(num_envs, np.float32)

    def load(slot: int) -> None:
        live = lives[slot]
        observations[slot] = live.observation
        goals[slot] = live.goal
        sweeps[slot] = live.rollout.sweep_value

    for slot in range(num_envs):
        load(slot)

    results: list[EpisodeResult | None] = [None] * len(rollouts)
    active = np.ones(num_envs, bool)
    horizon = _horizon(envs[0])
    bound = math.ceil(len(rollouts) / num_envs) * horizon
    report_every = max(1, horizon // 10)
    base = _policy_seed_base(settings.seed, 0)
    step = finished = successes = env_steps = 0
    start = time.perf_counter()
    while active.any():
        rows = np.flatnonzero(active)
        n = len(rows)
        # Pad to a power of two (capped at the env count) by repeating a running row.
        size = min(num_envs, 1 << (n - 1).bit_length())
        rows_in = np.concatenate([rows, np.full(size - n, rows[0])]) if size > n else rows
        actions = _call_policy(
            policy,
            observations[rows_in],
            goals[rows_in],
            sweeps[rows_in],
            base * SEED_STRIDE + step,
            action_dim,
            settings.env_name,
        )
        actions = np.clip(actions[:n], low, high)
        for j, slot in enumerate(rows):
            live = lives[slot]
            done, success = live.step(actions[j])
            if not done:
                observations[slot] = live.observation
                continue
            results[live.rollout.index] = live.result(success)
            recordings.append(live.recording(success))
            finished += 1
            successes += success
            env_steps += live.length
            nxt = next(pending, None)
            if nxt is None:
                active[slot] = False
                lives[slot] = None
            else:
                lives[slot] = _Live(live.env, nxt)
                load(slot)
        step += 1
        if settings.progress and (step % report_every == 0 or not active.any()):
            running = sum(live.length for live in lives if live is not None)
            rate = (env_steps + running) / max(time.perf_counter() - start, 1e-9)
            _print(
                f"[{settings.env_name}] step {step}/{bound}: active rollouts "
                f"{int(active.sum())}, finished {finished}/{len(rollouts)}, successes so far "
                f"{successes}, {rate:.0f} env steps/s"
            )
    return [r for r in results if r is not None]


def _call_policy(
    policy: Policy,
    observations: np.ndarray,
    goals: np.ndarray,
    sweep_values: np.ndarray,
    seed: int,
    action_dim: int,
    env_name: str,
) -> np.ndarray:
    batch = observations.shape[0]
    out = np.asarray(policy(observations, goals, sweep_values, int(seed)))
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


# ----------------------------------------------------------------------------------------------
# Environments: construction, deterministic resets, rendering.


def _import_ogbench():
    """Imports gymnasium and registers OGBench's envs; a broken MuJoCo backend is a UserError."""
    with _quiet_env_warnings():
        try:
            import gymnasium
            import mujoco  # noqa: F401  (the envs import it lazily; a broken backend fails here)
            import ogbench.locomaze  # noqa: F401  (registers the maze envs)
            import ogbench.manipspace  # noqa: F401  (registers the manipulation envs)
        except ImportError as e:
            raise errors.UserError(
                f"OGBench evaluation needs the ogbench and gymnasium packages: {e}"
            ) from e
        except Exception as e:
            # MUJOCO_GL=osmesa without libOSMesa fails inside `import mujoco`, not at render time.
            raise errors.UserError(
                f"importing MuJoCo failed with MUJOCO_GL={os.environ.get('MUJOCO_GL', '')!r} "
                f"({type(e).__name__}: {e}); unset MUJOCO_GL or pick a backend that is installed"
            ) from e
    return gymnasium


def _make_env(settings: _Settings, render_size: int | None = None):
    gymnasium = _import_ogbench()
    kwargs: dict[str, Any] = {"use_oracle_rep": settings.goal_key == "oracle_reps"}
    if settings.max_episode_steps is not None:
        kwargs["max_episode_steps"] = settings.max_episode_steps
    if render_size is not None:
        kwargs.update(width=render_size, height=render_size)
    env = gymnasium.make(settings.env_name, **kwargs)
    _pin_action_space(env.unwrapped)
    return env


_PINNED_CLASSES: dict[type, type] = {}


def _pin_action_space(unwrapped) -> None:
    """Makes `action_space` one object per env, so `_reset` can seed it.

    OGBench's manipulation envs define `action_space` as a property that builds a new Box, with
    a fresh OS-entropy seed, on every access; their resets step the arm with two of its samples
    while making the goal, so the goal would differ between equally seeded resets. The env is
    moved to a subclass whose property returns one Box built once (the bounds do not change).
    """
    cls = type(unwrapped)
    if not isinstance(inspect.getattr_static(cls, "action_space", None), property):
        return
    space = unwrapped.action_space
    pinned = _PINNED_CLASSES.get(cls)
    if pinned is None:
        pinned = type(
            cls.__name__,
            (cls,),
            {
                "__module__": cls.__module__,
                "action_space": property(lambda self: self._cfgrl_action_space),
            },
        )
        _PINNED_CLASSES[cls] = pinned
    unwrapped.__class__ = pinned
    unwrapped._cfgrl_action_space = space


def _reset(env, rollout: _Rollout, render_goal: bool):
    """Resets to `rollout`'s task from its seed; returns (observation, goal, rng, goal frame)."""
    seed = rollout.reset_seed
    env.unwrapped.action_space.seed(seed)
    rng = np.random.RandomState(seed)
    with _global_numpy_rng(rng):
        ob, info = env.reset(
            seed=seed, options={"task_id": rollout.task_id, "render_goal": render_goal}
        )
    goal = np.asarray(info["goal"], np.float32).reshape(-1)
    return ob, goal, rng, info.get("goal_rendered")


@contextlib.contextmanager
def _global_numpy_rng(rng: np.random.RandomState) -> Iterator[None]:
    """Runs the block with numpy's global generator in `rng`'s state, then restores both."""
    saved = np.random.get_state()
    np.random.set_state(rng.get_state())
    try:
        yield
    finally:
        rng.set_state(np.random.get_state())
        np.random.set_state(saved)


def _action_bounds(env) -> tuple[int, np.ndarray, np.ndarray]:
    space = env.action_space
    low = np.asarray(space.low, np.float32)
    high = np.asarray(space.high, np.float32)
    return int(np.prod(space.shape)), low, high


def _horizon(env) -> int:
    spec = env.spec
    if spec is not None and spec.max_episode_steps:
        return int(spec.max_episode_steps)
    return 1000


def _close_env(env) -> None:
    # OGBench's envs do not close their MuJoCo renderers; left to the garbage collector at exit,
    # an EGL context is freed after EGL itself and prints a traceback.
    unwrapped = env.unwrapped
    for attr in ("custom_renderer", "_renderer"):
        renderer = getattr(unwrapped, attr, None)
        if renderer is not None and hasattr(renderer, "close"):
            with contextlib.suppress(Exception):
                renderer.close()
            setattr(unwrapped, attr, None)
    with contextlib.suppress(Exception):
        env.close()


@contextlib.contextmanager
def _quiet_env_warnings() -> Iterator[None]:
    """Hides two harmless warnings: GLFW's missing DISPLAY (raised at import even when rendering
    offscreen) and gymnasium's float64 -> float32 Box bounds (every manipulation action_space)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*DISPLAY environment variable is missing")
        warnings.filterwarnings(
            "ignore", message=r".*Box (low|high)'s precision lowered by casting to float32"
        )
        yield


# ----------------------------------------------------------------------------------------------
# Videos.


def _prepare_videos(settings: _Settings) -> None:
    """Checks, before any rollout, that videos can be rendered and written."""
    if settings.video_dir is None:
        return
    _probe_renderer(settings.env_name)
    try:
        os.makedirs(settings.video_dir, exist_ok=True)
    except OSError as e:
        raise errors.UserError(f"cannot create video_dir {settings.video_dir!r}: {e}") from e
    recorded = [r for r in settings.rollouts if r.record_video]
    values = sorted({r.sweep_value for r in recorded})
    print(
        f"videos: {len(recorded)} episode(s) at sweep value {', '.join(f'{v:g}' for v in values)} "
        f"(video_sweep_value; the largest by default) into {settings.video_dir}. The rollouts "
        "only record their actions; each video is then replayed and rendered in its own "
        "TensorFlow-free process after the evaluation, one replay at a time.",
        flush=True,
    )


def _probe_renderer(env_name: str) -> None:
    """Raises a UserError unless a process like the video replay can render `env_name`.

    The probe renders in a subprocess: this process may have TensorFlow loaded, and an EGL context
    beside TensorFlow segfaults (that is why videos are replayed elsewhere in the first place).
    """
    backend = os.environ.get("MUJOCO_GL", "").lower()
    # Without a backend MuJoCo tries GLFW, which needs a display: no need to start a process.
    if backend not in ("egl", "osmesa") and not os.environ.get("DISPLAY"):
        raise errors.UserError(f"{_RENDERER_HINT} (MUJOCO_GL={backend!r}, no DISPLAY)")
    try:
        proc = _run_video_helper(["probe", env_name], timeout=PROBE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as e:
        raise errors.UserError(
            f"{_RENDERER_HINT} (MUJOCO_GL={backend!r}: the renderer probe process did not render "
            f"a frame of {env_name} within {PROBE_TIMEOUT_SECONDS} s)"
        ) from e
    if proc.returncode != 0:
        raise errors.UserError(
            f"{_RENDERER_HINT} (MUJOCO_GL={backend!r}: the renderer probe process, rendering one "
            f"frame of {env_name}, {_describe_failure(proc)})"
        )


def _write_videos(settings: _Settings, recordings: Sequence[_Recording | None]) -> list[str]:
    """Renders the recorded rollouts' videos by replay in a subprocess; prints and returns paths."""
    recordings = sorted((r for r in recordings if r is not None), key=lambda r: r.rollout.index)
    if settings.video_dir is None or not recordings:
        return []
    manifest = {
        "env_name": settings.env_name,
        "goal_key": settings.goal_key,
        "max_episode_steps": settings.max_episode_steps,
        "video_dir": settings.video_dir,
        "video_frame_skip": settings.video_frame_skip,
        "episodes": [
            {
                "task_id": r.rollout.task_id,
                "episode": r.rollout.episode,
                "sweep_value": r.rollout.sweep_value,
                "reset_seed": r.rollout.reset_seed,
                "success": r.success,
            }
            for r in recordings
        ],
    }
    arrays = {}
    for i, r in enumerate(recordings):
        arrays[f"actions_{i}"] = r.actions
        arrays[f"observations_{i}"] = r.observations
        arrays[f"goal_{i}"] = r.goal
    with tempfile.TemporaryDirectory(prefix="cfgrl_videos_") as tmp:
        recordings_path = os.path.join(tmp, "recordings.npz")
        result_path = os.path.join(tmp, "videos.json")
        np.savez(recordings_path, manifest=np.array(json.dumps(manifest)), **arrays)
        proc = _run_video_helper(["replay", recordings_path, result_path], timeout=None)
        if proc.returncode != 0:
            # The evaluation itself is done and valid: report the videos' failure, keep results.
            _print(
                f"warning: no videos written: rendering {len(recordings)} episodes by replay "
                f"({sys.executable} -m {_VIDEO_HELPER}) {_describe_failure(proc)}"
            )
            return []
        with open(result_path) as f:
            paths = json.load(f)
    if proc.stderr.strip():
        sys.stderr.write(proc.stderr)
    for path in paths:
        _print(f"Wrote video {path} ({os.path.getsize(path)} bytes)")
    return paths


def _run_video_helper(args: list[str], timeout: float | None) -> subprocess.CompletedProcess:
    """Runs `python -m cfgrl_tf.envs.video_replay ARGS` with this environment (MUJOCO_GL)."""
    env = dict(os.environ)
    # The helper must import this very cfgrl_tf, whether installed or run from a source tree.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", _VIDEO_HELPER, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def _describe_failure(proc: subprocess.CompletedProcess) -> str:
    """'crashed with SIGSEGV' or 'failed (exit status 1): <its last stderr line>'."""
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        return f"crashed with {name}"
    lines = [line.strip() for line in (proc.stderr or "").splitlines() if line.strip()]
    last = lines[-1] if lines else "no error message"
    return f"failed (exit status {proc.returncode}): {last}"


# ----------------------------------------------------------------------------------------------
# Arguments, seeds, summaries.


def _settings(
    env_name: str,
    *,
    sweep_values: Sequence[float],
    task_ids: Sequence[int],
    episodes_per_task: int,
    seed: int,
    max_episode_steps: int | None,
    goal_key: str,
    progress: bool,
    video_dir: str | None,
    video_episodes: int,
    video_sweep_value: float | None,
    video_frame_skip: int,
) -> _Settings:
    if goal_key not in GOAL_KEYS:
        raise errors.UserError(f"goal_key must be one of {GOAL_KEYS}, got {goal_key!r}")
    values = _check_sweep(sweep_values)
    tasks = _check_tasks(task_ids)
    _check_count("episodes_per_task", episodes_per_task)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise errors.UserError(f"seed must be a non-negative integer, got {seed!r}")
    if max_episode_steps is not None:
        _check_count("max_episode_steps", max_episode_steps)
    _check_count("video_frame_skip", video_frame_skip)
    video_value = None
    if video_dir is not None:
        _check_count("video_episodes", video_episodes)
        video_value = max(values) if video_sweep_value is None else float(video_sweep_value)
        if video_value not in values:
            raise errors.UserError(
                f"video_sweep_value {video_sweep_value!r} is not one of the sweep values {values}"
            )
    _check_env_name(env_name)
    rollouts = []
    for task in tasks:
        for episode in range(int(episodes_per_task)):
            reset_seed = _reset_seed(int(seed), task, episode)
            for value in values:
                record = video_dir is not None and episode < video_episodes and value == video_value
                rollouts.append(_Rollout(len(rollouts), task, episode, value, reset_seed, record))
    return _Settings(
        env_name=env_name,
        rollouts=tuple(rollouts),
        goal_key=goal_key,
        max_episode_steps=None if max_episode_steps is None else int(max_episode_steps),
        seed=int(seed),
        progress=bool(progress),
        video_dir=video_dir,
        video_frame_skip=int(video_frame_skip),
    )


def _check_env_name(env_name: str) -> None:
    supported = supported_env_names()
    if env_name in supported:
        return
    gymnasium = _import_ogbench()
    examples = "pointmaze-medium-v0, antmaze-large-v0, cube-single-v0, scene-v0, puzzle-3x3-v0"
    if env_name in gymnasium.registry:
        raise errors.UserError(
            f"environment {env_name!r} is not a state-based OGBench goal-conditioned env "
            f"(visual, single-task and non-OGBench envs are not supported); try e.g. {examples}"
        )
    raise errors.UserError(
        f"unknown environment {env_name!r}; OGBench goal-conditioned envs include {examples} "
        f"({len(supported)} in all, see cfgrl_tf.envs.supported_env_names())"
    )


def _check_sweep(sweep_values: Sequence[float]) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in sweep_values)
    except (TypeError, ValueError) as e:
        raise errors.UserError(f"sweep_values must be numbers, got {sweep_values!r}") from e
    if not values:
        raise errors.UserError("sweep_values is empty: give at least one value")
    if not all(math.isfinite(v) for v in values):
        raise errors.UserError(f"sweep_values has a non-finite value: {values}")
    # Results are grouped by value, so a repeated value would merge two settings' episodes.
    if len(set(values)) != len(values):
        raise errors.UserError(f"sweep_values repeats a value: {values}")
    return values


def _check_tasks(task_ids: Sequence[int]) -> tuple[int, ...]:
    try:
        tasks = tuple(task_ids)
    except TypeError as e:
        raise errors.UserError(f"task_ids must be a sequence of integers, got {task_ids!r}") from e
    if not tasks:
        raise errors.UserError("task_ids is empty: give at least one task in 1..5")
    for t in tasks:
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 1 <= t <= NUM_TASKS:
            raise errors.UserError(
                f"task_ids must be integers in 1..{NUM_TASKS} (OGBench's evaluation tasks), "
                f"got {t!r} in {list(tasks)}"
            )
    if len(set(tasks)) != len(tasks):
        raise errors.UserError(f"task_ids repeats a task: {list(tasks)}")
    return tuple(int(t) for t in tasks)


def _check_count(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise errors.UserError(f"{name} must be a positive integer, got {value!r}")


def _reset_seed(seed: int, task_id: int, episode: int) -> int:
    # A hash of (seed, task, episode): nearby seeds give unrelated starts, and the sweep value is
    # not an input, so every value faces the same start and goal.
    return int(np.random.SeedSequence([seed, task_id, episode]).generate_state(1)[0])


def _policy_seed_base(seed: int, stream: int) -> int:
    # Stream 0 is the lockstep loop; stream i + 1 is rollout i in the one-at-a-time loop. Below
    # 2**32, so base * SEED_STRIDE + step stays far inside int64.
    return int(np.random.SeedSequence([seed, 1_000_003, stream]).generate_state(1)[0])


def _summary_row(value: float, task: Any, group: list[EpisodeResult]) -> dict[str, Any]:
    outcomes = np.array([float(r.success) for r in group])
    n = len(outcomes)
    se = float(outcomes.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return {
        "sweep_value": value,
        "task_id": task,
        "success": float(outcomes.mean()),
        "success_se": se,
        "episodes": n,
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    value = float(value)
    return "nan" if math.isnan(value) else f"{value:.3f}"


def _print(line: str) -> None:
    print(line, file=sys.stdout, flush=True)
