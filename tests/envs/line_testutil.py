"""A point on a line: an `EnvAdapter` with no goals and no OGBench, for the loop tests
(imported as `envs.line_testutil`, `tests/` being on the test path, so that env worker
processes can unpickle it too)."""

from __future__ import annotations

import os

import numpy as np

from cfgrl_tf import errors
from cfgrl_tf.envs.rollout import Start

HORIZON = 12
STEP_BOUND = 0.25


class _Point:
    """The state of one env: a position on a line and a step count."""

    x = 0.0
    t = 0


class LineAdapter:
    """Envs where a point starts in [-1, 0] and succeeds within 0.05 of 1; reward -|x - 1|."""

    name = "line"

    def __init__(self):
        self.made = self.closed = 0

    def make_env(self):
        self.made += 1
        return _Point()

    def close_env(self, env):
        self.closed += 1

    def default_max_envs(self, env, num_rollouts):
        return num_rollouts

    def action_bounds(self, env):
        return 1, np.full(1, -STEP_BOUND, np.float32), np.full(1, STEP_BOUND, np.float32)

    def horizon(self, env):
        return HORIZON

    def reset(self, env, rollout):
        env.x, env.t = start_of(rollout), 0

        def step(action):
            env.x += float(action[0])
            env.t += 1
            success = abs(env.x - 1.0) < 0.05
            return np.array([env.x]), -abs(env.x - 1.0), success, env.t >= HORIZON, {"ok": success}

        return Start(np.array([env.x]), {}, step, {})

    def success(self, info):
        return info["ok"]


def start_of(rollout) -> float:
    return float(np.random.default_rng(rollout.reset_seed).uniform(-1.0, 0.0))


def line_policy(inputs, sweep_values, seed):
    """Steps towards 1 at gain w (clipped to the step bound by the loop); w = 0 stands still."""
    assert list(inputs) == ["observations"]
    assert inputs["observations"].dtype == np.float32
    return sweep_values[:, None] * (1.0 - inputs["observations"])


class FailingLineAdapter(LineAdapter):
    """A LineAdapter whose rollout `fail_index` fails at its first step: with a UserError
    (`how="user"`), another exception ("crash"), or by killing its process ("die")."""

    def __init__(self, fail_index: int, how: str):
        super().__init__()
        self.fail_index = fail_index
        self.how = how

    def reset(self, env, rollout):
        start = super().reset(env, rollout)
        if rollout.index != self.fail_index:
            return start

        def step(action):
            if self.how == "user":
                raise errors.UserError(f"rollout {rollout.index} hit a wall")
            if self.how == "die":
                os._exit(3)
            raise ZeroDivisionError("a bug in the env")

        return Start(start.observation, {}, step, {})
