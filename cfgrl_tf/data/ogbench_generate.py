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
import warnings
from collections.abc import Iterator

import gin
import numpy as np

from cfgrl_tf import errors, fileio


@dataclasses.dataclass(frozen=True)
class _Recipe:
    """How OGBench collects one dataset (values from its data_gen_scripts/commands.sh).

    Attributes:
      env_name: the gymnasium id the `ogbench` package registers.
      kind: "navigate", "stitch" (point maze) or "play" (manipspace).
      num_episodes: training episodes; the val file adds a tenth of that.
      max_episode_steps: steps per episode (episodes never end early: no termination at goal).
      noise: point maze, std of the Gaussian action noise; play, the plan oracle's noise scale.
    """

    env_name: str
    kind: str
    num_episodes: int
    max_episode_steps: int
    noise: float


def _make_recipes() -> dict[str, _Recipe]:
    recipes = {}
    for maze in ("medium", "large", "giant", "teleport"):
        env_name = f"pointmaze-{maze}-v0"
        long_maze = maze == "giant"
        recipes[f"pointmaze-{maze}-navigate-v0"] = _Recipe(
            env_name, "navigate", 500 if long_maze else 1000, 2001 if long_maze else 1001, 0.5
        )
        recipes[f"pointmaze-{maze}-stitch-v0"] = _Recipe(env_name, "stitch", 5000, 201, 0.5)
    for env_name in ("cube-single-v0", "cube-double-v0", "scene-v0", "puzzle-3x3-v0"):
        dataset_name = env_name.replace("-v0", "-play-v0")
        recipes[dataset_name] = _Recipe(env_name, "play", 1000, 1001, 0.1)
    return recipes


_RECIPES = _make_recipes()
SUPPORTED_DATASETS: tuple[str, ...] = tuple(sorted(_RECIPES))

# OGBench's dataset types: the word `env_name_of` removes from a dataset name.
_DATASET_TYPES = ("navigate", "stitch", "explore", "play", "noisy")
_NAME_PATTERN = re.compile(r"^(?P<env>.+)-(?P<type>[a-z]+)-(?P<version>v\d+)$")

# The plan oracle's temporal smoothing of its noise (OGBench's --noise_smoothing default).
_PLAN_NOISE_SMOOTHING = 0.5
# Stitch episodes aim at a cell this many BFS steps from the start (generate_locomaze.py).
_STITCH_CELL_DISTANCE = 4
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


def _recipe(dataset_name: str) -> _Recipe:
    if dataset_name not in _RECIPES:
        raise errors.UserError(
            f"cannot generate OGBench dataset {dataset_name!r}: supported datasets are "
            f"{', '.join(SUPPORTED_DATASETS)}"
        )
    return _RECIPES[dataset_name]


def _check_count(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise errors.UserError(f"{name} must be an integer >= {minimum}, got {value!r}")


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
    _check_count("num_episodes", num_episodes, 1)
    # Loading without `compact_dataset` drops each episode's last step (it has no successor), so
    # a one-step episode would contribute nothing.
    _check_count("max_episode_steps", max_episode_steps, 2)
    _check_count("num_workers", num_workers, 1)
    _check_count("seed", seed, 0)
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
    recipe: _Recipe, tasks: list[tuple[int, int, int]], num_workers: int
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
        initializer=_init_worker,
        initargs=(recipe,),
    )
    completed = False
    try:
        yield from executor.map(_run_episode, tasks)
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
            f"{self._done * self._steps / elapsed:,.0f} transitions/s, ETA {_duration(eta)}",
            flush=True,
        )


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds // 60 % 60:02d}m"


# ---------------------------------------------------------------------------------------------
# Worker side. Everything below runs in the spawned processes: the environment and its oracles
# live in `_WORKER` for the life of the process, and each episode reseeds every generator it
# uses, so an episode does not depend on which worker ran it or on what ran there before.

_WORKER: dict = {}


def _init_worker(recipe: _Recipe) -> None:
    # glfw warns at import that there is no display (rendering is never used here), and
    # gymnasium that it casts float64 bounds to float32: noise, once per worker.
    warnings.filterwarnings("ignore", message=r".*DISPLAY environment variable is missing")
    warnings.filterwarnings("ignore", message=r".*precision lowered by casting to float32")
    if recipe.kind == "play":
        _WORKER["collector"] = _PlayCollector(recipe)
    else:
        _WORKER["collector"] = _MazeCollector(recipe)


def _run_episode(task: tuple[int, int, int]) -> dict[str, np.ndarray]:
    seed, split, index = task
    # Both NumPy's legacy global generator (used by OGBench's mazes and oracles) and gymnasium's
    # generators take a 32-bit seed.
    episode_seed = int(np.random.SeedSequence([seed, split, index]).generate_state(1)[0])
    return _WORKER["collector"].episode(episode_seed)


def _make_env(recipe: _Recipe, **kwargs):
    import gymnasium  # noqa: PLC0415 - worker-only imports: the caller never loads MuJoCo.

    if recipe.kind == "play":
        import ogbench.manipspace  # noqa: F401, PLC0415 - registers the environments.
    else:
        import ogbench.locomaze  # noqa: F401, PLC0415

    return gymnasium.make(
        recipe.env_name,
        terminate_at_goal=False,
        max_episode_steps=recipe.max_episode_steps,
        **kwargs,
    )


class _Recorder:
    """Accumulates one episode's steps in OGBench's keys and dtypes."""

    def __init__(self, with_button_states: bool):
        self.keys = ["observations", "actions", "terminals", "qpos", "qvel"]
        if with_button_states:
            self.keys.append("button_states")
        self.steps = {key: [] for key in self.keys}

    def add(self, observation, action, done, info) -> None:
        self.steps["observations"].append(observation)
        self.steps["actions"].append(action)
        self.steps["terminals"].append(done)
        self.steps["qpos"].append(info["prev_qpos"])
        self.steps["qvel"].append(info["prev_qvel"])
        if "button_states" in self.steps:
            self.steps["button_states"].append(info["prev_button_states"])

    def __len__(self) -> int:
        return len(self.steps["terminals"])

    def arrays(self) -> dict[str, np.ndarray]:
        dtypes = {"terminals": bool, "button_states": np.int64}
        return {
            key: np.asarray(self.steps[key], dtype=dtypes.get(key, np.float32)) for key in self.keys
        }


class _MazeCollector:
    """OGBench's point-maze procedure: the BFS oracle's direction plus Gaussian noise."""

    def __init__(self, recipe: _Recipe):
        self._recipe = recipe
        self._env = _make_env(recipe)
        self._maze = self._env.unwrapped
        maze_map = self._maze.maze_map
        self._free_cells = [tuple(ij) for ij in np.argwhere(maze_map == 0)]
        self._vertex_cells = [ij for ij in self._free_cells if not _is_corridor(maze_map, ij)]
        self._stitch_goals: dict[tuple[int, int], list[tuple[int, int]]] = {}

    def episode(self, episode_seed: int) -> dict[str, np.ndarray]:
        np.random.seed(episode_seed)
        self._maze.action_space.seed(episode_seed)  # The maze's reset takes 5 random actions.
        navigate = self._recipe.kind == "navigate"
        start = self._free_cells[np.random.randint(len(self._free_cells))]
        if navigate:
            goal = self._vertex_cells[np.random.randint(len(self._vertex_cells))]
        else:
            candidates = self._cells_at_distance(start)
            goal = candidates[np.random.randint(len(candidates))] if candidates else start
        observation, _ = self._env.reset(
            seed=episode_seed, options={"task_info": {"init_ij": start, "goal_ij": goal}}
        )
        recorder = _Recorder(with_button_states=False)
        done = False
        while not done:
            xy = self._maze.get_xy()
            subgoal_xy, _ = self._maze.get_oracle_subgoal(xy, self._maze.cur_goal_xy)
            direction = subgoal_xy - xy
            direction = direction / (np.linalg.norm(direction) + 1e-6)
            action = direction + np.random.normal(0.0, self._recipe.noise, direction.shape)
            action = np.clip(action, -1.0, 1.0)
            next_observation, _, terminated, truncated, info = self._env.step(action)
            done = terminated or truncated
            if navigate and info["success"]:
                goal = self._vertex_cells[np.random.randint(len(self._vertex_cells))]
                self._maze.set_goal(goal)
            recorder.add(observation, action, done, info)
            observation = next_observation
        return recorder.arrays()

    def _cells_at_distance(self, start: tuple[int, int]) -> list[tuple[int, int]]:
        """Free cells exactly `_STITCH_CELL_DISTANCE` BFS steps from `start`, in BFS order."""
        if start not in self._stitch_goals:
            maze_map = self._maze.maze_map
            distance = {start: 0}
            frontier = [start]
            found = []
            while frontier:
                i, j = frontier.pop(0)
                for di, dj in ((-1, 0), (0, -1), (1, 0), (0, 1)):
                    cell = (i + di, j + dj)
                    if cell in distance or maze_map[cell] != 0:
                        continue
                    distance[cell] = distance[(i, j)] + 1
                    frontier.append(cell)
                    if distance[cell] == _STITCH_CELL_DISTANCE:
                        found.append(cell)
            self._stitch_goals[start] = found
        return self._stitch_goals[start]


def _is_corridor(maze_map: np.ndarray, ij: tuple[int, int]) -> bool:
    """A straight corridor cell: open on exactly two opposite sides. Never a navigate goal."""
    i, j = ij
    up, down, left, right = (
        maze_map[i - 1, j] == 0,
        maze_map[i + 1, j] == 0,
        maze_map[i, j - 1] == 0,
        maze_map[i, j + 1] == 0,
    )
    return (up and down and not left and not right) or (left and right and not up and not down)


class _PlayCollector:
    """OGBench's manipspace `play` procedure: plan oracles chaining random tasks."""

    def __init__(self, recipe: _Recipe):
        from ogbench.manipspace.oracles.plan import (  # noqa: PLC0415 - worker-only.
            button_plan,
            cube_plan,
            drawer_plan,
            window_plan,
        )

        self._recipe = recipe
        self._env = _make_env(recipe, mode="data_collection")
        self._has_buttons = hasattr(self._env.unwrapped, "_cur_button_states")
        plan = {"noise": recipe.noise, "noise_smoothing": _PLAN_NOISE_SMOOTHING}
        env = self._env
        if recipe.env_name.startswith("cube-"):
            self._oracles = {"cube": cube_plan.CubePlanOracle(env=env, **plan)}
        elif recipe.env_name.startswith("scene-"):
            self._oracles = {
                "cube": cube_plan.CubePlanOracle(env=env, **plan),
                "button": button_plan.ButtonPlanOracle(env=env, **plan),
                "drawer": drawer_plan.DrawerPlanOracle(env=env, **plan),
                "window": window_plan.WindowPlanOracle(env=env, **plan),
            }
        else:  # Puzzles: the gripper stays closed and presses buttons.
            self._oracles = {
                "button": button_plan.ButtonPlanOracle(env=env, gripper_always_closed=True, **plan)
            }

    def _stack_probability(self) -> float:
        name = self._recipe.env_name
        if "single" in name:
            return 0.0
        if "double" in name:
            return np.random.uniform(0.0, 0.25)
        return 0.5

    def episode(self, episode_seed: int) -> dict[str, np.ndarray]:
        np.random.seed(episode_seed)
        reset_seed = episode_seed
        while True:
            # Only the first attempt is reseeded: a redrawn scene episode continues the streams.
            observation, info = self._env.reset(seed=reset_seed)
            reset_seed = None
            recorder = self._play(observation, info, self._stack_probability())
            if self._recipe.env_name.startswith("scene-") and not _scene_is_healthy(recorder):
                continue
            return recorder.arrays()

    def _play(self, observation, info, stack_probability: float) -> _Recorder:
        oracle = self._oracles[info["privileged/target_task"]]
        oracle.reset(observation, info)
        recorder = _Recorder(with_button_states=self._has_buttons)
        done = False
        while not done:
            action = np.clip(np.asarray(oracle.select_action(observation, info)), -1.0, 1.0)
            next_observation, _, terminated, truncated, info = self._env.step(action)
            done = terminated or truncated
            if oracle.done:
                task_observation, task_info = self._env.unwrapped.set_new_target(
                    p_stack=stack_probability
                )
                oracle = self._oracles[task_info["privileged/target_task"]]
                oracle.reset(task_observation, task_info)
            recorder.add(observation, action, done, info)
            observation = next_observation
        return recorder


def _scene_is_healthy(recorder: _Recorder) -> bool:
    """OGBench's check that the scene's cube stays in view: not too far right, and not too far
    left unless it lies in the drawer (qpos 14:17 is the cube's position)."""
    cube_xyz = np.asarray(recorder.steps["qpos"])[:, 14:17]
    too_far_right = cube_xyz[:, 1] >= 0.29
    left_outside_drawer = (cube_xyz[:, 1] <= -0.3) & (
        (cube_xyz[:, 2] < 0.06) | (cube_xyz[:, 2] > 0.08)
    )
    return not (too_far_right.any() or left_outside_drawer.any())
