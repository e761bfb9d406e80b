"""One evaluation rollout: what it is, how a suite's environments start it, and how it runs.

An evaluation is a list of `Rollout`s, one per (task, episode, sweep value), from `make_rollouts`.
The loops in `cfgrl_tf.envs.lockstep` run them without knowing the environments: a suite passes
an `EnvAdapter`, which makes envs and resets a rollout into a `Start` (its observation, the other
policy inputs such as goals, and the function that steps it). `Live` is a rollout in progress.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from cfgrl_tf.envs.episodes import EpisodeResult

StepFn = Callable[[np.ndarray], tuple[Any, float, bool, bool, dict[str, Any]]]


@dataclasses.dataclass(frozen=True)
class Rollout:
    """One episode of an evaluation.

    Attributes:
        index: its position in the evaluation's rollouts, and of its result.
        task_id: the suite's task.
        episode: the episode index within the task, 0-based.
        sweep_value: the sweep value the policy is called with for this rollout's rows.
        reset_seed: the seed of its reset.
        record_video: keep its actions and observations for a video replay.
    """

    index: int
    task_id: int
    episode: int
    sweep_value: float
    reset_seed: int
    record_video: bool


@dataclasses.dataclass(frozen=True)
class Start:
    """A rollout just reset, as an adapter hands it to the loop.

    Attributes:
        observation: the reset's observation.
        inputs: the rollout's other policy inputs, fixed for the episode, by name (e.g.
            `{"goals": goal}`); empty for a policy of observations alone. Never "observations".
        step: steps this episode, like gymnasium's `env.step`: action -> (observation, reward,
            terminated, truncated, info).
        info: the reset's info.
    """

    observation: np.ndarray
    inputs: Mapping[str, np.ndarray]
    step: StepFn
    info: Mapping[str, Any]


class EnvAdapter(Protocol):
    """The environment-specific part of an evaluation: all the loops need to know of its envs.

    Attributes:
        name: names the environment in progress lines and error messages.
    """

    name: str

    def make_env(self) -> Any:
        """A new environment."""

    def close_env(self, env: Any) -> None:
        """Frees an environment made by `make_env`."""

    def default_max_envs(self, env: Any, num_rollouts: int) -> int:
        """How many environments like `env` the lockstep loop keeps alive unless told."""

    def action_bounds(self, env: Any) -> tuple[int, np.ndarray, np.ndarray]:
        """(action_dim, low, high): actions are clipped to [low, high] before a step."""

    def horizon(self, env: Any) -> int:
        """The longest episode (it only spaces the progress lines)."""

    def reset(self, env: Any, rollout: Rollout) -> Start:
        """Resets `env` for `rollout`; the same rollout must give the same start in any env."""

    def success(self, info: Mapping[str, Any]) -> bool:
        """Whether an episode succeeded, from the info of its last step."""

    # Optional: `scores_success = False` for envs scored by their return alone (progress lines
    # then report the mean return so far instead of successes).
    # Optional: `trace(env) -> [2] x-y position` makes every rollout keep its path
    # (`EpisodeResult.path`), e.g. for a picture of maze rollouts. Adapters without it keep none.


@dataclasses.dataclass(frozen=True)
class Recording:
    """What a video replay needs to reproduce a finished rollout exactly."""

    rollout: Rollout
    success: bool
    actions: np.ndarray  # [T, action_dim], the clipped actions passed to the env's step
    observations: np.ndarray  # [T + 1, obs_dim] float64, the reset's and every step's
    inputs: dict[str, np.ndarray]  # the start's policy inputs, e.g. the goal


class Live:
    """A rollout in progress in an environment.

    A rollout to be filmed keeps its actions and observations (see `Recording`).

    Attributes:
        env: its environment.
        rollout: what it runs.
        observation: the latest observation.
        inputs: the other policy inputs (`Start.inputs`).
        info: the reset's info.
        length: steps taken so far.
        episode_return: the sum of the rewards so far.
    """

    def __init__(self, env: Any, rollout: Rollout, adapter: EnvAdapter):
        start = adapter.reset(env, rollout)
        self.env = env
        self.rollout = rollout
        self.observation = start.observation
        self.inputs = start.inputs
        self.info = start.info
        self.length = 0
        self.episode_return = 0.0
        self._step = start.step
        self._success = adapter.success
        self._actions: list[np.ndarray] | None = None
        self._observations: list[np.ndarray] | None = None
        self._trace = getattr(adapter, "trace", None)
        self._path = None if self._trace is None else [self._trace(env)]
        if rollout.record_video:
            self._actions = []
            self._observations = [np.array(self.observation, np.float64).reshape(-1)]

    def step(self, action: np.ndarray) -> tuple[bool, bool]:
        """Steps the env; returns (done, success), success being False until done."""
        ob, reward, terminated, truncated, info = self._step(action)
        self.observation = ob
        self.length += 1
        self.episode_return += float(reward)
        if self._path is not None:
            self._path.append(self._trace(self.env))
        if self._actions is not None:
            self._actions.append(np.array(action, copy=True))
            self._observations.append(np.array(ob, np.float64).reshape(-1))
        done = bool(terminated or truncated)
        return done, done and self._success(info)

    def recording(self, success: bool) -> Recording | None:
        """The finished rollout's recording if it is filmed, else None."""
        if self._actions is None:
            return None
        return Recording(
            rollout=self.rollout,
            success=success,
            actions=np.stack(self._actions),
            observations=np.stack(self._observations),
            inputs={k: np.array(v, copy=True) for k, v in self.inputs.items()},
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
            path=None if self._path is None else np.asarray(self._path, np.float32),
        )


def make_rollouts(
    task_ids: Sequence[int],
    episodes_per_task: int,
    sweep_values: Sequence[float],
    seed: int,
    record: Callable[[int, float], bool] | None = None,
) -> tuple[Rollout, ...]:
    """Every (task, episode, sweep value) rollout, in that order.

    Args:
        task_ids: the tasks, checked by the caller.
        episodes_per_task: episodes per task, each run at every sweep value.
        sweep_values: the values, checked by the caller.
        seed: sets the reset seeds, which depend on (seed, task, episode) only: every sweep value
            faces the same start, and nearby seeds give unrelated starts.
        record: `(episode, sweep_value) -> whether to film it`; None films nothing.
    """
    rollouts = []
    for task in task_ids:
        for episode in range(int(episodes_per_task)):
            reset_seed = int(np.random.SeedSequence([seed, task, episode]).generate_state(1)[0])
            for value in sweep_values:
                filmed = record is not None and record(episode, value)
                rollouts.append(Rollout(len(rollouts), task, episode, value, reset_seed, filmed))
    return tuple(rollouts)
