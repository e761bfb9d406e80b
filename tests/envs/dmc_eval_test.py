"""Tests for cfgrl_tf.envs.dmc_eval: DeepMind Control rollouts in lockstep, scored by return."""

from __future__ import annotations

import numpy as np
import pytest

from cfgrl_tf import errors
from cfgrl_tf.envs import dmc_eval, dmc_tasks
from cfgrl_tf.envs.rollout import Rollout, make_rollouts

TASK = "walker_walk"
WEIGHTS = (0.0, 1.0)
EPISODES = 3
STEPS = 20
# A fixed linear map from walker's 24 observations to its 6 actions.
GAIN = np.random.default_rng(0).normal(size=(24, 6)).astype(np.float32)


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


def _zeros(inputs, sweep_values, seed):
    del sweep_values, seed
    return np.zeros((len(inputs["observations"]), 6), np.float32)


@pytest.mark.parametrize("task", ["walker_walk", "jaco_reach_top_left"])  # suite and composer
def test_a_reset_seed_gives_the_same_start_in_a_fresh_and_a_used_env(task):
    adapter = dmc_eval.DMCAdapter(task)
    used, fresh = adapter.make_env(), adapter.make_env()
    try:
        start = adapter.reset(used, _rollout(5))
        action_dim = adapter.action_bounds(used)[0]
        for _ in range(3):  # leave the used env mid-episode
            start.step(np.ones(action_dim))
        again = adapter.reset(used, _rollout(7)).observation
        first = adapter.reset(fresh, _rollout(7)).observation
        # The whole physics state, not only what is observed.
        np.testing.assert_array_equal(used.physics.get_state(), fresh.physics.get_state())
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
        results = dmc_eval.evaluate_lockstep(
            TASK,
            _linear(calls),
            sweep_values=WEIGHTS,
            episodes=EPISODES,
            max_episode_steps=STEPS,
            progress=False,
            # Fewer envs than rollouts: later rollouts reset envs left mid-episode.
            max_envs=None if one_at_a_time else 4,
            one_at_a_time=one_at_a_time,
        )
        out[one_at_a_time] = (results, calls)
    return out


def test_lockstep_agrees_exactly_with_the_reference_loop(runs):
    (lock, _), (ref, _) = runs[False], runs[True]
    assert [(r.episode, r.sweep_value) for r in lock] == [
        (e, w) for e in range(EPISODES) for w in WEIGHTS
    ]
    assert lock == ref  # episode, knob value, length and return, exactly
    assert all(r.length == STEPS and not r.success for r in lock)
    assert len({r.episode_return for r in lock}) == len(lock)  # the knob and the start matter


def test_the_policy_sees_observations_only_and_every_w_the_same_start(runs):
    _, calls = runs[False]
    keys, observations, sweeps = calls[0]
    assert keys == ["observations"]
    assert observations.shape == (4, 24) and observations.dtype == np.float32
    np.testing.assert_array_equal(sweeps, np.tile(WEIGHTS, 2))
    np.testing.assert_array_equal(observations[1], observations[0])  # episode 0 at both w
    np.testing.assert_array_equal(observations[3], observations[2])  # episode 1
    assert not np.array_equal(observations[0], observations[2])


def _by_hand(task: str, reset_seed: int, steps: int) -> float:
    """The return of zero actions in a DMCEnv seeded with the rollout's reset seed."""
    env = dmc_tasks.make_task(task, seed=reset_seed)
    env.reset()
    zeros = np.zeros(env.action_spec().shape)
    total = 0.0
    for _ in range(steps):
        total += env.step(zeros).reward
    env.close()
    return total


def test_a_zero_policy_returns_what_the_env_gives_by_hand():
    results = dmc_eval.evaluate_lockstep(
        TASK,
        _zeros,
        sweep_values=(1.0,),
        episodes=2,
        seed=3,
        max_episode_steps=STEPS,
        progress=False,
    )
    seeds = [r.reset_seed for r in make_rollouts((dmc_eval.TASK_ID,), 2, (1.0,), 3)]
    assert [r.episode_return for r in results] == [_by_hand(TASK, s, STEPS) for s in seeds]
    assert results[0].episode_return != results[1].episode_return


def test_an_episode_runs_to_the_time_limit_and_sums_the_rewards():
    # cheetah steps fastest; its 10 s at 0.01 s are 1000 steps, truncated (never terminated).
    (result,) = dmc_eval.evaluate_lockstep(
        "cheetah_run", _zeros, sweep_values=(0.0,), episodes=1, progress=False
    )
    (seed,) = [r.reset_seed for r in make_rollouts((dmc_eval.TASK_ID,), 1, (0.0,), 0)]
    assert result.length == 1000
    assert result.episode_return == _by_hand("cheetah_run", seed, 1000)


def test_horizons_and_env_counts():
    walker = dmc_eval.DMCAdapter(TASK)
    jaco = dmc_eval.DMCAdapter("jaco_reach_top_right", max_episode_steps=2000)
    short = dmc_eval.DMCAdapter(TASK, max_episode_steps=STEPS)
    walker_env, jaco_env = walker.make_env(), jaco.make_env()
    assert walker.horizon(walker_env) == 1000 and short.horizon(walker_env) == STEPS
    assert jaco.horizon(jaco_env) == 250  # 10 s of 0.04 s
    dim, low, high = jaco.action_bounds(jaco_env)
    assert dim == 9 and low.tolist() == [-1.0] * 9 and high.tolist() == [1.0] * 9
    # All the rollouts while they fit in MAX_ENVS; equal waves beyond it.
    counts = [walker.default_max_envs(walker_env, n) for n in (1, 70, 128, 140, 300)]
    assert counts == [1, 70, 128, 70, 100]
    walker.close_env(walker_env)
    jaco.close_env(jaco_env)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"episodes": 0}, r"episodes must be a positive integer, got 0"),
        ({"seed": -1}, r"seed must be a non-negative integer, got -1"),
        ({"max_episode_steps": 0}, r"max_episode_steps must be a positive integer"),
        ({"max_envs": 0}, r"max_envs must be a positive integer"),
        ({"sweep_values": ()}, r"sweep_values is empty"),
        ({"sweep_values": (1.0, 1.0)}, r"sweep_values repeats a value"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    settings = {"sweep_values": WEIGHTS, "progress": False, **kwargs}
    with pytest.raises(errors.UserError, match=message):
        dmc_eval.evaluate_lockstep(TASK, _zeros, **settings)


def test_an_unknown_task_is_named():
    with pytest.raises(errors.UserError, match=r"unknown DeepMind Control task 'walker_flip'"):
        dmc_eval.evaluate_lockstep("walker_flip", _zeros, sweep_values=WEIGHTS)


def test_a_policy_of_the_wrong_action_size_is_refused():
    def wide(inputs, sweep_values, seed):
        return np.zeros((len(sweep_values), 7))

    with pytest.raises(errors.UserError, match=r"expected \(2, 6\) for 2 rows of walker_walk"):
        dmc_eval.evaluate_lockstep(
            TASK, wide, sweep_values=WEIGHTS, episodes=1, max_episode_steps=2, progress=False
        )


def test_progress_lines_report_the_mean_return_not_successes(capsys):
    dmc_eval.evaluate_lockstep(
        "cheetah_run",
        lambda inputs, knob, seed: np.zeros((len(knob), 6), np.float32),
        sweep_values=(1.0,),
        episodes=2,
        max_episode_steps=5,
        progress=True,
    )
    out = capsys.readouterr().out
    assert "mean return so far" in out and "successes" not in out
