"""OGBench npz files (generated here or downloaded) as goal-conditioned datasets.

An OGBench file holds whole trajectories back to back: `observations`, `actions` and `terminals`
(1 at the last step of each trajectory), plus `qpos`, `qvel` and `button_states` in the files
OGBench publishes. `ogbench_source` checks a file thoroughly (a clear `DatasetError` naming the
file and key instead of a KeyError deep inside numpy), turns it into transitions the way
`ogbench.load_dataset` does, and gives every transition its trajectory position:

  trajectory_start, trajectory_end   absolute record indices of the first and last transition of
                                     the record's trajectory, so that goals can be drawn from
                                     the same trajectory at training time;
  trajectory_step                    the record's index within its trajectory.

Goals are NOT drawn here. A frozen draw would show every transition the same goal on every pass;
`cfgrl_tf.data.goals.GoalSampler` draws fresh goals for every batch instead, from the goal table:
the observations themselves, or OGBench's oracle representations (`goal_key='oracle_reps'`, e.g.
the xy position in mazes), which are then stored as the `goal_reps` feature.
"""

from __future__ import annotations

import os
import zipfile

import gin
import numpy as np

from cfgrl_tf import errors
from cfgrl_tf.data import ogbench_generate, spec
from cfgrl_tf.envs import ogbench_env

GOAL_KEYS = ("observations", "oracle_reps")
REQUIRED_KEYS = ("observations", "actions", "terminals")
INFO_KEYS = ("qpos", "qvel", "button_states")
# Features a goal-conditioned dataset has on top of the transition features.
TRAJECTORY_FEATURES = ("trajectory_start", "trajectory_end", "trajectory_step")
GOAL_REPS = "goal_reps"
# Standard deviations below this are treated as this (near-constant inputs, e.g. a fixed
# coordinate), so normalising them cannot blow up a state the data never showed varying.
MIN_STD = 1e-2


def dataset_name_from_path(path: str) -> str:
    """'.../pointmaze-medium-navigate-v0-val.npz' -> 'pointmaze-medium-navigate-v0'."""
    name = os.path.basename(path)
    if name.endswith(".npz"):
        name = name[: -len(".npz")]
    if name.endswith("-val"):
        name = name[: -len("-val")]
    return name


def load_npz(path: str) -> dict[str, np.ndarray]:
    """Every array of an npz file, read into memory.

    Raises:
      DatasetError: the file cannot be read as an npz file (naming it).
    """
    try:
        with np.load(path) as file:
            return {key: file[key] for key in file.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise errors.DatasetError(f"{path} is not a readable npz file: {e}") from None


def read_npz(path: str) -> dict[str, np.ndarray]:
    """Reads and checks an OGBench npz file: required keys, equal lengths, sane terminals.

    Raises:
      DatasetError: the file is missing or unreadable, lacks a key, or its arrays disagree; the
        message names the file and the key.
    """
    if not os.path.isfile(path):
        raise errors.DatasetError(f"{path} does not exist")
    arrays = load_npz(path)
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        raise errors.DatasetError(
            f"{path} lacks key(s) {', '.join(map(repr, missing))}; an OGBench file holds "
            f"{', '.join(REQUIRED_KEYS)} (and {', '.join(INFO_KEYS)})"
        )
    length = len(arrays["observations"])
    for key in (*REQUIRED_KEYS, *INFO_KEYS):
        if key in arrays and len(arrays[key]) != length:
            raise errors.DatasetError(
                f"{path}: {key!r} has {len(arrays[key])} rows but 'observations' has {length}"
            )
    if arrays["observations"].ndim != 2 or arrays["actions"].ndim != 2:
        raise errors.DatasetError(
            f"{path}: 'observations' and 'actions' must be 2-D [N, size], got shapes "
            f"{arrays['observations'].shape} and {arrays['actions'].shape}"
        )
    terminals = arrays["terminals"]
    if terminals.ndim != 1 or not np.isin(terminals, (0, 1)).all():
        raise errors.DatasetError(f"{path}: 'terminals' must be a vector of 0s and 1s")
    if length < 2 or terminals[-1] != 1:
        raise errors.DatasetError(
            f"{path}: the last row must end a trajectory ('terminals'[-1] == 1); the file "
            "looks truncated"
        )
    for key in ("observations", "actions"):
        if not np.isfinite(arrays[key]).all():
            bad = int(np.argmax(~np.isfinite(arrays[key]).all(axis=1)))
            raise errors.DatasetError(f"{path}: {key!r} row {bad} is not finite")
    return arrays


def to_transitions(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """OGBench's "regular" layout: the last state of each trajectory only appears as a next state.

    Returns transitions with `next_observations`, `terminals` = 1 at the last transition of each
    trajectory, the info keys aligned to the transitions, and the trajectory features.
    """
    ends = arrays["terminals"].astype(bool)
    keep = ~ends  # a trajectory's last row has no next state
    next_keep = np.concatenate([[False], keep[:-1]])
    out = {
        "observations": arrays["observations"][keep].astype(np.float32),
        "actions": arrays["actions"][keep].astype(np.float32),
        "next_observations": arrays["observations"][next_keep].astype(np.float32),
    }
    for key in INFO_KEYS:
        if key in arrays:
            out[key] = arrays[key][keep]
    last = np.concatenate([ends[1:], [True]])[keep]
    num = len(out["observations"])
    index = np.arange(num)
    # Trajectory id of each transition: the number of trajectory ends before it.
    trajectory = np.concatenate([[0], np.cumsum(last)[:-1]])
    starts = np.flatnonzero(np.concatenate([[True], last[:-1]]))
    stops = np.flatnonzero(last)
    out["trajectory_start"] = starts[trajectory].astype(np.int64)
    out["trajectory_end"] = stops[trajectory].astype(np.int64)
    out["trajectory_step"] = (index - out["trajectory_start"]).astype(np.int64)
    out["terminals"] = last.astype(np.float32)
    return out


def oracle_reps(env_name: str, env, transitions: dict[str, np.ndarray], path: str) -> np.ndarray:
    """OGBench's oracle goal representation of every state (xy in mazes, object poses...)."""
    from ogbench.relabel_utils import add_oracle_reps  # noqa: PLC0415

    need = ["qpos"] + (["button_states"] if ("scene" in env_name or "puzzle" in env_name) else [])
    missing = [key for key in need if key not in transitions]
    if missing:
        raise errors.DatasetError(
            f"ogbench_source.goal_key='oracle_reps' needs {', '.join(map(repr, missing))} in "
            f"{path}, which it lacks; use goal_key='observations'"
        )
    data = {key: transitions[key] for key in need}
    try:
        add_oracle_reps(env_name, env, data)
    except ValueError as e:
        raise errors.UserError(f"env {env_name!r} has no oracle goal representation: {e}") from None
    return data["oracle_reps"].astype(np.float32)


def statistics(values: np.ndarray) -> dict[str, list[float]]:
    """Per-dimension mean and (floored) standard deviation, for input normalisation."""
    values = values.astype(np.float64)
    return {
        "mean": values.mean(axis=0).tolist(),
        "std": np.maximum(values.std(axis=0), MIN_STD).tolist(),
    }


def goal_conditioned_features(
    obs_dim: int, action_dim: int, goal_dim: int | None
) -> dict[str, spec.FeatureSpec]:
    """Transition features plus trajectory position (and `goal_reps` unless goals are states)."""
    features = spec.transition_features(obs_dim, action_dim)
    for key in TRAJECTORY_FEATURES:
        features[key] = spec.FeatureSpec("int64", ())
    if goal_dim is not None:
        features[GOAL_REPS] = spec.FeatureSpec("float32", (goal_dim,))
    return features


def is_goal_conditioned(info: spec.DatasetInfo) -> bool:
    """Whether a dataset carries trajectory positions, so goals can be drawn from it."""
    return all(key in info.features for key in TRAJECTORY_FEATURES)


def goal_dim(info: spec.DatasetInfo) -> int:
    """The size of a goal of a goal-conditioned dataset."""
    if GOAL_REPS in info.features:
        return info.features[GOAL_REPS].shape[0]
    return info.obs_dim


def check_sizes(raw: dict[str, np.ndarray], env, env_name: str, path: str) -> None:
    """Raises a DatasetError unless the file's observation and action sizes are the env's."""
    obs_shape = env.observation_space.shape
    if tuple(raw["observations"].shape[1:]) != tuple(obs_shape):
        raise errors.DatasetError(
            f"{path}: observations have size {raw['observations'].shape[1:]} but environment "
            f"{env_name} observes {tuple(obs_shape)}: the file belongs to another environment "
            "(set the source's env_name)"
        )
    action_shape = env.action_space.shape
    if tuple(raw["actions"].shape[1:]) != tuple(action_shape):
        raise errors.DatasetError(
            f"{path}: actions have size {raw['actions'].shape[1:]} but environment {env_name} "
            f"takes {tuple(action_shape)}"
        )


def clip_or_refuse(transitions: dict[str, np.ndarray], clip_actions: bool, path: str) -> int:
    """Clips the actions into [-1, 1] in place; returns how many values were outside.

    Raises:
      DatasetError: values lie outside and `clip_actions` is False.
    """
    num_clipped = int(np.sum(np.abs(transitions["actions"]) > 1.0))
    if num_clipped and clip_actions:
        transitions["actions"] = np.clip(transitions["actions"], -1.0, 1.0)
    elif num_clipped:
        raise errors.DatasetError(
            f"{path}: {num_clipped} action values lie outside [-1, 1]; set "
            "the source's clip_actions=True to clip them"
        )
    if len(transitions["observations"]) == 0:
        raise errors.DatasetError(f"{path}: every trajectory has a single state: no transitions")
    return num_clipped


@gin.configurable
def ogbench_source(
    path: str = gin.REQUIRED,
    env_name: str | None = None,
    goal_key: str = "observations",
    clip_actions: bool = True,
):
    """An OGBench npz file as goal-conditioned transitions (see the module docstring).

    Args:
      path: the npz file (OGBench's layout; its `-val` twin is a separate dataset).
      env_name: the environment, e.g. 'pointmaze-medium-v0'; by default derived from the file
        name ('pointmaze-medium-navigate-v0.npz' -> 'pointmaze-medium-v0').
      goal_key: what a goal is: 'observations' (a full state, OGBench's default) or
        'oracle_reps' (OGBench's oracle representation; needs qpos, and button_states for scene
        and puzzle).
      clip_actions: clip actions into [-1, 1], the action space of every OGBench env (their
        number is recorded).

    Returns:
      `spec.SourceData`.

    Raises:
      DatasetError: the file is missing, malformed or does not match the environment.
      UserError: an unknown environment or goal key.
    """

    if goal_key not in GOAL_KEYS:
        raise errors.UserError(
            f"unknown ogbench_source.goal_key {goal_key!r}; OGBench environments have goals as "
            f"{' or '.join(map(repr, GOAL_KEYS))}"
        )
    path = os.path.abspath(path)
    dataset_name = dataset_name_from_path(path)
    if env_name is None:
        try:
            env_name = ogbench_generate.env_name_of(dataset_name)
        except errors.UserError as e:
            raise errors.UserError(f"{path}: {e}; or set ogbench_source.env_name") from None
    env = ogbench_env.make_env(env_name)
    raw = read_npz(path)
    check_sizes(raw, env, env_name, path)
    transitions = to_transitions(raw)
    num_clipped = clip_or_refuse(transitions, clip_actions, path)
    num = len(transitions["observations"])

    goal_table = transitions["observations"]
    stored_goal_dim = None
    arrays = {
        key: transitions[key]
        for key in ("observations", "actions", "next_observations", "terminals")
    }
    if goal_key == "oracle_reps":
        goal_table = oracle_reps(env_name, env.unwrapped, transitions, path)
        stored_goal_dim = goal_table.shape[1]
        arrays[GOAL_REPS] = goal_table
    for key in TRAJECTORY_FEATURES:
        arrays[key] = transitions[key]
    # Goal-conditioned rewards and masks depend on the goal, so they are computed per batch.
    arrays["rewards"] = np.zeros(num, np.float32)
    arrays["masks"] = np.ones(num, np.float32)
    arrays["optimal"] = np.full(num, spec.NO_LABEL, np.int64)
    env.close()
    source = {
        "name": f"ogbench/{dataset_name}",
        "dataset_name": dataset_name,
        "env_name": env_name,
        "path": path,
        "goal_key": goal_key,
        "num_trajectories": int(transitions["terminals"].sum()),
        "num_clipped_action_values": num_clipped,
        "statistics": {
            "observations": statistics(transitions["observations"]),
            "goals": statistics(goal_table),
        },
    }
    return spec.SourceData(
        arrays=arrays,
        features=goal_conditioned_features(
            raw["observations"].shape[1], raw["actions"].shape[1], stored_goal_dim
        ),
        source=source,
        action_scale=1.0,
    )
