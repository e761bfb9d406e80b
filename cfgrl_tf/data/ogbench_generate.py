"""Generates OGBench datasets locally, with the environments and oracles `ogbench` ships.

The hosted OGBench files cannot be downloaded everywhere, so this module reruns OGBench's own
collection procedure (its `data_gen_scripts/generate_locomaze.py` and `generate_manipspace.py`,
with the per-dataset flags of its `commands.sh`):

* pointmaze `navigate`: each episode starts in a random free cell with a goal in a random
  "vertex" cell (any free cell except straight corridor cells); whenever the goal is reached a new
  vertex goal is drawn, so one episode chains several goals. `stitch`: 200-step episodes whose
  goal is a cell exactly 4 cells (BFS steps) from the start; after reaching it the agent stays.
  There is no learned expert for the point mass: the action is the unit direction to the
  oracle's next cell (`get_oracle_subgoal`, a BFS over the maze) plus N(0, noise^2) noise,
  clipped to [-1, 1]. The teleport maze needs nothing special: the environment itself teleports
  the agent, and the BFS oracle does not know about teleports.
* manipspace `play`: OGBench's non-Markovian plan oracles (`oracles/plan/*`) with plan noise
  0.1 and noise smoothing 0.5; whenever the oracle finishes a task the environment draws a new
  target (`set_new_target`) and the matching oracle takes over. Cube stacking probability per
  episode: 0 (single), U(0, 0.25) (double), 0.5 (scene, puzzle: the script's default). Scene
  episodes that push the cube out of view are discarded and redrawn, as OGBench does.

Files follow OGBench's layout, which `ogbench.load_dataset` reads: `observations`, `actions`,
`qpos`, `qvel` (float32), `terminals` (bool, True at the last step of each episode) and, where
the environment has buttons, `button_states` (int64). `<name>-val.npz` holds a tenth of the
episodes (at least one), drawn from seeds disjoint from the training file's.

Determinism: every episode is seeded from (seed, split, episode index) alone, so the same seed
gives the same files whatever `num_workers` is. OGBench's oracles and mazes draw from NumPy's
global generator, which is why episodes run in worker processes (started with "spawn", so that
TensorFlow, if the caller imported it, is not inherited) and never in the caller's process.
A spawned worker re-imports the caller's `__main__` module, so run this from a program whose main
module does not import TensorFlow at import time (the `cfgrl-*` binaries do not).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import numbers
import os
import re
import time
from collections.abc import Iterator

import gin
import numpy as np

from cfgrl_tf import errors, fileio
from cfgrl_tf.data.generate_common import check_count, duration
from cfgrl_tf.data.ogbench_collectors import RECIPES, Recipe, init_worker, run_episode

SUPPORTED_DATASETS: tuple[str, ...] = tuple(sorted(RECIPES))

# OGBench's dataset types: the word `env_name_of` removes from a dataset name.
_DATASET_TYPES = ("navigate", "stitch", "explore", "play", "noisy")
_NAME_PATTERN = re.compile(r"^(?P<env>.+)-(?P<type>[a-z]+)-(?P<version>v\d+)$")

_TRAIN, _VAL = 0, 1


def env_name_of(dataset_name: str) -> str:
    """The environment an OGBench dataset was collected in, by OGBench's naming rule.

    Args:
      dataset_name: e.g. "pointmaze-medium-navigate-v0" or "cube-single-play-v0".

    Returns:
      The gymnasium id with the dataset type removed: "pointmaze-medium-v0", "cube-single-v0".

    Raises:
      UserError: the name is not `<env>-<type>-v<N>` with a type OGBench uses.
    """
    match = _NAME_PATTERN.match(dataset_name) if isinstance(dataset_name, str) else None
    if match is None or match["type"] not in _DATASET_TYPES:
        raise errors.UserError(
            f"{dataset_name!r} is not an OGBench dataset name: expected "
            f"'<env>-<type>-v<N>' with type one of {', '.join(_DATASET_TYPES)}, e.g. "
            f"'pointmaze-medium-navigate-v0'"
        )
    return f"{match['env']}-{match['version']}"


def _recipe(dataset_name: str) -> Recipe:
    if dataset_name not in RECIPES:
        raise errors.UserError(
            f"cannot generate OGBench dataset {dataset_name!r}: supported datasets are "
            f"{', '.join(SUPPORTED_DATASETS)}"
        )
    return RECIPES[dataset_name]


@gin.configurable("generate_ogbench")
def generate_ogbench(
    output_dir: str,
    dataset_name: str = gin.REQUIRED,
    num_episodes: int | None = None,
    max_episode_steps: int | None = None,
    seed: int = 0,
    num_workers: int = 2,
    noise: float | None = None,
    progress: bool = True,
) -> list[str]:
    """Collects an OGBench dataset and writes `<name>.npz` and `<name>-val.npz` to `output_dir`.

    Args:
      output_dir: the folder to write into (created if missing).
      dataset_name: one of `SUPPORTED_DATASETS`, e.g. "pointmaze-medium-navigate-v0".
      num_episodes: training episodes; None for OGBench's count (1000, 500 for giant navigate,
        5000 for stitch). The val file holds num_episodes // 10 more (at least 1).
      max_episode_steps: steps per episode; None for OGBench's (1001, 2001 for giant navigate,
        201 for stitch). Every episode has exactly this many steps.
      seed: a non-negative integer; the same seed gives byte-identical arrays.
      num_workers: processes that collect episodes in parallel; does not change the data.
      noise: None for OGBench's (0.5 for point mazes: the std of the Gaussian action noise; 0.1
        for play: the scale of the plan oracle's smoothed noise).
      progress: print a progress line to stdout about every 10% of the episodes.

    Returns:
      The paths written: the training file, then the val file.

    Raises:
      UserError: an unsupported dataset name or a bad count, seed or noise.
      DatasetError: either output file already exists (both are left untouched).
    """
    recipe = _recipe(dataset_name)
    num_episodes = recipe.num_episodes if num_episodes is None else num_episodes
    max_episode_steps = recipe.max_episode_steps if max_episode_steps is None else max_episode_steps
    noise = recipe.noise if noise is None else noise
    check_count("num_episodes", num_episodes, 1)
    # Loading without `compact_dataset` drops each episode's last step (it has no successor), so
    # a one-step episode would contribute nothing.
    check_count("max_episode_steps", max_episode_steps, 2)
    check_count("num_workers", num_workers, 1)
    check_count("seed", seed, 0)
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not 0 <= noise < np.inf:
        raise errors.UserError(f"noise must be a finite number >= 0, got {noise!r}")
    recipe = dataclasses.replace(
        recipe,
        num_episodes=int(num_episodes),
        max_episode_steps=int(max_episode_steps),
        noise=float(noise),
    )

    paths = [
        os.path.join(output_dir, f"{dataset_name}.npz"),
        os.path.join(output_dir, f"{dataset_name}-val.npz"),
    ]
    _refuse_existing(paths)
    num_val_episodes = max(1, recipe.num_episodes // 10)
    tasks = [(int(seed), _TRAIN, i) for i in range(recipe.num_episodes)]
    tasks += [(int(seed), _VAL, i) for i in range(num_val_episodes)]
    episodes = {_TRAIN: [], _VAL: []}
    reporter = _Progress(dataset_name, len(tasks), recipe.max_episode_steps, progress)
    for (_, split, _), episode in zip(tasks, _collect(recipe, tasks, num_workers), strict=True):
        episodes[split].append(episode)
        reporter.episode_done()
    for path, split in zip(paths, (_TRAIN, _VAL), strict=True):
        keys = episodes[split][0]
        arrays = {key: np.concatenate([e[key] for e in episodes[split]]) for key in keys}
        episodes[split] = None  # Frees the per-episode copies before the next file is built.
        _write_npz(path, arrays)
    return paths


def _refuse_existing(paths: list[str]) -> None:
    existing = [path for path in paths if os.path.exists(path)]
    if existing:
        one = len(existing) == 1
        raise errors.DatasetError(
            f"{' and '.join(existing)} already exist{'s' if one else ''}: remove "
            f"{'it' if one else 'them'} or choose another output_dir (an existing dataset is "
            "never overwritten)"
        )


def _write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Writes a compressed npz atomically, streamed to disk (`fileio.atomic_open`) rather than
    built in memory: a dataset can be a few hundred MB."""
    _refuse_existing([path])  # Again: the first check was before collection, minutes ago.
    with fileio.atomic_open(path) as f:
        np.savez_compressed(f, **arrays)


def _collect(
    recipe: Recipe, tasks: list[tuple[int, int, int]], num_workers: int
) -> Iterator[dict[str, np.ndarray]]:
    """Yields the episodes of `tasks`, in order, collected by `num_workers` spawned processes.

    Raises:
      RuntimeError: a worker process died (a crash, running out of memory, or a calling script
        without an `if __name__ == "__main__":` guard, which spawned workers re-run).
    """
    # concurrent.futures rather than multiprocessing.Pool: a Pool silently replaces a worker that
    # dies and then waits forever for its episode; the executor raises BrokenProcessPool instead.
    executor = concurrent.futures.ProcessPoolExecutor(
        min(num_workers, len(tasks)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker,
        initargs=(recipe,),
    )
    completed = False
    try:
        yield from executor.map(run_episode, tasks)
        completed = True
    except concurrent.futures.process.BrokenProcessPool as e:
        raise RuntimeError(
            f"a worker collecting {recipe.env_name} episodes died ({e}). Workers are spawned and "
            "re-import the main module: a script calling generate_ogbench needs an "
            '`if __name__ == "__main__":` guard'
        ) from e
    finally:
        # On an error (or an abandoned generator), drop the queued episodes instead of waiting.
        executor.shutdown(wait=completed, cancel_futures=not completed)


class _Progress:
    """Prints "episodes done / total, transitions/s, ETA" about every 10% of the episodes."""

    def __init__(self, name: str, total: int, steps_per_episode: int, enabled: bool):
        self._name = name
        self._total = total
        self._steps = steps_per_episode
        self._enabled = enabled
        self._done = 0
        self._next_report = 1
        self._start = time.monotonic()
        if enabled:
            print(
                f"generating {name}: {total} episodes of {steps_per_episode} steps (train and val)",
                flush=True,
            )

    def episode_done(self) -> None:
        self._done += 1
        if not self._enabled or self._done * 10 < self._next_report * self._total:
            return
        while self._done * 10 >= self._next_report * self._total:
            self._next_report += 1
        elapsed = max(time.monotonic() - self._start, 1e-9)
        eta = elapsed / self._done * (self._total - self._done)
        print(
            f"{self._name}: {self._done}/{self._total} episodes "
            f"({100 * self._done // self._total}%), "
            f"{self._done * self._steps / elapsed:,.0f} transitions/s, ETA {duration(eta)}",
            flush=True,
        )
