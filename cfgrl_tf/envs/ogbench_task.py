"""Single-task evaluation on OGBench environments, every rollout of a sweep in lockstep.

OGBench's single-task environments (`cube-single-singletask-task2-v0`...) fix one task: a reset
takes no task option, the policy sees only observations, the reward is OGBench's (0 on success,
negative before), and `info["success"]` of the last step scores the episode. `evaluate_lockstep`
runs every (episode, knob value) rollout side by side, one policy call per step, the same start at
every knob value (`ogbench_env.seeded_reset`); `TaskAdapter` is all the loops know of these envs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cfgrl_tf import errors
from cfgrl_tf.envs import lockstep, ogbench_env, ogbench_run, videos
from cfgrl_tf.envs.episodes import EpisodeResult
from cfgrl_tf.envs.rollout import Rollout, Start


class TaskAdapter(ogbench_env.OGBenchAdapter):
    """An OGBench single-task env for the loops: the policy's only input is the observation.

    Args:
        env_name: a single-task env id, e.g. "pointmaze-large-singletask-task1-v0".
        max_episode_steps: overrides the env's time limit.
        render_size: width and height of rendered frames, for a process that renders.
        render_goal: ignored (a single-task reset renders no goal); taken for the video replay.
    """

    def __init__(
        self,
        env_name: str,
        *,
        max_episode_steps: int | None = None,
        render_size: int | None = None,
        render_goal: bool = False,
    ):
        del render_goal
        super().__init__(env_name, max_episode_steps=max_episode_steps, render_size=render_size)

    def reset(self, env, rollout: Rollout) -> Start:
        ob, info, step = ogbench_env.seeded_reset(env, rollout.reset_seed, {})
        return Start(ob, {}, step, info)


def task_id_of(env_name: str) -> int:
    """The task of a single-task env id (the default task for '...-singletask-v0')."""
    env = ogbench_env.make_eval_env(env_name)
    try:
        env.reset(seed=0)
        return int(env.unwrapped._reward_task_id)
    finally:
        ogbench_env.close_env(env)


def check_env_name(env_name: str) -> None:
    """Raises a UserError unless `env_name` is a registered state-based single-task OGBench env."""
    gymnasium = ogbench_env.import_ogbench()
    if (
        "singletask" in env_name
        and not env_name.startswith("visual-")
        and env_name in (gymnasium.registry)
    ):
        return
    raise errors.UserError(
        f"{env_name!r} is not a state-based OGBench single-task environment; e.g. "
        "pointmaze-large-singletask-v0, cube-single-singletask-task2-v0 (a dataset converted "
        "with ogbench/convert_singletask.gin names its env in dataset_info.json)"
    )


def evaluate_lockstep(
    env_name: str,
    policy: lockstep.Policy,
    *,
    sweep_values: Sequence[float],
    episodes: int = 50,
    seed: int = 0,
    max_episode_steps: int | None = None,
    progress: bool = True,
    video_dir: str | None = None,
    video_episodes: int = 1,
    video_sweep_value: float | None = None,
    video_frame_skip: int = videos.DEFAULT_VIDEO_FRAME_SKIP,
    max_envs: int | None = None,
    env_workers: int | None = None,
    one_at_a_time: bool = False,
) -> list[EpisodeResult]:
    """Runs every (episode, sweep value) rollout of the env's task in lockstep.

    Args:
        env_name: a single-task env id (`check_env_name`).
        policy: `(inputs, sweep_values [B] float32, seed int) -> actions [B, action_dim]`, where
            `inputs = {"observations": [B, obs_dim] float32}`.
        sweep_values: the values to evaluate at (guidance weights, temperatures...).
        episodes: episodes, each run at every sweep value from the same start.
        seed: non-negative; sets the reset seeds and the policy seeds.
        max_episode_steps: overrides the env's time limit.
        progress: print progress lines.
        video_dir, video_episodes, video_sweep_value, video_frame_skip: videos, as in
            `ogbench_goal.evaluate_lockstep`.
        max_envs: environments alive at once (default: all for mazes, 16 for manipulation).
        env_workers: processes stepping the environments (default: one per core for a large
            evaluation, else 1, in this process; see `env_slots.auto_workers`). Results do not
            depend on it.
        one_at_a_time: run the reference loop instead (one env, one episode at a time).

    Returns:
        One result per rollout, ordered by episode, then sweep value; results in a maze carry
        the agent's x-y path.

    Raises:
        UserError: an unknown env, a bad sweep, count or video setting, or a policy returning
            the wrong shape or non-finite actions.
    """
    check_env_name(env_name)
    task_id = task_id_of(env_name)
    settings = ogbench_run.check_settings(
        "task",
        env_name,
        adapter_args={},
        task_ids=(task_id,),
        sweep_values=sweep_values,
        episodes_per_task=episodes,
        seed=seed,
        max_episode_steps=max_episode_steps,
        progress=progress,
        video_dir=video_dir,
        video_episodes=video_episodes,
        video_sweep_value=video_sweep_value,
        video_frame_skip=video_frame_skip,
    )
    loop = lockstep.choose_loop(
        one_at_a_time=one_at_a_time, max_envs=max_envs, env_workers=env_workers
    )
    return ogbench_run.run(settings, policy, loop).results


def env_dims(env_name: str) -> tuple[int, int]:
    """(obs_dim, action_dim) of a single-task env, from one reset."""
    check_env_name(env_name)
    env = ogbench_env.make_eval_env(env_name)
    try:
        ob, _ = env.reset(seed=0)
        return int(np.asarray(ob).size), ogbench_env.action_bounds(env)[0]
    finally:
        ogbench_env.close_env(env)


ogbench_run.register_family("task", TaskAdapter)
