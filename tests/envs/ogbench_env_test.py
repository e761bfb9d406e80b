"""Tests for cfgrl_tf.envs.ogbench_env: importing the package leaves MuJoCo alone, a seeded reset
repeats in a fresh and in a reused env, and the registry's checks."""

from __future__ import annotations

import numpy as np
import pytest
from envs.goal_testutil import ENV, in_subprocess

from cfgrl_tf import errors
from cfgrl_tf.envs import ogbench_env


def test_importing_the_envs_modules_imports_neither_ogbench_nor_mujoco():
    # MuJoCo picks its renderer (MUJOCO_GL) when first imported: that must wait for an evaluation.
    code = """
import sys
import cfgrl_tf.envs
from cfgrl_tf.envs import episodes, lockstep, ogbench_env, ogbench_goal, rollout, videos
from cfgrl_tf.envs import video_replay
print(sorted({m.split(".")[0] for m in sys.modules} & {"ogbench", "mujoco", "gymnasium"}))
"""
    proc = in_subprocess(code, "egl")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def _start(env, seed: int, task_id: int) -> tuple[np.ndarray, np.ndarray]:
    ob, info, _ = ogbench_env.seeded_reset(env, seed, {"task_id": task_id})
    return np.array(ob, copy=True), np.array(info["goal"], copy=True)


def test_seeded_reset_repeats_in_a_fresh_and_a_reused_env():
    # Cube resets step the arm with action-space samples while making the goal: the hard case.
    with ogbench_env.quiet_env_warnings():
        envs = [ogbench_env.make_eval_env("cube-single-v0") for _ in range(2)]
        try:
            first = _start(envs[0], 11, 2)
            other = _start(envs[0], 12, 2)
            again = _start(envs[0], 11, 2)
            fresh = _start(envs[1], 11, 2)
        finally:
            for env in envs:
                ogbench_env.close_env(env)
    for a, b in ((first, again), (first, fresh)):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(first[1], other[1])
    # Numpy's global generator is left as it was found.
    state = np.random.get_state()[1].copy()
    with ogbench_env.quiet_env_warnings():
        env = ogbench_env.make_eval_env(ENV)
        try:
            _start(env, 3, 1)
        finally:
            ogbench_env.close_env(env)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_registry_checks():
    names = ogbench_env.supported_env_names()
    assert {ENV, "cube-single-v0", "scene-v0", "puzzle-3x3-v0"} <= set(names)
    assert not [n for n in names if n.startswith("visual-") or "singletask" in n]
    with pytest.raises(errors.UserError, match="unknown environment 'pointmaze-mediun-v0'"):
        ogbench_env.make_env("pointmaze-mediun-v0")
    env = ogbench_env.make_env(ENV)
    try:
        assert ogbench_env.horizon(env) == 1000
        dim, low, high = ogbench_env.action_bounds(env)
        assert (dim, low.dtype, low.tolist(), high.tolist()) == (2, np.float32, [-1, -1], [1, 1])
    finally:
        ogbench_env.close_env(env)
