"""Tests for cfgrl_tf.envs.lockstep and cfgrl_tf.envs.rollout: the lockstep and one-at-a-time
loops agree, one policy call per step padded to powers of two, env reuse, progress lines and bad
policies (on OGBench's pointmaze), and the loops with an adapter that has no goals."""

from __future__ import annotations

import numpy as np
import pytest
from envs.goal_testutil import ENV, EPISODES, STEPS, TASKS, WEIGHTS, Recorder, controller, run
from envs.line_testutil import HORIZON, STEP_BOUND, LineAdapter, line_policy, start_of

from cfgrl_tf import errors
from cfgrl_tf.envs import lockstep
from cfgrl_tf.envs.ogbench_goal import evaluate_lockstep, evaluate_one_at_a_time
from cfgrl_tf.envs.rollout import make_rollouts


def test_lockstep_and_one_at_a_time_give_identical_results(lockstep_run, one_at_a_time_run):
    (fast, _), (slow, _) = lockstep_run, one_at_a_time_run
    assert fast == slow
    # Not a trivial agreement: some rollouts succeed early, others run to the time limit.
    assert any(r.success and r.length < STEPS for r in fast)
    assert any(not r.success and r.length == STEPS for r in fast)
    # Reusing envs through a small pool (5 rollouts wait for a free env) changes nothing either.
    assert run(evaluate_lockstep, controller, max_envs=3) == fast


def test_one_policy_call_per_step_with_fresh_seeds(lockstep_run, one_at_a_time_run):
    (results, recorder), (slow, slow_recorder) = lockstep_run, one_at_a_time_run
    assert len(recorder.calls) == max(r.length for r in results)
    assert len(slow_recorder.calls) == sum(r.length for r in slow)
    assert all(c[0].shape[0] == 1 for c in slow_recorder.calls)
    # Lockstep seeds: one per step, consecutive; one-at-a-time seeds never repeat across episodes.
    seeds = [c[3] for c in recorder.calls]
    assert np.all(np.diff(seeds) == 1)
    assert len({c[3] for c in slow_recorder.calls}) == len(slow_recorder.calls)
    # 5 to 8 rollouts run at a time here: padded to all 8 rows.
    assert {c[0].shape[0] for c in recorder.calls} == {8}


def test_batch_shrinks_to_powers_of_two_as_rollouts_finish():
    recorder = Recorder(controller)
    results = run(evaluate_lockstep, recorder, task_ids=(1,), sweep_values=(0.0, 1.0, 2.0))
    # 6 rollouts; the 4 at w > 0 reach the goal early, leaving the 2 at w = 0.
    assert sum(r.success for r in results) == 4
    sizes = [c[0].shape[0] for c in recorder.calls]
    assert sizes[0] == 6 and sizes[-1] == 2
    assert set(sizes) <= {6, 4, 2}
    assert sizes == sorted(sizes, reverse=True)  # never grows back
    # The padding repeats a running row; the last calls carry only the w = 0 rows.
    np.testing.assert_array_equal(recorder.calls[-1][2], [0.0, 0.0])


def test_results_are_ordered_and_counted(lockstep_run):
    results, _ = lockstep_run
    assert len(results) == len(TASKS) * EPISODES * len(WEIGHTS)
    keys = [(r.task_id, r.episode, r.sweep_value) for r in results]
    assert keys == [(t, e, w) for t in TASKS for e in range(EPISODES) for w in WEIGHTS]
    assert all(isinstance(r.success, bool) and 1 <= r.length <= STEPS for r in results)
    assert all(r.episode_return == float(r.success) for r in results)  # 1 at the goal, then stop


def test_progress_lines(capsys):
    run(evaluate_lockstep, controller, task_ids=(1,), episodes_per_task=1, progress=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10  # every 15 steps of 150
    assert lines[0].startswith(f"[{ENV}] step 15/150: active rollouts 2, finished 0/2")
    assert "env steps/s" in lines[0]
    assert "finished 2/2, successes so far 1" in lines[-1]
    run(evaluate_lockstep, controller, task_ids=(1,), episodes_per_task=1, max_episode_steps=5)
    assert capsys.readouterr().out == ""


def test_policy_of_the_wrong_shape():
    def wrong(inputs, sweep_values, seed):
        return np.zeros((inputs["observations"].shape[0], 3))

    def nan(inputs, sweep_values, seed):
        return np.where(sweep_values[:, None] > 0, np.nan, 0.0) * np.ones((1, 2))

    kwargs = dict(task_ids=(1,), episodes_per_task=1, max_episode_steps=5)
    with pytest.raises(errors.UserError, match=r"shape \(2, 3\), expected \(2, 2\)"):
        run(evaluate_lockstep, wrong, **kwargs)
    with pytest.raises(errors.UserError, match=r"shape \(1, 3\), expected \(1, 2\)"):
        run(evaluate_one_at_a_time, wrong, **kwargs)
    with pytest.raises(errors.UserError, match=r"non-finite actions in 1 of 2 rows .* \[1.0\]"):
        run(evaluate_lockstep, nan, **kwargs)


# ----------------------------------------------------------------------------------------------
def test_loops_run_an_adapter_without_goals_and_sum_its_rewards():
    rollouts = make_rollouts((1, 2), 3, (0.0, 1.0), seed=4)
    adapter = LineAdapter()
    sizes = []

    def policy(inputs, sweep_values, seed):
        sizes.append(len(sweep_values))
        return line_policy(inputs, sweep_values, seed)

    fast = lockstep.run_lockstep(adapter, policy, rollouts, seed=0, progress=False)
    assert (adapter.made, adapter.closed) == (12, 12)
    slow = lockstep.run_one_at_a_time(LineAdapter(), line_policy, rollouts, seed=0, progress=False)
    pool = LineAdapter()
    pooled = lockstep.run_lockstep(pool, line_policy, rollouts, seed=0, max_envs=5, progress=False)
    assert (pool.made, pool.closed) == (5, 5)
    assert fast.results == slow.results == pooled.results
    assert fast.recordings == slow.recordings == []
    # 12 rollouts at first, then the 6 at w = 0 that never move: padded to 8, capped at 12.
    assert sizes[0] == 12 and set(sizes) == {12, 8}
    for rollout, result in zip(rollouts, fast.results, strict=True):
        x0 = start_of(rollout)
        if rollout.sweep_value == 0.0:
            assert (result.success, result.length) == (False, HORIZON)
            assert result.episode_return == pytest.approx(-HORIZON * (1.0 - x0))
        else:
            # Steps of STEP_BOUND (the last one shorter, onto the goal) until within 0.05 of it.
            x, steps, episode_return = x0, 0, 0.0
            while abs(x - 1.0) >= 0.05:
                x += min(STEP_BOUND, 1.0 - x)
                steps += 1
                episode_return -= abs(x - 1.0)
            assert (result.success, result.length) == (True, steps)
            assert result.episode_return == pytest.approx(episode_return, abs=1e-5)


def test_recordings_keep_the_filmed_rollouts_actions_and_observations():
    rollouts = make_rollouts((1,), 2, (0.0, 1.0), seed=0, record=lambda e, w: e == 1 and w > 0)
    assert [r.record_video for r in rollouts] == [False, False, False, True]
    outcome = lockstep.run_lockstep(LineAdapter(), line_policy, rollouts, seed=0, progress=False)
    (recording,) = outcome.recordings
    assert recording.rollout == rollouts[3] and recording.success
    length = outcome.results[3].length
    assert recording.actions.shape == (length, 1)
    assert recording.observations.shape == (length + 1, 1)
    np.testing.assert_allclose(np.diff(recording.observations[:, 0]), recording.actions[:, 0])
    assert np.abs(recording.actions).max() <= STEP_BOUND  # the clipped actions, as stepped


def test_make_rollouts_pairs_every_sweep_value():
    rollouts = make_rollouts((2, 5), 2, (0.5, 1.0, 3.0), seed=7)
    assert [r.index for r in rollouts] == list(range(12))
    keys = [(r.task_id, r.episode, r.sweep_value) for r in rollouts]
    assert keys == [(t, e, w) for t in (2, 5) for e in range(2) for w in (0.5, 1.0, 3.0)]
    seeds = np.array([r.reset_seed for r in rollouts]).reshape(2, 2, 3)
    assert (seeds == seeds[..., :1]).all()  # one start per (task, episode), at every value
    assert len(np.unique(seeds[..., 0])) == 4
    assert make_rollouts((2, 5), 2, (0.5, 1.0, 3.0), seed=7) == rollouts
    other = make_rollouts((2, 5), 2, (0.5, 1.0, 3.0), seed=8)
    assert not {r.reset_seed for r in other} & {r.reset_seed for r in rollouts}
    assert not any(r.record_video for r in rollouts)


def test_bad_max_envs():
    rollouts = make_rollouts((1,), 1, (1.0,), seed=0)
    for bad in (0, 1.5, True):
        with pytest.raises(errors.UserError, match="max_envs must be a positive integer"):
            lockstep.run_lockstep(LineAdapter(), line_policy, rollouts, seed=0, max_envs=bad)
