"""D4RL hdf5 files as single-task offline-RL datasets, read the way D4RL's `qlearning_dataset` is.

A D4RL file holds its rows back to back, one per environment step, in flat datasets:
`observations` [N, obs], `actions` [N, act], `rewards` [N], `terminals` [N] (the step ended
the episode in a terminal state), and in most files `timeouts` [N] (the step hit the time
limit), `next_observations` [N, obs], an `infos/` group (qpos, qvel, goals...) and a
`metadata/` group. `d4rl_source` reads it with h5py (D4RL itself is not needed) into:

  observations       observations[i]
  actions            actions[i]
  next_observations  next_observations[i] when the file has them, else observations[i + 1]
  rewards            rewards[i]
  masks              1 - terminals[i]: the value bootstraps unless the episode terminated
  terminals          1 at the last transition of each episode (trajectory bookkeeping)

for every row i that is not a timeout and whose next state is known, as `qlearning_dataset`
(with its default `terminate_on_end=False`) keeps them: a timeout row is dropped, because in
D4RL's reading its successor row is the next episode's first state, and so is the final row
unless `next_observations` gives its successor. Where the file has `next_observations` they are
used: within an episode they equal observations[i + 1], but at a terminal row they are the state
the environment actually reached, while observations[i + 1] is already the next episode's reset
(harmless for a critic, whose mask is 0 there, but wrong as data). Timeout rows are dropped even
then, so the transitions are `qlearning_dataset`'s, the ones published D4RL results train on.

Episode ends (`terminals`) are the rows that terminated, the rows just before a timeout, the
rows whose `next_observations` differ from the following row's observation (a boundary the file
does not flag), and the last transition.
"""

from __future__ import annotations

import os
import sys

import gin
import h5py
import numpy as np

from cfgrl_tf import errors
from cfgrl_tf.data import ogbench_npz, single_task, spec

REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals")
OPTIONAL_KEYS = ("timeouts", "next_observations")
_FLAG_KEYS = ("terminals", "timeouts")
# Where a file may name its environment: attributes of the root or of `metadata/`, or scalar
# datasets in `metadata/`. D4RL's own files do not; files written by other tools sometimes do.
_ENV_NAME_KEYS = ("env_name", "env_id", "env", "environment")
# next_observations[i] further than this from observations[i + 1] mark an episode boundary (the
# tolerance IQL's D4RL loader uses).
_BOUNDARY_TOLERANCE = 1e-6


def read_hdf5(path: str) -> tuple[dict[str, np.ndarray], dict]:
    """Reads and checks a D4RL hdf5 file: required keys, shapes, equal lengths, finite values.

    Returns:
      (arrays, metadata): the flat datasets of `REQUIRED_KEYS` and `OPTIONAL_KEYS` the file has,
      with rewards and flags as vectors; and the file's scalar metadata (root and `metadata/`
      attributes, scalar datasets under `metadata/`), name to JSON-serialisable value.

    Raises:
      DatasetError: the file is missing or not hdf5, lacks a key, or its datasets disagree; the
        message names the file and the key.
    """
    if not os.path.isfile(path):
        raise errors.DatasetError(f"D4RL file {path} does not exist")
    try:
        file = h5py.File(path, "r")
    except OSError as e:
        raise errors.DatasetError(f"{path} is not a readable hdf5 file: {e}") from None
    with file:
        missing = [key for key in REQUIRED_KEYS if key not in file]
        if missing:
            raise errors.DatasetError(
                f"{path} lacks key(s) {', '.join(map(repr, missing))}; a D4RL file holds "
                f"{', '.join(REQUIRED_KEYS)} (and optionally {', '.join(OPTIONAL_KEYS)})"
            )
        arrays = {}
        for key in (*REQUIRED_KEYS, *OPTIONAL_KEYS):
            if key not in file:
                continue
            if not isinstance(file[key], h5py.Dataset):
                raise errors.DatasetError(f"{path}: {key!r} is a group, expected a dataset")
            arrays[key] = file[key][()]
        metadata = _scalar_metadata(file)
    _check_arrays(arrays, path)
    return arrays, metadata


def _check_arrays(arrays: dict[str, np.ndarray], path: str) -> None:
    """Checks shapes, lengths, flag values and finiteness in place (vectors may come as [N, 1])."""
    for key in ("rewards", *_FLAG_KEYS):
        if key in arrays and arrays[key].ndim == 2 and arrays[key].shape[1] == 1:
            arrays[key] = arrays[key][:, 0]  # as D4RL's own `get_dataset` accepts them
    for key, ndim in (("observations", 2), ("actions", 2), ("next_observations", 2)):
        if key in arrays and arrays[key].ndim != ndim:
            raise errors.DatasetError(
                f"{path}: {key!r} must be 2-D [N, size], got shape {arrays[key].shape}"
            )
    for key in ("rewards", *_FLAG_KEYS):
        if key in arrays and arrays[key].ndim != 1:
            raise errors.DatasetError(
                f"{path}: {key!r} must be a vector [N], got shape {arrays[key].shape}"
            )
    length = len(arrays["observations"])
    for key, array in arrays.items():
        if len(array) != length:
            raise errors.DatasetError(
                f"{path}: {key!r} has {len(array)} rows but 'observations' has {length}"
            )
    if "next_observations" in arrays and (
        arrays["next_observations"].shape[1] != arrays["observations"].shape[1]
    ):
        raise errors.DatasetError(
            f"{path}: 'next_observations' have size {arrays['next_observations'].shape[1]} but "
            f"'observations' have {arrays['observations'].shape[1]}"
        )
    for key in _FLAG_KEYS:
        if key in arrays:
            flags = arrays[key]
            if flags.dtype.kind not in "biuf" or not np.isin(flags, (0, 1)).all():
                raise errors.DatasetError(f"{path}: {key!r} must hold only 0/1 (or booleans)")
            arrays[key] = flags.astype(bool)
    for key in ("observations", "actions", "rewards", "next_observations"):
        if key not in arrays:
            continue
        if arrays[key].dtype.kind not in "biuf":
            raise errors.DatasetError(
                f"{path}: {key!r} has dtype {arrays[key].dtype}, expected numbers"
            )
        finite = np.isfinite(arrays[key].reshape(length, -1)).all(axis=1)
        if not finite.all():
            raise errors.DatasetError(f"{path}: {key!r} row {int(np.argmin(finite))} is not finite")


def _scalar_metadata(file: h5py.File) -> dict:
    """The file's scalar metadata, e.g. {'metadata/algorithm': 'SAC'}; arrays are left out."""
    found = {}

    def add(name: str, value) -> None:
        value = np.asarray(value)
        if value.ndim:
            return
        value = value.item()
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if isinstance(value, str | int | float | bool):
            found[name] = value

    for key, value in file.attrs.items():
        add(key, value)
    group = file.get("metadata")
    if isinstance(group, h5py.Group):
        for key, value in group.attrs.items():
            add(f"metadata/{key}", value)
        for key, item in group.items():
            if isinstance(item, h5py.Dataset) and item.shape == ():
                add(f"metadata/{key}", item[()])
    return found


def env_name_of(metadata: dict) -> str | None:
    """The environment a file names in its metadata (`env_name`, `env_id`...), if any."""
    for key in _ENV_NAME_KEYS:
        for name in (key, f"metadata/{key}"):
            value = metadata.get(name)
            if isinstance(value, str) and value:
                return value
    return None


def to_transitions(arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict]:
    """D4RL rows as transitions (see the module docstring).

    Returns:
      (transitions, counts): the transition arrays (float32), and how many rows were dropped as
      timeouts or for lack of a successor and how many unflagged boundaries were found.
    """
    num = len(arrays["observations"])
    observations = arrays["observations"].astype(np.float32)
    timeouts = arrays.get("timeouts", np.zeros(num, bool))
    has_next = "next_observations" in arrays
    keep = ~timeouts
    if has_next:
        next_observations = arrays["next_observations"].astype(np.float32)
    else:
        keep[-1] = False  # the final row has no successor row
        next_observations = np.concatenate([observations[1:], observations[-1:]])
    # An episode ends at a terminal row, before a timeout row, and where the stored next
    # observation is not the following row's (the file does not flag that boundary).
    ends = arrays["terminals"].copy()
    ends[:-1] |= timeouts[1:]
    unflagged = np.zeros(num, bool)
    if has_next:
        gap = np.abs(next_observations[:-1] - observations[1:]).max(axis=1)
        unflagged[:-1] = (gap > _BOUNDARY_TOLERANCE) & ~ends[:-1] & keep[:-1]
        ends |= unflagged
    last = ends[keep]
    if len(last):
        last[-1] = True
    transitions = {
        "observations": observations[keep],
        "actions": arrays["actions"][keep].astype(np.float32),
        "next_observations": next_observations[keep],
        "rewards": arrays["rewards"][keep].astype(np.float32),
        "masks": 1.0 - arrays["terminals"][keep].astype(np.float32),
        "terminals": last.astype(np.float32),
    }
    counts = {
        "num_rows": int(num),
        "num_dropped_timeouts": int(timeouts.sum()),
        "num_dropped_without_successor": int(num - keep.sum() - timeouts.sum()),
        "num_unflagged_episode_ends": int(unflagged.sum()),
    }
    return transitions, counts


@gin.configurable
def d4rl_source(
    path: str = gin.REQUIRED,
    env_name: str | None = None,
    clip_actions: bool = True,
) -> spec.SourceData:
    """A D4RL hdf5 file as single-task transitions (see the module docstring).

    Args:
      path: the hdf5 file, e.g. `~/.d4rl/datasets/hopper_medium-v2.hdf5`.
      env_name: the D4RL environment the data comes from, e.g. 'hopper-medium-v2' (what an
        evaluation makes); by default the name the file's metadata gives, if any.
      clip_actions: clip actions into [-1, 1], the action space of D4RL's locomotion, maze and
        hand tasks (their number is recorded); False refuses a file with actions outside.

    Returns:
      `spec.SourceData` with the file's rewards, masks from its terminals and no optimality
      label.

    Raises:
      DatasetError: the file is missing or malformed, has no transition left, or holds actions
        outside [-1, 1] with clip_actions False; the message names the file and the key.
      UserError: an env_name that is not a string.
    """
    if env_name is not None and (not isinstance(env_name, str) or not env_name):
        raise errors.UserError(f"d4rl_source.env_name must be a non-empty string, got {env_name!r}")
    path = os.path.abspath(os.path.expanduser(path))
    arrays, metadata = read_hdf5(path)
    env_name_origin = "d4rl_source.env_name"
    if env_name is None:
        env_name = env_name_of(metadata)
        env_name_origin = "file metadata" if env_name else None
    if env_name is None:
        print(
            f"note: {path} does not name its environment; set d4rl_source.env_name (e.g. "
            "'hopper-medium-v2') so that the dataset can be evaluated",
            file=sys.stderr,
            flush=True,
        )
    if "timeouts" not in arrays and "next_observations" not in arrays:
        print(
            f"warning: {path} has neither 'timeouts' nor 'next_observations': an episode cut by "
            "its time limit is read as running on into the next episode's first state",
            file=sys.stderr,
            flush=True,
        )
    transitions, counts = to_transitions(arrays)
    num = len(transitions["observations"])
    if num == 0:
        raise errors.DatasetError(
            f"{path}: no transitions: every one of its {counts['num_rows']} rows is a timeout "
            "or the final row ('timeouts')"
        )
    num_clipped = ogbench_npz.clip_or_refuse(transitions, clip_actions, path)
    stem = os.path.splitext(os.path.basename(path))[0]
    source = {
        "name": f"d4rl/{env_name or stem}",
        "env_name": env_name,
        "env_name_from": env_name_origin,
        "path": path,
        "next_observations_from": (
            "next_observations" if "next_observations" in arrays else "observations[i + 1]"
        ),
        "num_trajectories": int(transitions["terminals"].sum()),
        **counts,
        "num_terminals": int(np.sum(transitions["masks"] == 0.0)),
        "num_clipped_action_values": num_clipped,
        "file_metadata": metadata,
    }
    return single_task.source_data(transitions, source)
