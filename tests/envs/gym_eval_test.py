"""Tests for cfgrl_tf.envs.gym_eval: Gymnasium MuJoCo rollouts in lockstep, scored by return."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import pytest

from cfgrl_tf import errors
from cfgrl_tf.envs import gym_eval
from cfgrl_tf.envs.rollout import Rollout, make_rollouts

ENV = "Hopper-v5"
WEIGHTS = (0.0, 1.0)
EPISODES = 3
STEPS = 20
# A fixed linear map from Hopper's 11 observations to its 3 actions.
GAIN = np.random.default_rng(0).normal(size=(11, 3)).astype(np.float32)


def _rollout(reset_seed: int) -> Rollout:
    return Rollout(0, 0, 0, 0.0, reset_seed, False)


def _linear(calls):
    """A deterministic policy, w times a fixed linear map squashed to [-1, 1]; keeps its calls."""

    def policy(inputs, sweep_values, seed):
        del seed
        calls.append((sorted(inputs), inputs["observations"].copy(), sweep_values.copy()))
        # Elementwise products summed per row, not `@`: BLAS may round a batch of 4 and a
        # batch of 1 differently, and this test is about the rollouts, not the kernel.
        linear = (inputs["observations"][:, :, None] * GAIN).sum(axis=1)
        return np.tanh(sweep_values[:, None] * linear)

    return policy


def _constant(value: float, dim: int = 3):
    def policy(inputs, sweep_values, seed):
        del sweep_values, seed
        return np.full((len(inputs["observations"]), dim), value, np.float32)

    return policy


def _by_hand(env_id: str, reset_seed: int, action: float, steps: int):
    """(return, length, terminated, observations) of a constant action, stepped by hand."""
    env = gym.make(env_id, max_episode_steps=steps)
    observation, _ = env.reset(seed=reset_seed)
    observations, total, length = [observation], 0.0, 0
    while True:
        observation, reward, terminated, truncated, _ = env.step(
            np.full(env.action_space.shape, action, np.float32)
        )
        observations.append(observation)
        total += reward
        length += 1
        if terminated or truncated:
            break
    env.close()
    return total, length, terminated, np.stack(observations)


def _reset_seeds(episodes: int, seed: int = 0) -> list[int]:
    return [r.reset_seed for r in make_rollouts((gym_eval.TASK_ID,), episodes, (1.0,), seed)]


def test_a_reset_seed_gives_the_same_start_in_a_fresh_and_a_used_env():
    adapter = gym_eval.GymAdapter(ENV)
    used, fresh = adapter.make_env(), adapter.make_env()
    try:
        start = adapter.reset(used, _rollout(5))
        for _ in range(3):  # leave the used env mid-episode
            start.step(np.ones(3, np.float32))
        again = adapter.reset(used, _rollout(7)).observation
        first = adapter.reset(fresh, _rollout(7)).observation
        # The whole physics state, not only what is observed (Hopper does not observe x).
        for attr in ("qpos", "qvel"):
            np.testing.assert_array_equal(
                getattr(used.unwrapped.data, attr), getattr(fresh.unwrapped.data, attr)
            )
        other = adapter.reset(fresh, _rollout(8)).observation
    finally:
        adapter.close_env(used)
        adapter.close_env(fresh)
    np.testing.assert_array_equal(again, first)
    assert not np.array_equal(first, other)


@pytest.fixture(scope="module")
def runs():
    out = {}
    for one_at_a_time in (False, True):
        calls = []
        results = gym_eval.evaluate_lockstep(
            ENV,
            _linear(calls),
            sweep_values=WEIGHTS,
            episodes=EPISODES,
            max_episode_steps=STEPS,
            progress=False,
            # Fewer envs than rollouts: later rollouts reset envs left mid-episode.
            max_envs=None if one_at_a_time else 4,
            one_at_a_time=one_at_a_time,
            obs_dim=11,
        )
        out[one_at_a_time] = (results, calls)
    return out


def test_lockstep_agrees_exactly_with_the_reference_loop(runs):
    (lock, _), (ref, _) = runs[False], runs[True]
    assert [(r.episode, r.sweep_value) for r in lock] == [
        (e, w) for e in range(EPISODES) for w in WEIGHTS
    ]
    assert lock == ref  # episode, knob value, length and return, exactly
    assert not any(r.success for r in lock)
    # Standing still lasts the time limit; w = 1's random map topples the hopper sooner, so the
    # lockstep loop also hands finished rollouts' envs to waiting ones mid-sweep.
    assert [r.length == STEPS for r in lock] == [w == 0.0 for _ in range(EPISODES) for w in WEIGHTS]
    assert len({r.episode_return for r in lock}) == len(lock)  # the knob and the start matter


def test_the_policy_sees_observations_only_and_every_w_the_same_start(runs):
    _, calls = runs[False]
    keys, observations, sweeps = calls[0]
    assert keys == ["observations"]
    assert observations.shape == (4, 11) and observations.dtype == np.float32
    np.testing.assert_array_equal(sweeps, np.tile(WEIGHTS, 2))
    np.testing.assert_array_equal(observations[1], observations[0])  # episode 0 at both w
    np.testing.assert_array_equal(observations[3], observations[2])  # episode 1
    assert not np.array_equal(observations[0], observations[2])


def test_a_constant_policy_returns_what_the_env_gives_by_hand():
    results = gym_eval.evaluate_lockstep(
        ENV,
        _constant(0.0),
        sweep_values=(1.0,),
        episodes=2,
        seed=3,
        max_episode_steps=STEPS,
        progress=False,
    )
    expected = [_by_hand(ENV, s, 0.0, STEPS)[:2] for s in _reset_seeds(2, seed=3)]
    assert [(r.episode_return, r.length) for r in results] == expected
    assert results[0].episode_return != results[1].episode_return


def test_a_falling_hopper_ends_its_episode_early():
    # Full torque on every joint topples the hopper within ~30 steps: terminated, not truncated.
    (result,) = gym_eval.evaluate_lockstep(
        ENV, _constant(1.0), sweep_values=(0.0,), episodes=1, progress=False
    )
    total, length, terminated, _ = _by_hand(ENV, _reset_seeds(1)[0], 1.0, 1000)
    assert terminated and length < 100
    assert (result.length, result.episode_return) == (length, total)


def test_actions_are_divided_by_the_datasets_action_scale():
    # InvertedPendulum's force is in [-3, 3]; its Minari dataset's actions are scaled by 1/3. A
    # policy's 0.3 is the env's 0.9.
    seen = []

    def policy(inputs, sweep_values, seed):
        seen.append(inputs["observations"][0].copy())
        return np.full((len(sweep_values), 1), 0.3, np.float32)

    (result,) = gym_eval.evaluate_lockstep(
        "InvertedPendulum-v5",
        policy,
        sweep_values=(1.0,),
        episodes=1,
        max_episode_steps=50,
        progress=False,
        action_scale=1.0 / 3.0,
    )
    seed = _reset_seeds(1)[0]
    _, length, _, scaled = _by_hand("InvertedPendulum-v5", seed, 0.9, 50)
    _, unscaled_length, _, unscaled = _by_hand("InvertedPendulum-v5", seed, 0.3, 50)
    assert result.length == length != unscaled_length
    np.testing.assert_allclose(np.stack(seen), scaled[:-1], rtol=1e-6)
    # The bounds the loops clip to are the env's in the policy's units.
    adapter = gym_eval.GymAdapter("InvertedPendulum-v5", action_scale=1.0 / 3.0)
    env = adapter.make_env()
    dim, low, high = adapter.action_bounds(env)
    adapter.close_env(env)
    assert dim == 1
    np.testing.assert_allclose([low[0], high[0]], [-1.0, 1.0], rtol=1e-6)


def test_horizons_env_counts_and_versions():
    hopper = gym_eval.GymAdapter(ENV)
    short = gym_eval.GymAdapter(ENV, max_episode_steps=STEPS)
    env, short_env = hopper.make_env(), short.make_env()
    assert hopper.horizon(env) == 1000 and short.horizon(short_env) == STEPS
    assert hopper.action_bounds(env)[0] == 3
    # All the rollouts while they fit in MAX_ENVS; equal waves beyond it.
    counts = [hopper.default_max_envs(env, n) for n in (1, 60, 256, 300, 600)]
    assert counts == [1, 60, 256, 150, 200]
    hopper.close_env(env)
    short.close_env(short_env)
    assert gym_eval.newest_env_id("Hopper") == "Hopper-v5"
    assert gym_eval.newest_env_id("Walker2d") == "Walker2d-v5"
    assert gym_eval.newest_env_id("NoSuchRobot") is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"episodes": 0}, r"episodes must be a positive integer, got 0"),
        ({"seed": -1}, r"seed must be a non-negative integer, got -1"),
        ({"max_episode_steps": 0}, r"max_episode_steps must be a positive integer"),
        ({"max_envs": 0}, r"max_envs must be a positive integer"),
        ({"sweep_values": ()}, r"sweep_values is empty"),
        ({"action_scale": 0.0}, r"action_scale must be a positive number, got 0.0"),
        ({"env_kwargs": {"no_such_arg": 1}}, r"'Hopper-v5' refused its arguments"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    settings = {"sweep_values": WEIGHTS, "progress": False, "max_episode_steps": 2, **kwargs}
    with pytest.raises(errors.UserError, match=message):
        gym_eval.evaluate_lockstep(ENV, _constant(0.0), **settings)


def test_an_unknown_env_is_named_with_close_matches():
    with pytest.raises(errors.UserError, match=r"unknown Gymnasium environment 'Hoper-v5'; close "):
        gym_eval.evaluate_lockstep("Hoper-v5", _constant(0.0), sweep_values=WEIGHTS)
    with pytest.raises(errors.UserError, match=r"close matches: Hopper-v5"):
        gym_eval.check_env_id("Hoper-v5")


def test_a_mujoco_py_version_points_to_the_newest():
    with pytest.raises(errors.UserError, match=r"'Hopper-v2' cannot be made: .*; try Hopper-v5$"):
        gym_eval.make_env("Hopper-v2")


def test_an_env_of_another_observation_size_is_refused_naming_both():
    with pytest.raises(
        gym_eval.ObservationSizeError,
        match=r"'Hopper-v5' gives observations of 11 features but the policy takes 12",
    ):
        gym_eval.evaluate_lockstep(
            ENV, _constant(0.0), sweep_values=WEIGHTS, obs_dim=12, progress=False
        )


def test_missing_packages_are_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "mujoco", None)  # `import mujoco` raises ImportError
    with pytest.raises(errors.UserError, match=r"'Hopper-v5' needs the mujoco package"):
        gym_eval.make_env(ENV)
    monkeypatch.setitem(sys.modules, "gymnasium", None)
    with pytest.raises(errors.UserError, match=r"needs the gymnasium package"):
        gym_eval.evaluate_lockstep(ENV, _constant(0.0), sweep_values=WEIGHTS)


def test_a_policy_of_the_wrong_action_size_is_refused():
    with pytest.raises(errors.UserError, match=r"expected \(2, 3\) for 2 rows of Hopper-v5"):
        gym_eval.evaluate_lockstep(
            ENV,
            _constant(0.0, dim=4),
            sweep_values=WEIGHTS,
            episodes=1,
            max_episode_steps=2,
            progress=False,
        )
