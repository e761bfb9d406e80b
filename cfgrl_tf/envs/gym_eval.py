"""Gymnasium evaluation: an environment's episode return, every rollout of a sweep in lockstep.

The datasets read from D4RL and Minari files are scored by the return of their environment, a
Gymnasium MuJoCo task such as Hopper-v5: an episode runs until the env terminates it (Hopper and
Walker2d fall over, Ant flips) or its time limit (1000 steps) truncates it, and scores the sum of
its rewards. `evaluate_lockstep` runs every (episode, knob value) rollout side by side, one
policy call per step; every knob value faces the same start, because `GymAdapter.reset` passes
the rollout's seed to `env.reset`, which reseeds the env's generator (MuJoCo's steps are then
deterministic). `GymAdapter` is all the loops know of these environments.

A policy acts in its dataset's action space: actions scaled by the dataset's `action_scale` into
[-1, 1] (`minari_reader` scales a Box whose bounds are not [-1, 1], e.g. InvertedPendulum's
[-3, 3] by 1/3; D4RL's locomotion actions are already in [-1, 1]). The adapter divides them by
that scale before stepping the env, and clips them to the env's bounds in the policy's units.

Nothing here imports gymnasium or MuJoCo at import time: MuJoCo picks its rendering backend from
MUJOCO_GL when it is first imported, so that import waits until an environment is needed.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cfgrl_tf import errors, sweep
from cfgrl_tf.envs import lockstep, mujoco_backend
from cfgrl_tf.envs.episodes import EpisodeResult
from cfgrl_tf.envs.rollout import Rollout, Start, make_rollouts

# Building and resetting a Hopper-v5 env takes about 13 ms and 2 MB (HalfCheetah 6 ms and 1 MB,
# Ant 7 ms; measured on this repository's machine, 32 envs at a time), so the default sweep
# (6 guidance weights x 10 episodes) runs in one wave; larger evaluations run in equal waves of
# at most this many envs (about 0.5 GB).
MAX_ENVS = 256
# The time limit given to an env registered without one, so that every episode ends.
DEFAULT_HORIZON = 1000
# The one task of an evaluation, as `EpisodeResult.task_id` (a suite reports the env's id).
TASK_ID = 0
# Gymnasium's MuJoCo envs of versions v2 and v3 (D4RL's own Hopper-v2...) run on mujoco-py, the
# bindings of MuJoCo 1.5-2.0, which Gymnasium 1.x no longer ships (making them raises an
# ImportError pointing to gymnasium-robotics); v4 and later run on the `mujoco` package.
FIRST_MUJOCO_VERSION = 4
_VERSION = re.compile(r"^(?P<name>.+)-v(?P<version>\d+)$")


def import_gymnasium():
    """Imports gymnasium; returns the module.

    Raises:
        UserError: gymnasium is not installed.
    """
    try:
        import gymnasium  # noqa: PLC0415
    except ImportError as e:
        raise errors.UserError(
            f"Gymnasium evaluation needs the gymnasium package (pip install 'gymnasium[mujoco]'): "
            f"{e}"
        ) from e
    return gymnasium


def check_env_id(env_id: str):
    """Raises a UserError naming close matches unless Gymnasium registers `env_id`; returns its
    `EnvSpec`."""
    gymnasium = import_gymnasium()
    if not isinstance(env_id, str) or not env_id:
        raise errors.UserError(f"a Gymnasium environment id is a non-empty string, got {env_id!r}")
    spec = gymnasium.registry.get(env_id)
    if spec is not None:
        return spec
    close = difflib.get_close_matches(env_id, list(gymnasium.registry), n=5, cutoff=0.6)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    raise errors.UserError(
        f"unknown Gymnasium environment {env_id!r}{hint} (gymnasium {gymnasium.__version__} "
        f"registers {len(gymnasium.registry)} envs, e.g. Hopper-v5, HalfCheetah-v5, Walker2d-v5, "
        "Ant-v5)"
    )


def newest_env_id(name: str) -> str | None:
    """The newest registered version of a Gymnasium MuJoCo env runnable on the `mujoco` package,
    e.g. "Hopper" -> "Hopper-v5" (None if none is registered)."""
    gymnasium = import_gymnasium()
    versions = []
    for env_id in gymnasium.registry:
        match = _VERSION.match(env_id)
        if match and match["name"] == name and int(match["version"]) >= FIRST_MUJOCO_VERSION:
            versions.append(int(match["version"]))
    return f"{name}-v{max(versions)}" if versions else None


def make_env(env_id: str, *, max_episode_steps: int | None = None, **kwargs: Any):
    """`gymnasium.make` with a time limit always set, a Dict observation flattened, and a clear
    UserError for an unknown id or a missing or broken dependency (mujoco, mujoco-py).

    Args:
        env_id: a registered Gymnasium id, e.g. "Hopper-v5".
        max_episode_steps: overrides the env's time limit (`DEFAULT_HORIZON` for an env
            registered without one).
        **kwargs: more `gymnasium.make` arguments, e.g. `use_contact_forces=True`.
    """
    spec = check_env_id(env_id)
    gymnasium = import_gymnasium()
    if "mujoco" in str(spec.entry_point):
        # Imported first, so that a broken MUJOCO_GL backend is reported as such.
        try:
            import mujoco  # noqa: F401, PLC0415
        except ImportError as e:
            raise errors.UserError(
                f"environment {env_id!r} needs the mujoco package (pip install "
                f"'gymnasium[mujoco]'): {e}"
            ) from e
        except Exception as e:
            raise mujoco_backend.import_failed(e) from e
    if max_episode_steps is None and not spec.max_episode_steps:
        max_episode_steps = DEFAULT_HORIZON
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    try:
        env = gymnasium.make(env_id, **kwargs)
    except (ImportError, gymnasium.error.DependencyNotInstalled) as e:
        match = _VERSION.match(env_id)
        newest = newest_env_id(match["name"]) if match else None
        hint = f"; try {newest}" if newest and newest != env_id else ""
        raise errors.UserError(f"environment {env_id!r} cannot be made: {e}{hint}") from e
    except TypeError as e:  # an argument the env does not take
        raise errors.UserError(f"environment {env_id!r} refused its arguments {kwargs}: {e}") from e
    if isinstance(env.observation_space, gymnasium.spaces.Dict):
        # The dataset's Dict observations were concatenated in Gymnasium's flatten order.
        env = gymnasium.wrappers.FlattenObservation(env)
    return env


def observation_dim(env, env_id: str) -> int:
    """The size of an env's (flat Box) observations.

    Raises:
        UserError: an observation space that is not a Box.
    """
    space = env.observation_space
    if not isinstance(space, import_gymnasium().spaces.Box):
        raise errors.UserError(
            f"environment {env_id!r} has a {type(space).__name__} observation space; only "
            "Box (vector) observations are evaluated"
        )
    return int(np.prod(space.shape))


def close_env(env) -> None:
    """Closes the env, ignoring errors."""
    with contextlib.suppress(Exception):
        env.close()


class ObservationSizeError(errors.UserError):
    """An env whose observations are not the size of the policy's (a suite says how to fix it)."""


class GymAdapter:
    """A Gymnasium environment for the loops (`rollout.EnvAdapter`).

    Args:
        env_id: a registered Gymnasium id, e.g. "Hopper-v5" (checked by the caller).
        max_episode_steps: overrides the env's time limit.
        obs_dim: the policy's observation size: making an env of another size raises
            `ObservationSizeError` (None: not checked).
        action_scale: the dataset's action scale; a policy's action divided by it is the env's.
        env_kwargs: more `gymnasium.make` arguments.
    """

    scores_success = False

    def __init__(
        self,
        env_id: str,
        *,
        max_episode_steps: int | None = None,
        obs_dim: int | None = None,
        action_scale: float = 1.0,
        env_kwargs: Mapping[str, Any] | None = None,
    ):
        self.name = env_id
        self.max_episode_steps = max_episode_steps
        self.obs_dim = obs_dim
        self.action_scale = float(action_scale)
        self.env_kwargs = dict(env_kwargs or {})

    def make_env(self):
        env = make_env(self.name, max_episode_steps=self.max_episode_steps, **self.env_kwargs)
        try:
            size = observation_dim(env, self.name)
            if self.obs_dim is not None and size != self.obs_dim:
                made = f" made with {self.env_kwargs}" if self.env_kwargs else ""
                raise ObservationSizeError(
                    f"environment {self.name!r}{made} gives observations of {size} features but "
                    f"the policy takes {self.obs_dim} (its dataset's): it cannot be evaluated there"
                )
        except errors.UserError:
            close_env(env)
            raise
        return env

    def close_env(self, env) -> None:
        close_env(env)

    def default_max_envs(self, env, num_rollouts: int) -> int:
        # Equal waves: 300 rollouts run as 2 x 150, not 256 + 44, for the same number of steps.
        waves = math.ceil(num_rollouts / MAX_ENVS)
        return math.ceil(num_rollouts / waves)

    def action_bounds(self, env) -> tuple[int, np.ndarray, np.ndarray]:
        """The env's Box bounds in the policy's units (times the action scale)."""
        space = env.action_space
        if not isinstance(space, import_gymnasium().spaces.Box):
            raise errors.UserError(
                f"environment {self.name!r} has a {type(space).__name__} action space; only Box "
                "(continuous) actions are evaluated"
            )
        scale = np.float32(self.action_scale)
        low = np.asarray(space.low, np.float32).reshape(-1) * scale
        high = np.asarray(space.high, np.float32).reshape(-1) * scale
        return int(np.prod(space.shape)), low, high

    def horizon(self, env) -> int:
        return int(env.spec.max_episode_steps or DEFAULT_HORIZON)

    def reset(self, env, rollout: Rollout) -> Start:
        # The seed reseeds the env's generator, which alone draws MuJoCo envs' starts.
        observation, info = env.reset(seed=rollout.reset_seed)
        space = env.action_space
        shape = space.shape
        if self.action_scale == 1.0:
            return Start(observation, {}, env.step, info)
        scale = np.float32(self.action_scale)

        def step(action: np.ndarray):
            # Clipped again in the env's units: dividing the clipped action can overshoot a bound
            # by a rounding error.
            raw = np.clip(np.reshape(action, shape) / scale, space.low, space.high)
            return env.step(raw)

        return Start(observation, {}, step, info)

    def success(self, info: Mapping[str, Any]) -> bool:
        """Always False: these tasks are scored by their return, and have no success."""
        del info
        return False


def evaluate_lockstep(
    env_id: str,
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
    obs_dim: int | None = None,
    action_scale: float = 1.0,
    env_kwargs: Mapping[str, Any] | None = None,
) -> list[EpisodeResult]:
    """Runs every (episode, sweep value) rollout of a Gymnasium environment in lockstep.

    Args:
        env_id: a registered Gymnasium id, e.g. "Hopper-v5".
        policy: `(inputs, sweep_values [B] float32, seed int) -> actions [B, action_dim]`, where
            `inputs = {"observations": [B, obs_dim] float32}`; actions in the dataset's units.
        sweep_values: the values to evaluate at (guidance weights, temperatures...).
        episodes: episodes, each run at every sweep value from the same start.
        seed: non-negative; sets the starts (the same at every sweep value) and the policy seeds.
        max_episode_steps: ends episodes after this many steps (default: the env's time limit).
        progress: print progress lines.
        max_envs: environments alive at once (default: all rollouts, in waves of at most
            `MAX_ENVS`).
        env_workers: processes stepping the environments (default: one per core for a large
            evaluation, else 1, in this process; see `env_slots.auto_workers`). Results do not
            depend on it.
        one_at_a_time: run the reference loop instead (one env, one episode at a time).
        obs_dim: the policy's observation size, checked against the env's (None: not checked).
        action_scale: the dataset's `action_scale`: the policy's actions are divided by it.
        env_kwargs: more `gymnasium.make` arguments (e.g. {"use_contact_forces": True}).

    Returns:
        One result per rollout, ordered by episode, then sweep value; `episode_return` is the
        score, `success` is always False and `task_id` is `TASK_ID`.

    Raises:
        UserError: an unknown env id, gymnasium or mujoco missing, an env of another observation
            size (`ObservationSizeError`), a bad sweep, count, seed or scale, or a policy
            returning the wrong shape or non-finite actions.
    """
    check_env_id(env_id)
    values = sweep.check_values(sweep_values, "sweep_values")
    lockstep.check_count("episodes", episodes)
    seed = lockstep.check_seed(seed)
    if max_episode_steps is not None:
        lockstep.check_count("max_episode_steps", max_episode_steps)
        max_episode_steps = int(max_episode_steps)
    if obs_dim is not None:
        lockstep.check_count("obs_dim", obs_dim)
    if isinstance(action_scale, bool) or not (
        isinstance(action_scale, (int, float, np.integer, np.floating))
        and math.isfinite(action_scale)
        and action_scale > 0
    ):
        raise errors.UserError(f"action_scale must be a positive number, got {action_scale!r}")
    loop = lockstep.choose_loop(
        one_at_a_time=one_at_a_time, max_envs=max_envs, env_workers=env_workers
    )
    adapter = GymAdapter(
        env_id,
        max_episode_steps=max_episode_steps,
        obs_dim=obs_dim,
        action_scale=action_scale,
        env_kwargs=env_kwargs,
    )
    rollouts = make_rollouts((TASK_ID,), episodes, values, seed)
    return loop(adapter, policy, rollouts, seed=seed, progress=progress).results
