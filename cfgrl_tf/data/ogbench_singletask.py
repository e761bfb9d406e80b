"""OGBench npz files as single-task offline-RL datasets: rewards and masks of one fixed task.

OGBench's single-task benchmark reuses the goal-conditioned files: `make_env_and_datasets(
"cube-single-play-singletask-task2-v0")` loads `cube-single-play-v0.npz` and relabels every
transition with the reward and mask of task 2, computed from the state's `qpos` (and
`button_states`) by `ogbench.relabel_utils.relabel_dataset`. `ogbench_singletask_source` does
exactly that, calling OGBench's own relabelling code (not a copy of it), and stores what an IQL
critic trains on: `observations, actions, next_observations, rewards, masks, terminals`.

Names follow OGBench: the environment `pointmaze-large-singletask-task1-v0`, the dataset
`pointmaze-large-navigate-singletask-task1-v0`; without a task, the environment's default task
(`pointmaze-large-singletask-v0`: task 1 in mazes, 2 in cube and scene, 4 in puzzle).
"""

from __future__ import annotations

import os
import re

import gin
import numpy as np

from cfgrl_tf import errors
from cfgrl_tf.data import ogbench_generate, ogbench_npz, single_task, spec
from cfgrl_tf.envs import ogbench_env

# The info keys OGBench's relabelling reads, per environment kind.
_STATE_KEYS = ("qpos",)
_BUTTON_KEYS = ("qpos", "button_states")
_ENV_PATTERN = re.compile(r"^(?P<base>.+)-(?P<version>v\d+)$")


def singletask_env_name(goal_env_name: str, task: int | None = None) -> str:
    """'pointmaze-large-v0', 1 -> 'pointmaze-large-singletask-task1-v0' (None: the default task).

    Raises:
      UserError: the environment has no single-task variant, or not that task.
    """
    match = _ENV_PATTERN.match(goal_env_name)
    if match is None:
        raise errors.UserError(f"{goal_env_name!r} is not an OGBench environment id")
    if task is not None and (isinstance(task, bool) or not isinstance(task, (int, np.integer))):
        raise errors.UserError(f"ogbench_singletask_source.task must be an integer, got {task!r}")
    suffix = "" if task is None else f"-task{int(task)}"
    name = f"{match['base']}-singletask{suffix}-{match['version']}"
    gymnasium = ogbench_env.import_ogbench()
    if name in gymnasium.registry:
        return name
    prefix = f"{match['base']}-singletask-task"
    tasks = sorted(
        int(env_id[len(prefix) :].split("-")[0])
        for env_id in gymnasium.registry
        if env_id.startswith(prefix) and env_id.endswith(f"-{match['version']}")
    )
    if not tasks:
        raise errors.UserError(
            f"environment {goal_env_name!r} has no single-task variant in OGBench"
        )
    raise errors.UserError(
        f"environment {goal_env_name!r} has no single-task task {task}: its tasks are "
        f"{', '.join(map(str, tasks))} (or None for the default task)"
    )


def singletask_dataset_name(dataset_name: str, env_name: str) -> str:
    """OGBench's name of the relabelled dataset: ('cube-single-play-v0',
    'cube-single-singletask-task2-v0') -> 'cube-single-play-singletask-task2-v0'."""
    task_and_version = env_name.split("-singletask", 1)[1]  # '-task2-v0', or '-v0'
    return f"{dataset_name.rsplit('-', 1)[0]}-singletask{task_and_version}"


def is_single_task(info: spec.DatasetInfo) -> bool:
    """Whether a dataset holds one OGBench task's rewards (made by `ogbench_singletask_source`)."""
    return "singletask" in str(info.source.get("env_name", ""))


def relabel(env_name: str, env, transitions: dict[str, np.ndarray], path: str) -> dict:
    """Rewards and masks of the env's task for every transition, by OGBench's own code.

    Raises:
      DatasetError: the transitions lack the info keys the relabelling reads.
    """
    from ogbench.relabel_utils import relabel_dataset  # noqa: PLC0415  (imports nothing heavy)

    needed = _BUTTON_KEYS if ("scene" in env_name or "puzzle" in env_name) else _STATE_KEYS
    missing = [key for key in needed if key not in transitions]
    if missing:
        raise errors.DatasetError(
            f"{path} lacks {', '.join(map(repr, missing))}, which the single-task rewards of "
            f"{env_name} are computed from; OGBench's files (and cfgrl-generate's) hold them"
        )
    data = {key: transitions[key] for key in needed}
    relabel_dataset(env_name, env, data)
    return {"rewards": data["rewards"], "masks": data["masks"]}


@gin.configurable
def ogbench_singletask_source(
    path: str = gin.REQUIRED,
    task: int | None = None,
    env_name: str | None = None,
    clip_actions: bool = True,
) -> spec.SourceData:
    """An OGBench npz file as transitions with one task's rewards and masks.

    Args:
      path: the npz file (OGBench's layout, with qpos; and button_states for scene and puzzle).
      task: the task (1..5); None for the environment's default task, as OGBench names it.
      env_name: the goal-conditioned environment the file was collected in, e.g.
        'pointmaze-large-v0'; by default derived from the file name.
      clip_actions: clip actions into [-1, 1] (their number is recorded).

    Returns:
      `spec.SourceData` with rewards (OGBench's: -#unsatisfied, 0 on success) and masks
      (0 where the task is solved).

    Raises:
      DatasetError: the file is missing or malformed, or lacks what the rewards need.
      UserError: an unknown environment, or a task it does not have.
    """
    path = os.path.abspath(path)
    dataset_name = ogbench_npz.dataset_name_from_path(path)
    if env_name is None:
        try:
            env_name = ogbench_generate.env_name_of(dataset_name)
        except errors.UserError as e:
            raise errors.UserError(
                f"{path}: {e}; or set ogbench_singletask_source.env_name"
            ) from None
    ogbench_env.check_env_name(env_name)
    task_env_name = singletask_env_name(env_name, task)
    raw = ogbench_npz.read_npz(path)
    with ogbench_env.quiet_env_warnings():
        env = ogbench_env.import_ogbench().make(task_env_name)
    try:
        ogbench_npz.check_sizes(raw, env, env_name, path)
        transitions = ogbench_npz.to_transitions(raw)
        num_clipped = ogbench_npz.clip_or_refuse(transitions, clip_actions, path)
        labels = relabel(task_env_name, env, transitions, path)  # resets env: sets the task
        task_id = int(env.unwrapped._reward_task_id)
    finally:
        env.close()
    rewards, masks = labels["rewards"], labels["masks"]
    seen = "never solves the task" if rewards[0] < 0 else "is solved in every state"
    single_task.warn_if_constant(rewards, f"{path} for {task_env_name}", f": the data {seen}")
    arrays = {
        key: transitions[key]
        for key in ("observations", "actions", "next_observations", "terminals")
    }
    arrays["rewards"] = rewards
    arrays["masks"] = masks
    name = singletask_dataset_name(dataset_name, task_env_name)
    source = {
        "name": f"ogbench/{name}",
        "dataset_name": name,
        "file_dataset_name": dataset_name,
        "env_name": task_env_name,
        "goal_env_name": env_name,
        "task_id": task_id,
        "path": path,
        "num_trajectories": int(transitions["terminals"].sum()),
        "num_clipped_action_values": num_clipped,
        "success_fraction": float(np.mean(masks == 0.0)),
    }
    return single_task.source_data(arrays, source)
