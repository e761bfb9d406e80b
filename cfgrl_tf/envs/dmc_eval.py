"""DeepMind Control evaluation: a task's episode return, every rollout of a sweep in lockstep.

The ExORL tasks (`dmc_tasks`) have no success: an episode runs to its time limit (1000 steps for
walker, quadruped and cheetah, 250 for jaco) and is scored by the sum of its rewards.
`evaluate_lockstep` runs every (episode, knob value) rollout side by side, one policy call per
step, and every knob value faces the same start: dm_control draws a start from a random state
the environment owns, which `DMCAdapter.reset` reseeds with the rollout's seed. `DMCAdapter` is
all the loops know of these environments: it turns dm_env's `TimeStep`s into the
(observation, reward, terminated, truncated, info) steps the loops take.

Nothing here imports dm_control or MuJoCo at import time (see `dmc_tasks`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cfgrl_tf import sweep
from cfgrl_tf.envs import dmc_tasks, lockstep
from cfgrl_tf.envs.episodes import EpisodeResult
from cfgrl_tf.envs.rollout import Rollout, Start, make_rollouts

# Building one walker env takes about 0.13 s and 12.5 MB once reset (cheetah 0.19 s and 12 MB,
# quadruped 0.16 s and 10 MB, jaco 0.10 s and 4 MB; measured on this repository's machine, 16
# envs at a time). The default sweep (7 guidance weights x 10 episodes = 70 rollouts) then runs
# in one wave of about 0.8 GB (measured: +770 MB), physics-bound at ~2800 walker steps/s on one
# core; larger evaluations run in waves of at most this many envs.
MAX_ENVS = 128
# The horizon assumed for an env without a time limit (every `dmc_tasks` task has one).
DEFAULT_HORIZON = 1000
# The one task of an evaluation, as `EpisodeResult.task_id` (a suite reports the task's name).
TASK_ID = 0


class DMCAdapter:
    """A `dmc_tasks` environment for the loops: observations in, the task's reward out.

    Args:
        task_name: a task of `dmc_tasks.TASK_NAMES`, e.g. "walker_walk" (checked by the caller).
        max_episode_steps: ends episodes (as truncated) after this many steps, if sooner than
            the task's time limit.
    """

    scores_success = False

    def __init__(self, task_name: str, *, max_episode_steps: int | None = None):
        self.name = task_name
        self.max_episode_steps = max_episode_steps

    def make_env(self) -> dmc_tasks.DMCEnv:
        # The seed is irrelevant: every reset reseeds the env's random state. Quiet wherever it
        # runs (also in an env worker process).
        with dmc_tasks.quiet_dm_control():
            return dmc_tasks.make_task(self.name, seed=0)

    def close_env(self, env: dmc_tasks.DMCEnv) -> None:
        env.close()

    def default_max_envs(self, env: dmc_tasks.DMCEnv, num_rollouts: int) -> int:
        # Equal waves: 140 rollouts run as 2 x 70, not 128 + 12, for the same number of steps.
        waves = math.ceil(num_rollouts / MAX_ENVS)
        return math.ceil(num_rollouts / waves)

    def action_bounds(self, env: dmc_tasks.DMCEnv) -> tuple[int, np.ndarray, np.ndarray]:
        spec = env.action_spec()
        shape = spec.shape
        low = np.broadcast_to(np.asarray(spec.minimum, np.float32), shape)
        high = np.broadcast_to(np.asarray(spec.maximum, np.float32), shape)
        return int(np.prod(shape)), low, high

    def horizon(self, env: dmc_tasks.DMCEnv) -> int:
        steps = time_limit_steps(env)
        return steps if self.max_episode_steps is None else min(steps, self.max_episode_steps)

    def reset(self, env: dmc_tasks.DMCEnv, rollout: Rollout) -> Start:
        random_state(env).seed(rollout.reset_seed)
        first = env.reset()
        limit = self.max_episode_steps
        steps = 0

        def step(action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
            nonlocal steps
            time_step = env.step(action)
            steps += 1
            # dm_env ends an episode with discount 0 when it terminates and with discount 1 at
            # a time limit; the ExORL tasks never terminate.
            terminated = bool(time_step.last() and time_step.discount == 0.0)
            truncated = not terminated and (
                time_step.last() or (limit is not None and steps >= limit)
            )
            return time_step.observation, float(time_step.reward), terminated, truncated, {}

        return Start(first.observation, {}, step, {})

    def success(self, info: Mapping[str, Any]) -> bool:
        """Always False: these tasks are scored by their return, and have no success."""
        del info
        return False


def random_state(env: dmc_tasks.DMCEnv) -> np.random.RandomState:
    """The random state an env's resets draw the start from.

    A suite task (`control.Environment`) keeps it on its task; a composer task (jaco) on its
    environment, which also draws observation noise and step randomness from it. Reseeding it in
    place (`.seed`) reaches every holder of the object.
    """
    raw = env.environment
    state = getattr(raw, "random_state", None)  # composer.Environment
    if state is None:
        state = env.task.random  # suite tasks (dm_control.suite.base.Task)
    return state


def time_limit_steps(env: dmc_tasks.DMCEnv) -> int:
    """The steps of a full episode: the env's time limit over its control timestep.

    Neither dm_control environment makes its time limit public: `control.Environment` keeps it as
    `_step_limit` (ending the episode when the step count reaches it), `composer.Environment` as
    `_time_limit` in seconds. Only the progress lines depend on it.
    """
    raw = env.environment
    limit = getattr(raw, "_step_limit", None)
    if limit is None:
        limit = getattr(raw, "_time_limit", math.inf) / raw.control_timestep()
    # A composer limit divides to e.g. 250.00000000000003 steps of jaco's 0.04 s.
    return math.ceil(limit - 1e-6) if math.isfinite(limit) else DEFAULT_HORIZON


def evaluate_lockstep(
    task_name: str,
    policy: lockstep.Policy,
    *,
    sweep_values: Sequence[float],
    episodes: int = 10,
    seed: int = 0,
    max_episode_steps: int | None = None,
    progress: bool = True,
    max_envs: int | None = None,
    env_workers: int | None = None,
    one_at_a_time: bool = False,
) -> list[EpisodeResult]:
    """Runs every (episode, sweep value) rollout of a DeepMind Control task in lockstep.

    Args:
        task_name: one of `dmc_tasks.TASK_NAMES`, e.g. "walker_walk".
        policy: `(inputs, sweep_values [B] float32, seed int) -> actions [B, action_dim]`, where
            `inputs = {"observations": [B, obs_dim] float32}`.
        sweep_values: the values to evaluate at (guidance weights, temperatures...).
        episodes: episodes, each run at every sweep value from the same start.
        seed: non-negative; sets the starts (the same at every sweep value) and the policy seeds.
        max_episode_steps: ends episodes after this many steps (default: the task's time limit).
        progress: print progress lines.
        max_envs: environments alive at once (default: all rollouts, in waves of at most
            `MAX_ENVS`).
        env_workers: processes stepping the environments (default: one per core for a large
            evaluation, else 1, in this process; see `env_slots.auto_workers`). Results do not
            depend on it.
        one_at_a_time: run the reference loop instead (one env, one episode at a time).

    Returns:
        One result per rollout, ordered by episode, then sweep value; `episode_return` is the
        score, `success` is always False and `task_id` is `TASK_ID`.

    Raises:
        UserError: an unknown task, a bad sweep, count or seed, or a policy returning the wrong
            shape or non-finite actions.
    """
    dmc_tasks.split_task_name(task_name)
    values = sweep.check_values(sweep_values, "sweep_values")
    lockstep.check_count("episodes", episodes)
    seed = lockstep.check_seed(seed)
    if max_episode_steps is not None:
        lockstep.check_count("max_episode_steps", max_episode_steps)
        max_episode_steps = int(max_episode_steps)
    loop = lockstep.choose_loop(
        one_at_a_time=one_at_a_time, max_envs=max_envs, env_workers=env_workers
    )
    adapter = DMCAdapter(task_name, max_episode_steps=max_episode_steps)
    rollouts = make_rollouts((TASK_ID,), episodes, values, seed)
    with dmc_tasks.quiet_dm_control():
        return loop(adapter, policy, rollouts, seed=seed, progress=progress).results
