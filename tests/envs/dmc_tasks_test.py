"""The paper's DeepMind Control tasks: the suite's where dm_control has them, ExORL's rewards for
the three it lacks, and clear errors for the rest."""

import subprocess
import sys

import numpy as np
import pytest
from testutil import REPO_ROOT, place_jaco_hand

from cfgrl_tf import errors
from cfgrl_tf.envs import dmc_tasks


def test_the_nine_tasks_of_the_paper():
    assert dmc_tasks.TASK_NAMES == (
        "walker_stand",
        "walker_walk",
        "walker_run",
        "quadruped_walk",
        "quadruped_run",
        "cheetah_run",
        "cheetah_run_backward",
        "jaco_reach_top_left",
        "jaco_reach_top_right",
    )
    assert dmc_tasks.split_task_name("cheetah_run_backward") == ("cheetah", "run_backward")
    assert dmc_tasks.split_task_name("jaco_reach_top_left") == ("jaco", "reach_top_left")


@pytest.mark.parametrize(
    "make",
    [
        lambda: dmc_tasks.make_task("walker_flip"),
        lambda: dmc_tasks.make_task("walker"),
        lambda: dmc_tasks.make_dmc_env("humanoid", "walk"),
        lambda: dmc_tasks.make_dmc_env("cheetah", "walk"),
    ],
)
def test_an_unknown_task_is_refused_listing_the_known_ones(make):
    with pytest.raises(errors.UserError, match=r"unknown DeepMind Control task .*known tasks: "):
        make()
    with pytest.raises(errors.UserError) as raised:
        make()
    assert all(name in str(raised.value) for name in dmc_tasks.TASK_NAMES)


def _rollout(env, actions):
    first = env.reset().observation
    rewards = [env.step(action).reward for action in actions]
    return np.asarray(first), np.asarray(rewards)


@pytest.mark.parametrize(
    ("domain", "task", "obs_size", "physics_size"),
    [("walker", "walk", 24, 18), ("quadruped", "run", 78, 57), ("cheetah", "run", 17, 18)],
)
def test_suite_tasks_are_the_suites_with_exorls_flat_observations(
    domain, task, obs_size, physics_size
):
    """The same episode as `suite.load(..., flat_observation=True)` with actions rescaled from
    [-1, 1] (ExORL's environment), observations as float32."""
    suite = dmc_tasks.import_dm_control()  # first: it hides GLFW's DISPLAY warning
    from dm_control.suite.wrappers import action_scale  # noqa: PLC0415

    ours = dmc_tasks.make_dmc_env(domain, task, seed=3)
    with dmc_tasks.quiet_dm_control():
        theirs = suite.load(
            domain,
            task,
            task_kwargs={"random": 3},
            environment_kwargs={"flat_observation": True},
        )
    theirs = action_scale.Wrapper(theirs, minimum=-1.0, maximum=1.0)
    actions = np.random.default_rng(0).uniform(-1, 1, (15, *ours.action_spec().shape))
    first, rewards = _rollout(ours, actions)
    time_step = theirs.reset()
    expected = [theirs.step(action).reward for action in actions]
    np.testing.assert_array_equal(first, time_step.observation["observations"].astype(np.float32))
    np.testing.assert_array_equal(rewards, expected)
    assert first.dtype == np.float32 and first.shape == (obs_size,)
    assert ours.observation_spec().shape == (obs_size,)
    assert dmc_tasks.physics_size(ours) == physics_size
    spec = ours.action_spec()
    np.testing.assert_array_equal(spec.minimum, -1.0)
    np.testing.assert_array_equal(spec.maximum, 1.0)


@pytest.mark.parametrize(
    ("name", "steps"),
    [("cheetah_run", 1000), ("cheetah_run_backward", 1000), ("jaco_reach_top_left", 250)],
)
def test_episodes_end_at_the_time_limit(name, steps):
    env = dmc_tasks.make_task(name)
    time_step = env.reset()
    zeros = np.zeros(env.action_spec().shape)
    for _ in range(steps):
        assert not time_step.last()
        time_step = env.step(zeros)
    assert time_step.last() and time_step.discount == 1.0  # a time limit, not a termination


def test_actions_in_minus_one_one_span_each_actuators_range():
    env = dmc_tasks.make_task("quadruped_walk")
    env.reset()
    low, high = env.physics.model.actuator_ctrlrange.T
    assert not np.allclose(low, -1.0)  # the quadruped's ranges are not [-1, 1]
    env.step(np.ones(env.action_spec().shape))
    np.testing.assert_allclose(env.physics.control(), high)
    env.step(-np.ones(env.action_spec().shape))
    np.testing.assert_allclose(env.physics.control(), low)


def _cheetah_states(env, speeds):
    """Physics states of the cheetah at rest but for its horizontal speed."""
    states = []
    for speed in speeds:
        qvel = np.zeros(env.physics.model.nv)
        qvel[0] = speed  # rootx: the whole body moves at this speed
        states.append(np.concatenate([env.physics.data.qpos, qvel, env.physics.data.act]))
    return np.array(states)


def test_run_backward_rewards_backward_speed_as_run_rewards_forward():
    backward = dmc_tasks.make_task("cheetah_run_backward", seed=0)
    forward = dmc_tasks.make_task("cheetah_run", seed=0)
    backward.reset()
    speeds = [-15.0, -10.0, -5.0, -1.0, 0.0, 1.0, 5.0, 10.0, 15.0]
    states = _cheetah_states(backward, speeds)
    rewards = dmc_tasks.state_rewards(backward, states)
    assert backward.physics.speed() == pytest.approx(15.0)  # the last state's
    # tolerance(-speed, bounds=(10, inf), margin=10, value_at_margin=0, linear)
    np.testing.assert_allclose(rewards, [1.0, 1.0, 0.5, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(dmc_tasks.state_rewards(forward, states), rewards[::-1], atol=1e-6)


def test_run_backward_is_the_suites_cheetah_but_for_the_reward():
    actions = np.random.default_rng(1).uniform(-1, 1, (30, 6))
    first_backward, _ = _rollout(dmc_tasks.make_task("cheetah_run_backward", seed=5), actions)
    forward = dmc_tasks.make_task("cheetah_run", seed=5)
    first_forward, _ = _rollout(forward, actions)
    np.testing.assert_array_equal(first_backward, first_forward)
    backward = dmc_tasks.make_task("cheetah_run_backward", seed=5)
    _rollout(backward, actions)
    np.testing.assert_array_equal(backward.physics.get_state(), forward.physics.get_state())


def _jaco_state_with_hand_at(env, position):
    place_jaco_hand(env, position)
    env.physics.forward()
    np.testing.assert_allclose(env.task.tool_center_point(env.physics), position, atol=1e-3)
    return env.physics.get_state()


def test_each_jaco_reach_task_rewards_its_own_target():
    left = dmc_tasks.make_task("jaco_reach_top_left", seed=0)
    right = dmc_tasks.make_task("jaco_reach_top_right", seed=0)
    left.reset()
    right.reset()
    np.testing.assert_allclose(left.task.target, [-0.09, 0.09, 0.001])
    np.testing.assert_allclose(right.task.target, [0.09, 0.09, 0.001])
    states = np.array(
        [
            _jaco_state_with_hand_at(left, (-0.09, 0.09, 0.031)),  # 3 cm above the left target
            _jaco_state_with_hand_at(left, (0.09, 0.09, 0.041)),  # 4 cm above the right one
            _jaco_state_with_hand_at(left, (-0.09, 0.09, 0.101)),  # 10 cm: 5 cm out of range
            _jaco_state_with_hand_at(left, (0.0, -0.1, 0.3)),  # far from both
        ]
    )
    left_rewards = dmc_tasks.state_rewards(left, states)
    right_rewards = dmc_tasks.state_rewards(right, states)
    # tolerance(distance, bounds=(0, 0.05), margin=0.05): 1 inside 5 cm, 0.1 5 cm beyond it
    np.testing.assert_allclose(left_rewards[[0, 2]], [1.0, 0.1], atol=0.01)
    np.testing.assert_allclose(right_rewards[1], 1.0)
    assert left_rewards[1] < 1e-6 and right_rewards[0] < 1e-6
    assert max(left_rewards[3], right_rewards[3]) < 1e-6


def test_jaco_observes_the_robot_and_acts_in_minus_one_one():
    env = dmc_tasks.make_task("jaco_reach_top_right", seed=0)
    first = env.reset().observation
    assert first.shape == env.observation_spec().shape == (42,)
    assert first.dtype == np.float32
    assert env.action_spec().shape == (9,) and dmc_tasks.physics_size(env) == 18
    step = env.step(np.ones(9))
    assert step.observation.shape == (42,) and 0.0 <= step.reward <= 1.0
    np.testing.assert_allclose(env.physics.control(), env.physics.model.actuator_ctrlrange[:, 1])

    # The same seed starts the same episode; another seed another one.
    def first_observation(seed):
        return dmc_tasks.make_task("jaco_reach_top_right", seed).reset().observation

    np.testing.assert_array_equal(first_observation(0), first)
    assert not np.array_equal(first_observation(1), first)


def test_importing_does_not_import_mujoco():
    """MuJoCo reads MUJOCO_GL when first imported, so only building an environment may."""
    code = (
        "import sys; import cfgrl_tf.envs.dmc_tasks, cfgrl_tf.data.exorl; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mujoco', 'dm_control')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    assert result.stdout.strip() == "[]"
