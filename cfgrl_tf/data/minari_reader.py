"""Minari datasets (hdf5 format) as single-task offline-RL datasets, read without Minari.

A Minari dataset folder, as `minari download` or `DataCollector.create_dataset` writes it under
`$MINARI_DATASETS_PATH/<namespace>/<name>-v<n>/`, holds `data/metadata.json` (dataset id, the
serialised `env_spec`, observation and action spaces, episode and step counts) and
`data/main_data.hdf5`, one group `episode_<i>` per episode of T steps with
`observations` [T + 1, obs], `actions` [T, act], `rewards` [T], `terminations` [T],
`truncations` [T] and an `infos` group. `minari_source` reads these with h5py (the `minari`
package is not needed) into the T transitions of every episode, t = 0..T-1:

  observations       observations[t]
  actions            actions[t] * action_scale
  next_observations  observations[t + 1]
  rewards            rewards[t]
  masks              1 - terminations[t]: a truncation (time limit) still bootstraps
  terminals          terminations[t] | truncations[t], and 1 at the episode's last step

Actions are scaled by the fixed `action_scale` = 1 / max |bound| of the Box action space, so
that they lie in [-1, 1] (InvertedPendulum's [-3, 3] becomes 1/3; 1.0 for the usual [-1, 1]).
A Dict observation space is read only when it is trivially flat, every entry a vector Box:
the entries are concatenated in the space's key order, which is Gymnasium's `flatten` order
(what `FlattenObservation` gives an evaluated policy). Other spaces (images, discrete,
nested dicts) are refused with the key at fault.
"""

from __future__ import annotations

import json
import os
import re

import gin
import h5py
import numpy as np

from cfgrl_tf import errors
from cfgrl_tf.data import ogbench_npz, single_task, spec

METADATA_FILE = "metadata.json"
MAIN_DATA_FILE = "main_data.hdf5"
EPISODE_KEYS = ("observations", "actions", "rewards", "terminations", "truncations")
_EPISODE = re.compile(r"^episode_(?P<index>\d+)$")


def data_folder(path: str) -> str:
    """The folder holding `metadata.json`: `<path>/data`, or `path` itself if it holds it.

    Raises:
      DatasetError: neither holds `metadata.json`.
    """
    if not os.path.isdir(path):
        raise errors.DatasetError(
            f"Minari dataset folder {path} does not exist; expected a folder holding "
            f"data/{METADATA_FILE} and data/{MAIN_DATA_FILE}"
        )
    for folder in (os.path.join(path, "data"), path):
        if os.path.isfile(os.path.join(folder, METADATA_FILE)):
            return folder
    raise errors.DatasetError(
        f"{os.path.join(path, 'data', METADATA_FILE)} not found: {path} is not a Minari dataset "
        f"folder (expected data/{METADATA_FILE} and data/{MAIN_DATA_FILE})"
    )


def read_metadata(folder: str) -> dict:
    """Reads and checks `metadata.json`: a JSON object of the hdf5 format.

    Raises:
      DatasetError: the file is not JSON, or the dataset is in another format (arrow).
    """
    path = os.path.join(folder, METADATA_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            metadata = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise errors.DatasetError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(metadata, dict):
        raise errors.DatasetError(f"{path}: expected a JSON object, got {type(metadata).__name__}")
    data_format = metadata.get("data_format", "hdf5")
    if data_format != "hdf5":
        raise errors.DatasetError(
            f"{path}: key 'data_format' is {data_format!r}; only Minari's 'hdf5' format is read "
            "(convert the dataset with Minari, or recreate it with data_format='hdf5')"
        )
    return metadata


def _space(metadata: dict, key: str, path: str) -> dict | None:
    """A serialised Gymnasium space of `metadata.json` as a dict (None if absent)."""
    value = metadata.get(key)
    if value is None:
        return None
    try:
        space = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError as e:
        raise errors.DatasetError(f"{path}: key {key!r} is not a serialised space: {e}") from None
    if not isinstance(space, dict) or "type" not in space:
        raise errors.DatasetError(f"{path}: key {key!r} is not a serialised space: {value!r}")
    return space


def _env_spec(metadata: dict, key: str) -> dict | None:
    """A serialised Gymnasium `EnvSpec` of `metadata.json` as a dict (None if absent or bad)."""
    value = metadata.get(key)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, dict) and isinstance(value.get("id"), str) else None


def env_names_of(metadata: dict) -> dict:
    """The environment of `metadata.json`: its `env_spec` id, time limit and evaluation env.

    Returns:
      {'env_name', 'max_episode_steps', 'eval_env_name'}: the ids of `env_spec` and of
      `eval_env_spec`, which is, as Minari defines it, the collection env when absent; None
      where the metadata does not say (an env whose spec could not be serialised).
    """
    env_spec = _env_spec(metadata, "env_spec")
    env_name = env_spec["id"] if env_spec else None
    if env_name is None and isinstance(metadata.get("env_id"), str):
        env_name = metadata["env_id"]
    eval_spec = _env_spec(metadata, "eval_env_spec")
    return {
        "env_name": env_name,
        "max_episode_steps": env_spec.get("max_episode_steps") if env_spec else None,
        "eval_env_name": eval_spec["id"] if eval_spec else env_name,
    }


def observation_keys(space: dict | None, path: str) -> list[str] | None:
    """The entries of a trivially flat Dict observation space, in flatten order (None: a Box).

    Raises:
      DatasetError: a space that is not a Box or a Dict of vector Boxes.
    """
    if space is None or space["type"] == "Box":
        return None
    if space["type"] == "Dict":
        subspaces = space.get("subspaces", {})
        flat = subspaces and all(
            isinstance(sub, dict) and sub.get("type") == "Box" and len(sub.get("shape", [])) <= 1
            for sub in subspaces.values()
        )
        if flat:
            return list(subspaces)
    raise errors.DatasetError(
        f"{path}: key 'observation_space' is a {space['type']} space "
        f"({json.dumps(space)[:200]}); only a Box, or a Dict of vector Boxes (concatenated), "
        "can be read as observation vectors"
    )


def _read_observations(group, keys: list[str] | None, where: str) -> np.ndarray:
    """An episode's observations as [T + 1, obs], concatenating a flat Dict's entries."""
    item = group["observations"]
    if isinstance(item, h5py.Dataset):
        if keys is not None:
            raise errors.DatasetError(
                f"{where}: 'observations' is one array but 'observation_space' is a Dict of {keys}"
            )
        return item[()]
    names = keys if keys is not None else sorted(item)
    parts = []
    for name in names:
        sub = item.get(name)
        if not isinstance(sub, h5py.Dataset):
            raise errors.DatasetError(
                f"{where}: 'observations/{name}' is missing or is a group; a dict observation is "
                "read only when every entry is a vector (a Dict of vector Boxes)"
            )
        value = sub[()]
        if value.ndim == 1:
            value = value[:, None]
        if value.ndim != 2:
            raise errors.DatasetError(
                f"{where}: 'observations/{name}' has shape {value.shape}, expected [T + 1, size]"
            )
        parts.append(value)
    lengths = {len(part) for part in parts}
    if len(lengths) > 1:
        raise errors.DatasetError(
            f"{where}: the entries of 'observations' ({', '.join(names)}) differ in length"
        )
    return np.concatenate(parts, axis=1)


def read_episode(group, keys: list[str] | None, where: str) -> dict[str, np.ndarray]:
    """Reads and checks one episode group: keys present, shapes, lengths, finite values.

    Args:
      group: the `episode_<i>` hdf5 group.
      keys: the entries of a flat Dict observation space, or None for a Box.
      where: '<file>: episode_<i>', for messages.

    Raises:
      DatasetError: naming the file, the episode and the key at fault.
    """
    missing = [key for key in EPISODE_KEYS if key not in group]
    if missing:
        raise errors.DatasetError(
            f"{where} lacks key(s) {', '.join(map(repr, missing))}; a Minari episode holds "
            f"{', '.join(EPISODE_KEYS)}"
        )
    episode = {"observations": _read_observations(group, keys, where)}
    for key in EPISODE_KEYS[1:]:
        if not isinstance(group[key], h5py.Dataset):
            raise errors.DatasetError(
                f"{where}: {key!r} is a group (a Dict or Tuple space); only Box actions and "
                "array rewards and flags can be read"
            )
        episode[key] = group[key][()]
    if episode["observations"].ndim != 2:
        raise errors.DatasetError(
            f"{where}: 'observations' has shape {episode['observations'].shape}, expected "
            "[T + 1, size] (a Box of vectors; images are not read)"
        )
    if episode["actions"].ndim != 2:
        raise errors.DatasetError(
            f"{where}: 'actions' has shape {episode['actions'].shape}, expected [T, size] "
            "(a Box action space; discrete actions are not read)"
        )
    steps = len(episode["actions"])
    if steps < 1:
        raise errors.DatasetError(f"{where}: 'actions' is empty: an episode of no steps")
    if len(episode["observations"]) != steps + 1:
        raise errors.DatasetError(
            f"{where}: 'observations' has {len(episode['observations'])} rows but 'actions' has "
            f"{steps}; an episode of T steps holds T + 1 observations"
        )
    for key in EPISODE_KEYS[2:]:
        if episode[key].shape != (steps,):
            raise errors.DatasetError(
                f"{where}: {key!r} has shape {episode[key].shape} but 'actions' has {steps} "
                f"rows; expected [{steps}]"
            )
    for key in ("terminations", "truncations"):
        if episode[key].dtype.kind not in "biuf" or not np.isin(episode[key], (0, 1)).all():
            raise errors.DatasetError(f"{where}: {key!r} must hold only booleans (or 0/1)")
    for key in ("observations", "actions", "rewards"):
        if episode[key].dtype.kind not in "biuf":
            raise errors.DatasetError(
                f"{where}: {key!r} has dtype {episode[key].dtype}, expected numbers"
            )
        finite = np.isfinite(episode[key].reshape(len(episode[key]), -1)).all(axis=1)
        if not finite.all():
            raise errors.DatasetError(
                f"{where}: {key!r} row {int(np.argmin(finite))} is not finite"
            )
    return episode


def episode_transitions(episode: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """An episode's transitions (see the module docstring), actions not yet scaled."""
    observations = episode["observations"].astype(np.float32)
    terminations = episode["terminations"].astype(bool)
    terminals = terminations | episode["truncations"].astype(bool)
    terminals[-1] = True
    return {
        "observations": observations[:-1],
        "actions": episode["actions"].astype(np.float32),
        "next_observations": observations[1:],
        "rewards": episode["rewards"].astype(np.float32),
        "masks": 1.0 - terminations.astype(np.float32),
        "terminals": terminals.astype(np.float32),
    }


def action_scale_of(space: dict | None) -> float:
    """1 / the largest finite bound of a Box action space (1.0 without one)."""
    if space is None or space.get("type") != "Box":
        return 1.0
    bounds = np.abs(np.asarray([*space.get("low", []), *space.get("high", [])], np.float64))
    if bounds.size == 0 or not np.isfinite(bounds).all() or bounds.max() == 0:
        return 1.0
    return float(1.0 / bounds.max())


def episode_names(file: h5py.File, path: str) -> list[str]:
    """The file's `episode_<i>` groups in episode order.

    Raises:
      DatasetError: the file holds no episode.
    """
    names = [name for name in file if _EPISODE.match(name)]
    if not names:
        raise errors.DatasetError(f"{path} holds no episode (no 'episode_<i>' group)")
    return sorted(names, key=lambda name: int(_EPISODE.match(name)["index"]))


@gin.configurable
def minari_source(path: str = gin.REQUIRED, clip_actions: bool = True) -> spec.SourceData:
    """A Minari dataset folder as single-task transitions (see the module docstring).

    Args:
      path: the dataset folder (holding `data/metadata.json` and `data/main_data.hdf5`), e.g.
        `~/.minari/datasets/mujoco/hopper/expert-v0`, or its `data/` folder.
      clip_actions: clip the scaled actions into [-1, 1] (their number is recorded); False
        refuses a dataset with actions outside its action space.

    Returns:
      `spec.SourceData` with the dataset's rewards, masks from its terminations and no
      optimality label; its `action_scale` maps the action space into [-1, 1].

    Raises:
      DatasetError: a missing or malformed folder, file or episode, or a space that is not read;
        the message names the file (and episode) and the key at fault.
    """
    path = os.path.abspath(os.path.expanduser(path))
    folder = data_folder(path)
    metadata_path = os.path.join(folder, METADATA_FILE)
    metadata = read_metadata(folder)
    keys = observation_keys(_space(metadata, "observation_space", metadata_path), metadata_path)
    action_space = _space(metadata, "action_space", metadata_path)
    if action_space is not None and action_space["type"] != "Box":
        raise errors.DatasetError(
            f"{metadata_path}: key 'action_space' is a {action_space['type']} space; only Box "
            "(continuous) actions are read"
        )
    scale = action_scale_of(action_space)
    main_path = os.path.join(folder, MAIN_DATA_FILE)
    if not os.path.isfile(main_path):
        raise errors.DatasetError(
            f"{main_path} not found: the Minari dataset {path} has no data (is its download or "
            "creation unfinished?)"
        )
    try:
        file = h5py.File(main_path, "r")
    except OSError as e:
        raise errors.DatasetError(f"{main_path} is not a readable hdf5 file: {e}") from None
    episodes = []
    with file:
        names = episode_names(file, main_path)
        total = metadata.get("total_episodes")
        if isinstance(total, int) and total != len(names):
            raise errors.DatasetError(
                f"{main_path} holds {len(names)} episodes but {metadata_path} key "
                f"'total_episodes' says {total}: the file looks truncated"
            )
        for name in names:
            group = file[name]
            where = f"{main_path}: {name}"
            if not isinstance(group, h5py.Group):
                raise errors.DatasetError(f"{where} is a dataset, expected an episode group")
            episode = episode_transitions(read_episode(group, keys, where))
            if (
                episodes
                and episode["observations"].shape[1] != episodes[0]["observations"].shape[1]
            ):
                raise errors.DatasetError(
                    f"{where}: observations of size {episode['observations'].shape[1]}, but "
                    f"{names[0]}'s have {episodes[0]['observations'].shape[1]}"
                )
            if episodes and episode["actions"].shape[1] != episodes[0]["actions"].shape[1]:
                raise errors.DatasetError(
                    f"{where}: actions of size {episode['actions'].shape[1]}, but "
                    f"{names[0]}'s have {episodes[0]['actions'].shape[1]}"
                )
            episodes.append(episode)
    transitions = {key: np.concatenate([e[key] for e in episodes]) for key in episodes[0]}
    transitions["actions"] = transitions["actions"] * np.float32(scale)
    num_clipped = ogbench_npz.clip_or_refuse(transitions, clip_actions, main_path)
    single_task.warn_if_constant(transitions["rewards"], main_path)
    dataset_id = metadata.get("dataset_id")
    if not isinstance(dataset_id, str) or not dataset_id:
        dataset_id = os.path.basename(os.path.dirname(folder) if folder != path else path)
    source = {
        "name": f"minari/{dataset_id}",
        "dataset_id": dataset_id,
        **env_names_of(metadata),
        "path": path,
        "minari_version": metadata.get("minari_version"),
        "num_trajectories": len(episodes),
        "num_terminations": int(np.sum(transitions["masks"] == 0.0)),
        "observation_keys": keys,
        "action_space": (
            None
            if action_space is None
            else {"low": action_space.get("low"), "high": action_space.get("high")}
        ),
        "num_clipped_action_values": num_clipped,
        "ref_min_score": metadata.get("ref_min_score"),
        "ref_max_score": metadata.get("ref_max_score"),
    }
    return single_task.source_data(transitions, source, action_scale=scale)
