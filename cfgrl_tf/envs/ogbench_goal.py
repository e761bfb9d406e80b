"""Goal-conditioned evaluation on OGBench environments, every rollout of a sweep in lockstep.

OGBench scores a goal-conditioned policy on each of an environment's five evaluation tasks: reset
with `options=dict(task_id=k)`, read the goal from `info["goal"]`, act until the episode ends
(success or the time limit), and count `info["success"]` of the last step. `evaluate_lockstep`
runs every (task, episode, sweep value) rollout side by side with one policy call per step
(`cfgrl_tf.envs.lockstep`); `evaluate_one_at_a_time` is OGBench's reference loop, the peer it is
measured and tested against. `GoalAdapter` is all the loops know of these environments.

Paired comparisons. Episode e of task k is reset from a seed derived from (seed, k, e) only, and
`ogbench_env.seeded_reset` makes that seed pin down the start and the goal, so every sweep value
faces the same start and goal, and the two loops agree exactly for a deterministic policy.

Nothing here imports ogbench or MuJoCo at import time (that waits until an evaluation starts), nor
renders: videos are made by replaying the recorded actions in a subprocess without TensorFlow
(`cfgrl_tf.envs.videos`).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np

from cfgrl_tf import errors
from cfgrl_tf.envs import lockstep, ogbench_env, ogbench_run, videos
from cfgrl_tf.envs.episodes import EpisodeResult
from cfgrl_tf.envs.rollout import Rollout, Start, make_rollouts

GOAL_KEYS = ("observations", "oracle_reps")
# Every OGBench goal-conditioned environment has five evaluation tasks.
NUM_TASKS = 5


class GoalAdapter(ogbench_env.OGBenchAdapter):
    """OGBench's goal-conditioned tasks for the loops: the policy's inputs are its observations
    and "goals", the goal of the rollout's task.

    Args:
        env_name: a supported env (`ogbench_env.check_env_name`).
        goal_key: "observations" (goal = a full observation) or "oracle_reps".
        max_episode_steps: overrides the env's time limit.
        render_size: width and height of rendered frames, for a process that renders.
        render_goal: have resets render the goal too (`Start.info["goal_rendered"]`).
    """

    def __init__(
        self,
        env_name: str,
        *,
        goal_key: str = "observations",
        max_episode_steps: int | None = None,
        render_size: int | None = None,
        render_goal: bool = False,
    ):
        super().__init__(
            env_name,
            max_episode_steps=max_episode_steps,
            render_size=render_size,
            use_oracle_rep=goal_key == "oracle_reps",
        )
        self.goal_key = goal_key
        self.render_goal = render_goal

    def reset(self, env, rollout: Rollout) -> Start:
        options = {"task_id": rollout.task_id, "render_goal": self.render_goal}
        ob, info, step = ogbench_env.seeded_reset(env, rollout.reset_seed, options)
        goal = np.asarray(info["goal"], np.float32).reshape(-1)
        return Start(ob, {"goals": goal}, step, info)


def evaluate_lockstep(
    env_name: str,
    policy: lockstep.Policy,
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
    video_frame_skip: int = videos.DEFAULT_VIDEO_FRAME_SKIP,
    max_envs: int | None = None,
    env_workers: int | None = None,
) -> list[EpisodeResult]:
    """Runs every (task, episode, sweep value) rollout in lockstep, one policy call per step.

    At each step the policy gets the rows of the rollouts still running, padded to the next power
    of two, capped at the number of environments (see `lockstep.run_lockstep`). Actions are
    clipped to the action space, as in OGBench.

    Args:
        env_name: a state-based OGBench goal-conditioned env, e.g. "pointmaze-medium-v0",
            "cube-single-v0", "scene-v0", "puzzle-3x3-v0".
        policy: `(inputs, sweep_values [B] float32, seed int) -> actions [B, action_dim]`
            (numpy or tf.Tensor), where `inputs = {"observations": [B, obs_dim] float32,
            "goals": [B, goal_dim] float32}`. The seed differs at every step
            (base * lockstep.SEED_STRIDE + step).
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
        env_workers: processes stepping the environments (default: one per core for a large
            evaluation, else 1, in this process; see `env_slots.auto_workers`). Results do not
            depend on it.

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
    loop = lockstep.choose_loop(one_at_a_time=False, max_envs=max_envs, env_workers=env_workers)
    return ogbench_run.run(settings, policy, loop).results


def evaluate_one_at_a_time(
    env_name: str, policy: lockstep.Policy, **kwargs: Any
) -> list[EpisodeResult]:
    """The reference loop: one env, one episode at a time, one policy call (B = 1) per step.

    Takes the arguments of `evaluate_lockstep`, with the same defaults, but max_envs and
    env_workers (its one env runs every episode, here). Same reset seeds and result order, so
    the two agree exactly for a deterministic policy. Each episode's policy seeds start from
    their own base, so episodes do not share noise.

    Raises:
        TypeError: an argument `evaluate_lockstep` does not take, or max_envs or env_workers.
        UserError: as `evaluate_lockstep`.
    """
    for name in ("max_envs", "env_workers"):
        if name in kwargs:
            raise TypeError(f"evaluate_one_at_a_time() takes no {name}: one env runs every episode")
    # One parameter list, evaluate_lockstep's, so the two loops cannot drift apart.
    args = inspect.signature(evaluate_lockstep).bind(env_name, policy, **kwargs)
    args.apply_defaults()
    del args.arguments["policy"], args.arguments["max_envs"], args.arguments["env_workers"]
    settings = _settings(**args.arguments)
    return ogbench_run.run(settings, policy, lockstep.run_one_at_a_time).results


def env_dims(env_name: str, goal_key: str = "observations") -> tuple[int, int, int]:
    """(obs_dim, goal_dim, action_dim) of an OGBench env, from one reset (to size a policy).

    Raises:
        UserError: an unknown or unsupported env, or a bad goal_key.
    """
    _check_goal_key(goal_key)
    ogbench_env.check_env_name(env_name)
    adapter = GoalAdapter(env_name, goal_key=goal_key)
    with ogbench_env.quiet_env_warnings():
        env = adapter.make_env()
        try:
            start = adapter.reset(env, make_rollouts((1,), 1, (0.0,), seed=0)[0])
            action_dim = adapter.action_bounds(env)[0]
        finally:
            adapter.close_env(env)
    return int(np.asarray(start.observation).size), int(start.inputs["goals"].size), action_dim


def _settings(
    env_name: str,
    *,
    task_ids: Sequence[int],
    goal_key: str,
    **common: Any,
) -> ogbench_run.Settings:
    _check_goal_key(goal_key)
    tasks = _check_tasks(task_ids)
    ogbench_env.check_env_name(env_name)
    return ogbench_run.check_settings(
        "goal", env_name, adapter_args={"goal_key": goal_key}, task_ids=tasks, **common
    )


def _check_goal_key(goal_key: str) -> None:
    if goal_key not in GOAL_KEYS:
        raise errors.UserError(f"goal_key must be one of {GOAL_KEYS}, got {goal_key!r}")


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


ogbench_run.register_family("goal", GoalAdapter)
