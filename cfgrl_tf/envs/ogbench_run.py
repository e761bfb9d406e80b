"""One OGBench evaluation, whatever its task family: checked settings, rollouts, loop, videos.

A task family (goal-conditioned in `ogbench_goal`, single-task in `ogbench_task`) is an adapter
class registered here under a name. `check_settings` validates what every family's evaluation
takes (sweep, episodes, seed, time limit, videos) and builds the rollouts; `run` runs a
`lockstep` loop over them and writes the videos. The video replay process rebuilds the same
adapter from `Settings.replay_settings()` with `make_adapter`, so it films exactly the episode
that was evaluated, in any family.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from cfgrl_tf import errors, sweep
from cfgrl_tf.envs import lockstep, ogbench_env, videos
from cfgrl_tf.envs.rollout import Rollout, make_rollouts

_FAMILIES: dict[str, type[ogbench_env.OGBenchAdapter]] = {}


def register_family(name: str, adapter: type[ogbench_env.OGBenchAdapter]) -> None:
    """Makes `adapter` the family `name`'s adapter (called once by each family module)."""
    _FAMILIES[name] = adapter


def make_adapter(settings: Mapping[str, Any], **extra: Any) -> ogbench_env.OGBenchAdapter:
    """The adapter `Settings.replay_settings()` describes, with `extra` constructor arguments
    (e.g. `render_goal=True` for a video)."""
    family = settings["family"]
    if family not in _FAMILIES:
        raise errors.UserError(
            f"unknown OGBench task family {family!r}; known: {', '.join(sorted(_FAMILIES))}"
        )
    return _FAMILIES[family](
        settings["env_name"],
        max_episode_steps=settings["max_episode_steps"],
        **settings["adapter_args"],
        **extra,
    )


@dataclasses.dataclass(frozen=True)
class Settings:
    """A checked evaluation.

    Attributes:
        family: the registered task family.
        env_name: the env id, checked.
        adapter_args: the family adapter's own arguments (e.g. `{"goal_key": ...}`).
        rollouts: every rollout, from `make_rollouts`.
        max_episode_steps: overrides the env's time limit.
        seed: the policy seeds' base.
        progress: print progress lines.
        video_dir: where videos go (None: none).
        video_frame_skip: record every this many steps.
    """

    family: str
    env_name: str
    adapter_args: dict[str, Any]
    rollouts: tuple[Rollout, ...]
    max_episode_steps: int | None
    seed: int
    progress: bool
    video_dir: str | None
    video_frame_skip: int

    def replay_settings(self) -> dict[str, Any]:
        """What `make_adapter` and the video replay need (JSON-serialisable)."""
        return {
            "family": self.family,
            "env_name": self.env_name,
            "adapter_args": dict(self.adapter_args),
            "max_episode_steps": self.max_episode_steps,
            "video_frame_skip": self.video_frame_skip,
        }

    def adapter(self) -> ogbench_env.OGBenchAdapter:
        return make_adapter(self.replay_settings())


def check_settings(
    family: str,
    env_name: str,
    *,
    adapter_args: Mapping[str, Any],
    task_ids: Sequence[int],
    sweep_values: Sequence[float],
    episodes_per_task: int,
    seed: int,
    max_episode_steps: int | None,
    progress: bool,
    video_dir: str | None,
    video_episodes: int,
    video_sweep_value: float | None,
    video_frame_skip: int,
) -> Settings:
    """Checks the arguments every family's evaluation takes and builds its rollouts.

    The family checks its own arguments (env name, task ids, adapter_args) first.

    Raises:
        UserError: a bad sweep, count, seed or video setting, naming it.
    """
    values = sweep.check_values(sweep_values, "sweep_values")
    lockstep.check_count("episodes_per_task", episodes_per_task)
    lockstep.check_seed(seed)
    if max_episode_steps is not None:
        lockstep.check_count("max_episode_steps", max_episode_steps)
    lockstep.check_count("video_frame_skip", video_frame_skip)
    record = None
    if video_dir is not None:
        lockstep.check_count("video_episodes", video_episodes)
        video_value = max(values) if video_sweep_value is None else float(video_sweep_value)
        if video_value not in values:
            raise errors.UserError(
                f"video_sweep_value {video_sweep_value!r} is not one of the sweep values {values}"
            )

        def record(episode: int, value: float) -> bool:
            return episode < video_episodes and value == video_value

    return Settings(
        family=family,
        env_name=env_name,
        adapter_args=dict(adapter_args),
        rollouts=make_rollouts(task_ids, episodes_per_task, values, int(seed), record),
        max_episode_steps=None if max_episode_steps is None else int(max_episode_steps),
        seed=int(seed),
        progress=bool(progress),
        video_dir=video_dir,
        video_frame_skip=int(video_frame_skip),
    )


def run(settings: Settings, policy: lockstep.Policy, loop) -> lockstep.Outcome:
    """Runs `loop` (a `lockstep` loop) over the settings' rollouts, with videos if asked."""
    videos.prepare_videos(settings.video_dir, settings.env_name, settings.rollouts)
    with ogbench_env.quiet_env_warnings():
        outcome = loop(
            settings.adapter(),
            policy,
            settings.rollouts,
            seed=settings.seed,
            progress=settings.progress,
        )
    videos.write_videos(settings.video_dir, settings.replay_settings(), outcome.recordings)
    return outcome
