"""The DeepMind Control tasks of the paper's ExORL experiments, built the way ExORL builds them.

Nine tasks in four domains (`TASKS`). Six are dm_control suite tasks as `suite.load` makes them;
three are ExORL's own, rebuilt here from dm_control's public pieces:

* `cheetah_run_backward`: the suite's cheetah model and observations, rewarded for running
  backwards: `tolerance(-speed, bounds=(10, inf), margin=10, value_at_margin=0, 'linear')`, the
  mirror of `cheetah_run`.
* `jaco_reach_top_left`, `jaco_reach_top_right`: dm_control.manipulation's Jaco arm and hand on
  its standard arena (the pieces of `manipulation.reach_site_features`), the tool centre point
  started uniformly in the site workspace pointing down, rewarded for being within 5 cm of a
  fixed target on the table, (-0.09, 0.09, 0.001) or (0.09, 0.09, 0.001):
  `tolerance(distance, bounds=(0, 0.05), margin=0.05)`. As in ExORL, the target is not observed
  (it never moves), so an observation holds the robot's 42 features only.

Every environment from `make_dmc_env` looks like ExORL's: one flat float32 `observations` vector
(the task's observation dict concatenated in order, as `flat_observation=True` does), actions in
[-1, 1] (rescaled to each actuator's range, as ExORL's `action_scale.Wrapper` does), and the
`physics` and `task` of the underlying dm_control environment, which `state_rewards` relabels
stored physics states with.

Nothing here imports dm_control or MuJoCo at import time: MuJoCo picks its rendering backend
from MUJOCO_GL when it is first imported, so that import waits until an environment is needed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import dm_env
import numpy as np
from dm_env import specs

from cfgrl_tf import errors
from cfgrl_tf.envs import mujoco_backend

# Domain -> its tasks, in the paper's order.
TASKS = {
    "walker": ("stand", "walk", "run"),
    "quadruped": ("walk", "run"),
    "cheetah": ("run", "run_backward"),
    "jaco": ("reach_top_left", "reach_top_right"),
}
TASK_NAMES = tuple(f"{domain}_{task}" for domain, tasks in TASKS.items() for task in tasks)

# cheetah, the suite's: the speed above which the (forward or backward) run reward is 1, and
# 10 s episodes of 0.01 s steps.
_CHEETAH_RUN_SPEED = 10.0
_CHEETAH_TIME_LIMIT = 10.0
# jaco, as ExORL sets it: a 5 cm target radius, 10 s episodes of 0.04 s control steps, and the
# site workspace of dm_control's reach task for the tool centre point's starting position.
_JACO_TARGETS = {
    "reach_top_left": (-0.09, 0.09, 0.001),
    "reach_top_right": (0.09, 0.09, 0.001),
}
_JACO_TARGET_RADIUS = 0.05
_JACO_TIME_LIMIT = 10.0
_JACO_TCP_BOX = ((-0.2, -0.2, 0.02), (0.2, 0.2, 0.4))


def split_task_name(name: str) -> tuple[str, str]:
    """'walker_walk' -> ('walker', 'walk').

    Raises:
      UserError: not one of `TASK_NAMES`; the message lists them.
    """
    for domain, tasks in TASKS.items():
        prefix = f"{domain}_"
        if isinstance(name, str) and name.startswith(prefix) and name[len(prefix) :] in tasks:
            return domain, name[len(prefix) :]
    raise errors.UserError(f"unknown DeepMind Control task {name!r}; known tasks: {_known()}")


def check_task(domain: str, task: str) -> None:
    """Raises a UserError listing the known tasks unless `domain`/`task` is one of them."""
    if domain not in TASKS or task not in TASKS[domain]:
        raise errors.UserError(
            f"unknown DeepMind Control task {domain!r} {task!r}; known tasks: {_known()}"
        )


def _known() -> str:
    return ", ".join(TASK_NAMES)


@contextlib.contextmanager
def quiet_dm_control() -> Iterator[None]:
    """Hides two harmless messages: GLFW's missing DISPLAY (raised when dm_control is imported,
    even when rendering offscreen) and MuJoCo 3's deprecation of `settotalmass`, which the
    quadruped model still uses, logged on every build."""
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*DISPLAY environment variable is missing")
            yield
    finally:
        absl_logger.setLevel(level)


def import_dm_control() -> Any:
    """Imports dm_control's suite (and MuJoCo); returns the suite module.

    Raises:
      UserError: dm_control is missing, or MuJoCo's MUJOCO_GL backend is broken.
    """
    with quiet_dm_control():
        try:
            from dm_control import suite  # noqa: PLC0415
        except ImportError as e:
            raise errors.UserError(
                f"DeepMind Control tasks need the dm_control package (1.0.x): {e}"
            ) from e
        except Exception as e:
            raise mujoco_backend.import_failed(e) from e
    return suite


class DMCEnv(dm_env.Environment):
    """A dm_control environment as ExORL sees it: flat float32 observations, actions in [-1, 1].

    Attributes:
      physics: the underlying environment's physics (setting its state changes this env).
      task: the underlying environment's task; `task.get_reward(physics)` is its reward.
      name: the task's name, e.g. 'walker_walk'.
    """

    def __init__(self, env: Any, name: str):
        from dm_control.suite.wrappers import action_scale  # noqa: PLC0415

        self._raw = env
        self._env = action_scale.Wrapper(env, minimum=-1.0, maximum=1.0)
        self.name = name
        size = sum(int(np.prod(spec.shape)) for spec in env.observation_spec().values())
        self._observation_spec = specs.Array((size,), np.float32, "observations")

    @property
    def environment(self) -> Any:
        """The dm_control environment this one wraps (a `control.Environment`, or for jaco a
        `composer.Environment`)."""
        return self._raw

    @property
    def physics(self) -> Any:
        return self._raw.physics

    @property
    def task(self) -> Any:
        return self._raw.task

    def _flat(self, time_step: dm_env.TimeStep) -> dm_env.TimeStep:
        parts = [np.asarray(value).ravel() for value in time_step.observation.values()]
        return time_step._replace(observation=np.concatenate(parts).astype(np.float32))

    def reset(self) -> dm_env.TimeStep:
        return self._flat(self._env.reset())

    def step(self, action) -> dm_env.TimeStep:
        return self._flat(self._env.step(action))

    def observation_spec(self) -> specs.Array:
        return self._observation_spec

    def action_spec(self) -> specs.BoundedArray:
        return self._env.action_spec()

    def close(self) -> None:
        self._raw.close()


def make_dmc_env(domain: str, task: str, seed: int | None = 0) -> DMCEnv:
    """One of the paper's nine DeepMind Control tasks (see the module docstring).

    Args:
      domain: 'walker', 'quadruped', 'cheetah' or 'jaco'.
      task: a task of that domain (`TASKS[domain]`), e.g. 'walk'.
      seed: seeds the environment's episode initialisation; None draws a fresh seed.

    Returns:
      A `DMCEnv`.

    Raises:
      UserError: an unknown domain or task (the message lists the known ones), or dm_control
        cannot be imported.
    """
    check_task(domain, task)
    suite = import_dm_control()
    with quiet_dm_control():
        if (domain, task) in suite.ALL_TASKS:
            env = suite.load(domain, task, task_kwargs={"random": seed})
        elif (domain, task) == ("cheetah", "run_backward"):
            env = _cheetah_run_backward(seed)
        else:
            env = _jaco_reach(task, seed)
    return DMCEnv(env, f"{domain}_{task}")


def make_task(name: str, seed: int | None = 0) -> DMCEnv:
    """`make_dmc_env` by the task's full name, e.g. 'cheetah_run_backward'."""
    return make_dmc_env(*split_task_name(name), seed=seed)


def physics_size(env: DMCEnv) -> int:
    """The length of the env's physics state (qpos, qvel and actuator activations)."""
    return int(env.physics.get_state().size)


def state_rewards(env: DMCEnv, states: np.ndarray) -> np.ndarray:
    """The env's task reward of every physics state, ExORL's relabelling.

    Each state is set into the physics (`set_state`, then `forward()`, so that positions,
    velocities and sensors are those of the state) and rewarded by the task's own
    `get_reward(physics)`. The rewards of these tasks depend on positions and velocities only,
    so this is the reward the live environment returned on reaching the state. ExORL's
    `relable_episode` wraps `set_state` in `reset_context`, which also zeroes the controls and
    the clock before its `forward()`: the same rewards, but a full reset per state costs 20x
    more for the jaco arm (its reset pose is in contact with the table). The controls are zeroed
    once here, so nothing of the env's last step enters the forward pass. It leaves the env's
    physics at the last state.

    Args:
      env: from `make_dmc_env`.
      states: [N, physics_size] physics states, as `physics.get_state()` returns them.

    Returns:
      [N] float32 rewards.
    """
    physics, task = env.physics, env.task
    physics.data.ctrl[:] = 0.0
    rewards = np.empty(len(states), np.float32)
    for i, state in enumerate(np.asarray(states, np.float64)):
        physics.set_state(state)
        physics.forward()
        rewards[i] = task.get_reward(physics)
    return rewards


def _cheetah_run_backward(seed: int | None) -> Any:
    from dm_control.rl import control  # noqa: PLC0415
    from dm_control.suite import cheetah  # noqa: PLC0415

    physics = cheetah.Physics.from_xml_string(*cheetah.get_model_and_assets())
    task = _cheetah_backward_class()(random=seed)
    return control.Environment(physics, task, time_limit=_CHEETAH_TIME_LIMIT)


# The task classes subclass dm_control's, so they are defined on first use: a module-level
# subclass would import dm_control (and MuJoCo) with this module.
@functools.cache
def _cheetah_backward_class() -> type:
    from dm_control.suite import cheetah  # noqa: PLC0415
    from dm_control.utils import rewards  # noqa: PLC0415

    class CheetahRunBackward(cheetah.Cheetah):
        """The suite's cheetah, rewarded for running backwards (ExORL's `run_backward`)."""

        def get_reward(self, physics) -> float:
            return rewards.tolerance(
                -physics.speed(),
                bounds=(_CHEETAH_RUN_SPEED, float("inf")),
                margin=_CHEETAH_RUN_SPEED,
                value_at_margin=0,
                sigmoid="linear",
            )

    return CheetahRunBackward


def _jaco_reach(task: str, seed: int | None) -> Any:
    from dm_control import composer  # noqa: PLC0415

    reach = _jaco_reach_class()(np.asarray(_JACO_TARGETS[task], np.float64))
    return composer.Environment(reach, time_limit=_JACO_TIME_LIMIT, random_state=seed)


@functools.cache
def _jaco_reach_class() -> type:
    from dm_control import composer  # noqa: PLC0415
    from dm_control.composer import initializers  # noqa: PLC0415
    from dm_control.composer.variation import distributions  # noqa: PLC0415
    from dm_control.manipulation.shared import (  # noqa: PLC0415
        arenas,
        cameras,
        constants,
        observations,
        robots,
        workspaces,
    )
    from dm_control.utils import rewards  # noqa: PLC0415

    class JacoReach(composer.Task):
        """Bring the Jaco hand's tool centre point within 5 cm of a fixed target site."""

        def __init__(self, target: np.ndarray):
            self._target = target
            settings = observations.PERFECT_FEATURES
            self._arena = arenas.Standard()
            self._arm = robots.make_arm(obs_settings=settings)
            self._hand = robots.make_hand(obs_settings=settings)
            self._arm.attach(self._hand)
            self._arena.attach_offset(self._arm, offset=robots.ARM_OFFSET)
            self.control_timestep = constants.CONTROL_TIMESTEP
            self._tcp_initializer = initializers.ToolCenterPointInitializer(
                self._hand,
                self._arm,
                position=distributions.Uniform(*_JACO_TCP_BOX),
                quaternion=workspaces.DOWN_QUATERNION,
            )
            # The front camera (disabled in feature observations) keeps the env renderable as
            # dm_control's reach renders; the visible site shows the target in videos.
            self._task_observables = cameras.add_camera_observables(
                self._arena, settings, cameras.FRONT_CLOSE
            )
            workspaces.add_target_site(
                body=self._arena.mjcf_model.worldbody,
                radius=_JACO_TARGET_RADIUS,
                visible=True,
                rgba=constants.RED,
                name="target_site",
                pos=target,
            )

        @property
        def root_entity(self):
            return self._arena

        @property
        def task_observables(self):
            return self._task_observables

        @property
        def arm(self):
            return self._arm

        @property
        def hand(self):
            return self._hand

        @property
        def target(self) -> np.ndarray:
            """The target's position in world coordinates."""
            return self._target.copy()

        def tool_center_point(self, physics) -> np.ndarray:
            """The hand's tool centre point in world coordinates."""
            return np.array(physics.bind(self._hand.tool_center_point).xpos)

        def get_reward(self, physics) -> float:
            distance = np.linalg.norm(self.tool_center_point(physics) - self._target)
            return rewards.tolerance(
                distance, bounds=(0, _JACO_TARGET_RADIUS), margin=_JACO_TARGET_RADIUS
            )

        def initialize_episode(self, physics, random_state) -> None:
            self._hand.set_grasp(physics, close_factors=random_state.uniform())
            self._tcp_initializer(physics, random_state)

    return JacoReach
