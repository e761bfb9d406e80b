"""ExORL datasets as single-task offline-RL datasets, rewards relabelled by dm_control.

ExORL (Yarats et al., 2022) publishes reward-free exploration data of DeepMind Control domains,
collected by unsupervised agents (RND, APT, proto...), one folder per domain and agent:

  <root>/<domain>/<algorithm>/buffer/<YYYYmmddTHHMMSS>_<index>_<length>.npz

one episode per file, each array with `length + 1` rows: `observation` [T+1, obs],
`action` [T+1, act], `reward` [T+1, 1], `discount` [T+1, 1] and `physics` [T+1, nphys], the
MuJoCo state (qpos, qvel, actuator activations). Row 0 is the reset step, its action (zeros)
and reward placeholders. ExORL's time steps carry the action that LED to them (its
`ExtendedTimeStepWrapper`), so the action taken in observation t is stored at row t + 1, and its
replay buffer samples (observation[i-1], action[i], reward[i], discount[i], observation[i]).
An episode of T steps therefore gives the T transitions, t = 0..T-1:

  observations       observation[t]
  actions            action[t + 1]
  next_observations  observation[t + 1]
  rewards            the task's reward of physics[t + 1]: r(s, a, s') = r(s')
  masks              1: dm_control tasks never terminate (ExORL's discount is 1 throughout)
  terminals          1 at the episode's last transition (its time limit), else 0

The stored rewards are ignored: any task of the domain is rewarded afresh, as ExORL's
`relable_episode` does, by setting each stored physics state into that task's environment and
calling the task's own `get_reward(physics)` (`cfgrl_tf.envs.dmc_tasks.state_rewards`).
"""

from __future__ import annotations

import glob
import os
import re
import time

import gin
import numpy as np

from cfgrl_tf import errors
from cfgrl_tf.data import ogbench_npz, single_task, spec
from cfgrl_tf.envs import dmc_tasks

REQUIRED_KEYS = ("observation", "action", "physics")
# Read only to check the episode is whole: the rewards are relabelled, masks are all 1.
OPTIONAL_KEYS = ("reward", "discount")
# ExORL's file names; `_<length>` is the number of steps, one fewer than the rows.
_NAME = re.compile(r"_(?P<index>\d+)_(?P<length>\d+)$")


def buffer_folder(path: str) -> str:
    """The folder holding the episodes: `<path>/buffer` if it exists, else `path` itself.

    Raises:
      DatasetError: `path` is not a folder.
    """
    if not os.path.isdir(path):
        raise errors.DatasetError(
            f"ExORL dataset folder {path} does not exist; expected ExORL's layout "
            "<root>/<domain>/<algorithm>/buffer/*.npz (pass <domain>/<algorithm> or its buffer/)"
        )
    buffer = os.path.join(path, "buffer")
    return buffer if os.path.isdir(buffer) else path


def episode_files(folder: str) -> list[str]:
    """The episode files of a buffer folder, in sorted (ExORL: chronological) order.

    Raises:
      DatasetError: the folder holds no `.npz` file.
    """
    files = sorted(glob.glob(os.path.join(folder, "*.npz")))
    if not files:
        raise errors.DatasetError(
            f"{folder} holds no episodes (*.npz); expected ExORL's layout "
            "<root>/<domain>/<algorithm>/buffer/*.npz"
        )
    return files


def read_episode(path: str) -> dict[str, np.ndarray]:
    """Reads and checks one episode file: keys present, 2-D, equal lengths, finite values.

    Raises:
      DatasetError: naming the file and the key at fault.
    """
    episode = ogbench_npz.load_npz(path)
    missing = [key for key in REQUIRED_KEYS if key not in episode]
    if missing:
        raise errors.DatasetError(
            f"{path} lacks key(s) {', '.join(map(repr, missing))}; an ExORL episode holds "
            f"{', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)}"
        )
    for key in REQUIRED_KEYS:
        if episode[key].ndim != 2:
            raise errors.DatasetError(
                f"{path}: {key!r} must be 2-D [steps + 1, size], got shape {episode[key].shape}"
            )
    rows = len(episode["observation"])
    for key in REQUIRED_KEYS + OPTIONAL_KEYS:
        if key in episode and len(episode[key]) != rows:
            raise errors.DatasetError(
                f"{path}: {key!r} has {len(episode[key])} rows but 'observation' has {rows}; "
                "every array of an episode has one row per step plus the reset row"
            )
    if rows < 2:
        raise errors.DatasetError(f"{path}: {rows} row(s), so not a single step: truncated?")
    match = _NAME.search(os.path.splitext(os.path.basename(path))[0])
    if match and int(match["length"]) != rows - 1:
        raise errors.DatasetError(
            f"{path}: its name says {match['length']} steps but its arrays hold {rows - 1} "
            f"(plus the reset row): the file looks truncated"
        )
    for key in REQUIRED_KEYS:
        finite = np.isfinite(episode[key]).all(axis=1)
        if not finite.all():
            raise errors.DatasetError(f"{path}: {key!r} row {int(np.argmin(finite))} is not finite")
    return episode


def check_sizes(
    episode: dict[str, np.ndarray], expected: dict[str, int], task: str, path: str
) -> None:
    """Raises a DatasetError unless the episode's vector sizes are those of the task's env."""
    for key, size in expected.items():
        got = episode[key].shape[1]
        if got != size:
            raise errors.DatasetError(
                f"{path}: {key!r} has size {got} but {task}'s environment has {size}: the "
                "episode belongs to another domain (or another dm_control version's model)"
            )


def episode_transitions(episode: dict[str, np.ndarray], rewards: np.ndarray) -> dict:
    """An episode's transitions (module docstring); `rewards` are those of rows 1..T."""
    steps = len(episode["observation"]) - 1
    observation = episode["observation"].astype(np.float32)
    terminals = np.zeros(steps, np.float32)
    terminals[-1] = 1.0
    return {
        "observations": observation[:-1],
        "actions": episode["action"][1:].astype(np.float32),
        "next_observations": observation[1:],
        "rewards": np.asarray(rewards, np.float32),
        "masks": np.ones(steps, np.float32),
        "terminals": terminals,
    }


class _Progress:
    """Prints "episodes done / total, transitions/s, ETA" about every 10% of the episodes."""

    def __init__(self, folder: str, task: str, total: int):
        self._total = total
        self._done = 0
        self._transitions = 0
        self._next = 1
        self._start = time.monotonic()
        print(f"relabelling {total} ExORL episodes of {folder} with {task}'s rewards", flush=True)

    def episode_done(self, transitions: int) -> None:
        self._done += 1
        self._transitions += transitions
        if self._done * 10 < self._next * self._total:
            return
        while self._done * 10 >= self._next * self._total:
            self._next += 1
        elapsed = max(time.monotonic() - self._start, 1e-9)
        eta = round(elapsed / self._done * (self._total - self._done))
        print(
            f"  {self._done}/{self._total} episodes ({100 * self._done // self._total}%), "
            f"{self._transitions / elapsed:,.0f} transitions/s, ETA {eta // 60}m {eta % 60:02d}s",
            flush=True,
        )


@gin.configurable
def exorl_source(
    path: str = gin.REQUIRED,
    task: str = gin.REQUIRED,
    max_episodes: int | None = None,
    clip_actions: bool = True,
) -> spec.SourceData:
    """An ExORL dataset folder as transitions with one task's rewards (see the module docstring).

    Args:
      path: the `<domain>/<algorithm>` folder (e.g. `exorl/walker/rnd`) or its `buffer/`.
      task: the task to reward, `<domain>_<task>`, one of `dmc_tasks.TASK_NAMES`, e.g.
        'walker_walk'; any task of the folder's domain.
      max_episodes: read only the first this many episodes (in sorted order); None for all.
      clip_actions: clip actions into [-1, 1] (their number is recorded).

    Returns:
      `spec.SourceData` with the task's rewards, masks all 1 and no optimality label.

    Raises:
      DatasetError: a missing or empty folder, or an episode that is malformed or does not fit
        the task's domain; the message names the file and the key.
      UserError: an unknown task, a task of another domain than the folder's, or a bad
        max_episodes.
    """
    domain, task_name = dmc_tasks.split_task_name(task)
    if max_episodes is not None and (
        isinstance(max_episodes, bool)
        or not isinstance(max_episodes, (int, np.integer))
        or max_episodes < 1
    ):
        raise errors.UserError(
            f"exorl_source.max_episodes must be a positive integer or None, got {max_episodes!r}"
        )
    path = os.path.abspath(path)
    folder = buffer_folder(path)
    dataset_dir = os.path.dirname(folder) if os.path.basename(folder) == "buffer" else folder
    algorithm = os.path.basename(dataset_dir)
    folder_domain = os.path.basename(os.path.dirname(dataset_dir))
    if folder_domain in dmc_tasks.TASKS and folder_domain != domain:
        raise errors.UserError(
            f"exorl_source.task {task!r} is a {domain} task but {dataset_dir} holds "
            f"{folder_domain} episodes; its tasks are "
            f"{', '.join(f'{folder_domain}_{t}' for t in dmc_tasks.TASKS[folder_domain])}"
        )
    files = episode_files(folder)[:max_episodes]

    env = dmc_tasks.make_dmc_env(domain, task_name, seed=0)
    expected = {
        "observation": env.observation_spec().shape[0],
        "action": env.action_spec().shape[0],
        "physics": dmc_tasks.physics_size(env),
    }
    progress = _Progress(folder, task, len(files))
    episodes = []
    try:
        for file in files:
            episode = read_episode(file)
            check_sizes(episode, expected, task, file)
            rewards = dmc_tasks.state_rewards(env, episode["physics"][1:])
            episodes.append(episode_transitions(episode, rewards))
            progress.episode_done(len(rewards))
    finally:
        env.close()
    transitions = {key: np.concatenate([e[key] for e in episodes]) for key in episodes[0]}
    num_clipped = ogbench_npz.clip_or_refuse(transitions, clip_actions, folder)
    single_task.warn_if_constant(transitions["rewards"], f"{folder} for {task}")
    source = {
        "name": f"exorl/{algorithm}/{task}",
        "env_name": task,
        "domain": domain,
        "task": task_name,
        "algorithm": algorithm,
        "path": dataset_dir,
        "num_trajectories": len(files),
        "first_episode": os.path.basename(files[0]),
        "last_episode": os.path.basename(files[-1]),
        "num_clipped_action_values": num_clipped,
        "reward_rule": "r(s, a, s') = task.get_reward(physics of s'), ExORL's relabelling",
    }
    return single_task.source_data(transitions, source)
