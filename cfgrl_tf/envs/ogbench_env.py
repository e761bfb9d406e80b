"""OGBench environments for evaluation: the registry, construction, and resets a seed pins down.

A reset seed alone does not pin an OGBench episode's start and goal: mazes draw the start noise
(and teleport targets) from numpy's global generator, and resets take a few
`action_space.sample()` steps whose generator is unseeded (manipulation envs even build a new,
randomly seeded action space on every access). `seeded_reset` seeds all three, so the same seed
gives the same start and goal in a fresh or a reused environment; envs from `make_eval_env` have
the one action space it needs to seed.

Nothing here imports ogbench or MuJoCo at import time: MuJoCo picks its rendering backend from
MUJOCO_GL when it is first imported, so that import waits until an environment is needed.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from cfgrl_tf import errors
from cfgrl_tf.envs import mujoco_backend
from cfgrl_tf.envs.rollout import StepFn

# Building a manipulation env compiles its MJCF model: measured 0.86 s and 165 MB per cube-single
# env on this repository's machine (a point maze: 9 ms and well under 1 MB). Those run through a
# pool of this many environments, each reused for the next waiting rollout.
DEFAULT_MANIPULATION_ENVS = 16
# The horizon assumed for an env without a time limit; it only spaces the progress lines.
DEFAULT_HORIZON = 1000

_SUPPORTED_PACKAGES = ("ogbench.locomaze", "ogbench.manipspace")
_EXAMPLES = "pointmaze-medium-v0, antmaze-large-v0, cube-single-v0, scene-v0, puzzle-3x3-v0"


def import_ogbench():
    """Imports gymnasium and registers OGBench's envs; returns the gymnasium module.

    Raises:
        UserError: ogbench or gymnasium is missing, or MuJoCo's MUJOCO_GL backend is broken.
    """
    with quiet_env_warnings():
        try:
            import gymnasium
            import mujoco  # noqa: F401  (the envs import it lazily; a broken backend fails here)
            import ogbench.locomaze  # noqa: F401  (registers the maze envs)
            import ogbench.manipspace  # noqa: F401  (registers the manipulation envs)
        except ImportError as e:
            raise errors.UserError(
                f"OGBench evaluation needs the ogbench and gymnasium packages: {e}"
            ) from e
        except Exception as e:
            raise mujoco_backend.import_failed(e) from e
    return gymnasium


def supported_env_names() -> list[str]:
    """The state-based OGBench goal-conditioned env ids this package evaluates (imports ogbench)."""
    gymnasium = import_ogbench()
    names = []
    for env_id, spec in gymnasium.registry.items():
        entry = str(spec.entry_point)
        if not entry.startswith(_SUPPORTED_PACKAGES):
            continue
        if env_id.startswith("visual-") or "singletask" in env_id:
            continue
        names.append(env_id)
    return sorted(names)


def check_env_name(env_name: str) -> None:
    """Raises a UserError, naming valid envs, unless `env_name` is in `supported_env_names()`."""
    supported = supported_env_names()
    if env_name in supported:
        return
    gymnasium = import_ogbench()
    if env_name in gymnasium.registry:
        raise errors.UserError(
            f"environment {env_name!r} is not a state-based OGBench goal-conditioned env "
            f"(visual, single-task and non-OGBench envs are not supported); try e.g. {_EXAMPLES}"
        )
    raise errors.UserError(
        f"unknown environment {env_name!r}; OGBench goal-conditioned envs include {_EXAMPLES} "
        f"({len(supported)} in all, see cfgrl_tf.envs.ogbench_env.supported_env_names())"
    )


def make_env(env_name: str, **kwargs):
    """`gymnasium.make` for a state-based OGBench goal-conditioned env, with a clear `UserError`
    for an unknown or unsupported name and OGBench's import-time warnings silenced."""
    check_env_name(env_name)
    gymnasium = import_ogbench()
    with quiet_env_warnings():
        return gymnasium.make(env_name, **kwargs)


def make_eval_env(
    env_name: str,
    *,
    max_episode_steps: int | None = None,
    render_size: int | None = None,
    **kwargs: Any,
):
    """An env for evaluation, whose resets `seeded_reset` pins down (the name is not checked).

    Args:
        env_name: an OGBench env id, already checked by the caller.
        max_episode_steps: overrides the env's time limit.
        render_size: width and height of rendered frames.
        **kwargs: more `gymnasium.make` arguments, e.g. `use_oracle_rep`.
    """
    gymnasium = import_ogbench()
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    if render_size is not None:
        kwargs.update(width=render_size, height=render_size)
    env = gymnasium.make(env_name, **kwargs)
    pin_action_space(env.unwrapped)
    return env


_PINNED_CLASSES: dict[type, type] = {}


def pin_action_space(unwrapped) -> None:
    """Makes `action_space` one object per env, so `seeded_reset` can seed it.

    OGBench's manipulation envs define `action_space` as a property that builds a new Box, with
    a fresh OS-entropy seed, on every access; their resets step the arm with two of its samples
    while making the goal, so the goal would differ between equally seeded resets. The env is
    moved to a subclass whose property returns one Box built once (the bounds do not change).
    """
    cls = type(unwrapped)
    if not isinstance(inspect.getattr_static(cls, "action_space", None), property):
        return
    space = unwrapped.action_space
    pinned = _PINNED_CLASSES.get(cls)
    if pinned is None:
        pinned = type(
            cls.__name__,
            (cls,),
            {
                "__module__": cls.__module__,
                "action_space": property(lambda self: self._cfgrl_action_space),
            },
        )
        _PINNED_CLASSES[cls] = pinned
    unwrapped.__class__ = pinned
    unwrapped._cfgrl_action_space = space


def seeded_reset(env, seed: int, options: Mapping[str, Any]) -> tuple[Any, dict, StepFn]:
    """Resets `env` from `seed` alone: the same seed gives the same episode in any env instance.

    Args:
        env: from `make_eval_env`.
        seed: seeds the reset, the action space and numpy's global generator during the episode.
        options: the reset's options, e.g. `{"task_id": 1}`.

    Returns:
        (observation, info, step): the reset's observation and info, and the function that
        steps this episode (`env.step`, run with the episode's global generator where the env
        draws from it while stepping).
    """
    # Only a teleport maze's step draws from numpy's global generator; swapping the generator
    # in costs ~10 us a step, so other envs step directly.
    step_needs_rng = getattr(env.unwrapped, "_teleport_info", None) is not None
    env.unwrapped.action_space.seed(seed)
    rng = np.random.RandomState(seed)
    with global_numpy_rng(rng):
        ob, info = env.reset(seed=seed, options=dict(options))
    if not step_needs_rng:
        return ob, info, env.step

    def step(action: np.ndarray):
        with global_numpy_rng(rng):
            return env.step(action)

    return ob, info, step


@contextlib.contextmanager
def global_numpy_rng(rng: np.random.RandomState) -> Iterator[None]:
    """Runs the block with numpy's global generator in `rng`'s state, then restores both."""
    saved = np.random.get_state()
    np.random.set_state(rng.get_state())
    try:
        yield
    finally:
        rng.set_state(np.random.get_state())
        np.random.set_state(saved)


def action_bounds(env) -> tuple[int, np.ndarray, np.ndarray]:
    """(action_dim, low, high) of the env's action space, bounds as float32."""
    space = env.action_space
    low = np.asarray(space.low, np.float32)
    high = np.asarray(space.high, np.float32)
    return int(np.prod(space.shape)), low, high


def horizon(env) -> int:
    """The env's time limit (DEFAULT_HORIZON without one)."""
    spec = env.spec
    if spec is not None and spec.max_episode_steps:
        return int(spec.max_episode_steps)
    return DEFAULT_HORIZON


def default_max_envs(env, num_rollouts: int) -> int:
    """How many envs like `env` to keep alive at once: all rollouts' unless they are costly."""
    heavy = "manipspace" in str(env.unwrapped.__class__.__module__)
    return DEFAULT_MANIPULATION_ENVS if heavy else num_rollouts


def close_env(env) -> None:
    """Closes the env and its MuJoCo renderers, ignoring errors."""
    # OGBench's envs do not close their MuJoCo renderers; left to the garbage collector at exit,
    # an EGL context is freed after EGL itself and prints a traceback.
    unwrapped = env.unwrapped
    for attr in ("custom_renderer", "_renderer"):
        renderer = getattr(unwrapped, attr, None)
        if renderer is not None and hasattr(renderer, "close"):
            with contextlib.suppress(Exception):
                renderer.close()
            setattr(unwrapped, attr, None)
    with contextlib.suppress(Exception):
        env.close()


@contextlib.contextmanager
def quiet_env_warnings() -> Iterator[None]:
    """Hides two harmless warnings: GLFW's missing DISPLAY (raised at import even when rendering
    offscreen) and gymnasium's float64 -> float32 Box bounds (every manipulation action_space)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*DISPLAY environment variable is missing")
        warnings.filterwarnings(
            "ignore", message=r".*Box (low|high)'s precision lowered by casting to float32"
        )
        yield


def is_maze(env_name: str) -> bool:
    """Whether an OGBench env id is a maze (pointmaze, antmaze, humanoidmaze...)."""
    return env_name.split("-")[0].endswith("maze")


def agent_xy(env) -> np.ndarray:
    """The agent's x-y position in a maze env."""
    return np.asarray(env.unwrapped.get_xy(), np.float32)[:2]


def maze_layout(env_name: str, **kwargs: Any) -> dict[str, Any]:
    """What a picture of a maze needs: wall cells, cell size and each task's start and goal.

    Returns:
        `{"walls": [N, 2] x-y centres of the wall cells, "unit": cell size, "tasks":
        {task_id: {"start": [2], "goal": [2]}}}` (the tasks of the goal-conditioned env; a
        single-task env's task is among them).
    """
    env = make_eval_env(env_name, **kwargs)
    try:
        env.reset(seed=0)
        maze = env.unwrapped
        cells = np.argwhere(np.asarray(maze.maze_map) == 1)
        walls = np.array([maze.ij_to_xy(ij) for ij in cells], np.float32).reshape(-1, 2)
        tasks = {
            i + 1: {
                "start": np.asarray(maze.ij_to_xy(info["init_ij"]), np.float32),
                "goal": np.asarray(maze.ij_to_xy(info["goal_ij"]), np.float32),
            }
            for i, info in enumerate(maze.task_infos)
        }
        return {"walls": walls, "unit": float(maze._maze_unit), "tasks": tasks}
    finally:
        close_env(env)


class OGBenchAdapter:
    """What every OGBench task family tells the lockstep loop (`lockstep.EnvAdapter`).

    A family (goal-conditioned, single-task) subclasses it and adds `reset`, which decides the
    reset's options and which of its outputs are policy inputs.

    Args:
        env_name: the env id, already checked by the caller (it names the env in messages).
        max_episode_steps: overrides the env's time limit.
        render_size: width and height of rendered frames, for a process that renders.
        **env_kwargs: more `gymnasium.make` arguments, e.g. `use_oracle_rep`.
    """

    def __init__(
        self,
        env_name: str,
        *,
        max_episode_steps: int | None = None,
        render_size: int | None = None,
        **env_kwargs: Any,
    ):
        self.name = env_name
        self.max_episode_steps = max_episode_steps
        self.render_size = render_size
        self.env_kwargs = env_kwargs
        # Rollouts in a maze keep their x-y path (see `rollout.EnvAdapter`), for `maze_layout`.
        self.trace = agent_xy if is_maze(env_name) else None

    def make_env(self):
        return make_eval_env(
            self.name,
            max_episode_steps=self.max_episode_steps,
            render_size=self.render_size,
            **self.env_kwargs,
        )

    def close_env(self, env) -> None:
        close_env(env)

    def default_max_envs(self, env, num_rollouts: int) -> int:
        return default_max_envs(env, num_rollouts)

    def action_bounds(self, env) -> tuple[int, np.ndarray, np.ndarray]:
        return action_bounds(env)

    def horizon(self, env) -> int:
        return horizon(env)

    def success(self, info: Mapping[str, Any]) -> bool:
        """`info["success"]` of an episode's last step."""
        return bool(info.get("success", False))
