"""The worker side of local OGBench generation: the collection recipes and the scripted oracles.

`ogbench_generate.py` runs these in spawned worker processes (OGBench's oracles and mazes draw from
NumPy's global generator, so they never run in the caller's process). A recipe says how OGBench
collects one dataset; a collector runs one seeded episode of it.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np


@dataclasses.dataclass(frozen=True)
class Recipe:
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


def make_recipes() -> dict[str, Recipe]:
    recipes = {}
    for maze in ("medium", "large", "giant", "teleport"):
        env_name = f"pointmaze-{maze}-v0"
        long_maze = maze == "giant"
        recipes[f"pointmaze-{maze}-navigate-v0"] = Recipe(
            env_name, "navigate", 500 if long_maze else 1000, 2001 if long_maze else 1001, 0.5
        )
        recipes[f"pointmaze-{maze}-stitch-v0"] = Recipe(env_name, "stitch", 5000, 201, 0.5)
    for env_name in ("cube-single-v0", "cube-double-v0", "scene-v0", "puzzle-3x3-v0"):
        dataset_name = env_name.replace("-v0", "-play-v0")
        recipes[dataset_name] = Recipe(env_name, "play", 1000, 1001, 0.1)
    return recipes


RECIPES = make_recipes()


# The plan oracle's temporal smoothing of its noise (OGBench's --noise_smoothing default).
_PLAN_NOISE_SMOOTHING = 0.5
# Stitch episodes aim at a cell this many BFS steps from the start (generate_locomaze.py).
_STITCH_CELL_DISTANCE = 4


# ---------------------------------------------------------------------------------------------
# Worker side. Everything below runs in the spawned processes: the environment and its oracles
# live in `_WORKER` for the life of the process, and each episode reseeds every generator it
# uses, so an episode does not depend on which worker ran it or on what ran there before.

_WORKER: dict = {}


def init_worker(recipe: Recipe) -> None:
    # glfw warns at import that there is no display (rendering is never used here), and
    # gymnasium that it casts float64 bounds to float32: noise, once per worker.
    warnings.filterwarnings("ignore", message=r".*DISPLAY environment variable is missing")
    warnings.filterwarnings("ignore", message=r".*precision lowered by casting to float32")
    if recipe.kind == "play":
        _WORKER["collector"] = _PlayCollector(recipe)
    else:
        _WORKER["collector"] = _MazeCollector(recipe)


def run_episode(task: tuple[int, int, int]) -> dict[str, np.ndarray]:
    seed, split, index = task
    # Both NumPy's legacy global generator (used by OGBench's mazes and oracles) and gymnasium's
    # generators take a 32-bit seed.
    episode_seed = int(np.random.SeedSequence([seed, split, index]).generate_state(1)[0])
    return _WORKER["collector"].episode(episode_seed)


def _make_env(recipe: Recipe, **kwargs):
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

    def __init__(self, recipe: Recipe):
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

    def __init__(self, recipe: Recipe):
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
