"""Tests for cfgrl_tf.envs.env_slots: lockstep evaluations stepped by worker processes give the
results of the in-process loop, and a worker's failure reaches the caller as a clear error."""

from __future__ import annotations

import numpy as np
import pytest
from envs.goal_testutil import controller, run
from envs.line_testutil import FailingLineAdapter, LineAdapter, line_policy

from cfgrl_tf import errors
from cfgrl_tf.envs import dmc_eval, env_slots, lockstep
from cfgrl_tf.envs.ogbench_goal import evaluate_lockstep
from cfgrl_tf.envs.rollout import make_rollouts


def test_workers_give_the_in_process_results_on_pointmaze(lockstep_run):
    fast, _ = lockstep_run
    # Two workers, then two workers sharing 3 envs (rollouts wait and reuse a worker's env).
    assert run(evaluate_lockstep, controller, env_workers=2) == fast
    assert run(evaluate_lockstep, controller, env_workers=2, max_envs=3) == fast
    # Paths (kept in mazes) come back from the workers too.
    worked = run(evaluate_lockstep, controller, env_workers=2)
    for ours, theirs in zip(fast, worked, strict=True):
        np.testing.assert_array_equal(ours.path, theirs.path)


def test_workers_give_the_in_process_results_and_recordings():
    rollouts = make_rollouts((1, 2), 3, (0.0, 0.5, 1.0), seed=3, record=lambda e, w: e == 2)
    here = lockstep.run_lockstep(
        LineAdapter(), line_policy, rollouts, seed=0, max_envs=7, env_workers=1, progress=False
    )
    there = lockstep.run_lockstep(
        LineAdapter(), line_policy, rollouts, seed=0, max_envs=7, env_workers=3, progress=False
    )
    assert there.results == here.results
    assert [r.rollout for r in there.recordings] == [r.rollout for r in here.recordings]
    assert len(here.recordings) == 6
    for a, b in zip(here.recordings, there.recordings, strict=True):
        np.testing.assert_array_equal(a.actions, b.actions)
        np.testing.assert_array_equal(a.observations, b.observations)


def test_workers_give_the_in_process_returns_on_dm_control():
    def policy(inputs, sweep_values, seed):
        # Deterministic and row-wise, so results cannot depend on how rows are batched.
        observations = inputs["observations"]
        return np.tanh(sweep_values[:, None] * observations[:, :6])

    kwargs = dict(sweep_values=(0.5, 1.0), episodes=3, max_episode_steps=30, progress=False)
    here = dmc_eval.evaluate_lockstep("walker_walk", policy, env_workers=1, **kwargs)
    there = dmc_eval.evaluate_lockstep("walker_walk", policy, env_workers=2, **kwargs)
    assert there == here
    assert len({r.episode_return for r in here}) == len(here)  # six different episodes


@pytest.mark.parametrize(
    ("how", "error", "message"),
    [
        ("user", errors.UserError, "rollout 4 hit a wall"),
        ("crash", RuntimeError, r"env worker 1 of line failed:(.|\n)*ZeroDivisionError"),
        ("die", RuntimeError, r"env worker 1 of line died \(exit 3\)"),
    ],
)
def test_a_failing_worker_stops_the_evaluation_with_a_clear_error(how, error, message):
    rollouts = make_rollouts((1,), 3, (0.0, 1.0), seed=0)
    with pytest.raises(error, match=message):
        lockstep.run_lockstep(
            FailingLineAdapter(4, how), line_policy, rollouts, seed=0, env_workers=2,
            progress=False,
        )  # fmt: skip


def test_an_adapter_that_does_not_pickle_is_refused():
    adapter = LineAdapter()
    adapter.unpicklable = lambda: None
    rollouts = make_rollouts((1,), 2, (1.0,), seed=0)
    with pytest.raises(errors.UserError, match="does not pickle.*env_workers=1"):
        lockstep.run_lockstep(adapter, line_policy, rollouts, seed=0, env_workers=2)


def test_bad_env_workers():
    rollouts = make_rollouts((1,), 1, (1.0,), seed=0)
    for bad in (0, 1.5, True):
        with pytest.raises(errors.UserError, match="env_workers must be a positive integer"):
            lockstep.run_lockstep(LineAdapter(), line_policy, rollouts, seed=0, env_workers=bad)


def test_auto_workers_use_every_core_only_for_large_evaluations():
    large = env_slots.AUTO_MIN_ENV_STEPS
    assert env_slots.auto_workers(300, large - 1, cores=2) == 1  # small: stays in this process
    assert env_slots.auto_workers(300, large, cores=2) == 2
    assert env_slots.auto_workers(300, large, cores=64) == env_slots.MAX_AUTO_WORKERS
    assert env_slots.auto_workers(6, large, cores=2) == 1  # too few envs to share out
    assert env_slots.auto_workers(8, large, cores=4) == 2
