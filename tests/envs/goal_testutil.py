"""What the OGBench goal-conditioned evaluation tests share: a small pointmaze sweep, a policy
that heads for the goal, a recorder of policy calls, and a subprocess runner (imported as
`envs.goal_testutil`, `tests/` being on the test path)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

ENV = "pointmaze-medium-v0"
TASKS = (1, 2)
EPISODES = 2
WEIGHTS = (0.0, 1.0)
# A proportional controller reaches task 1's goal in ~120 steps; task 2 only from some starts.
STEPS = 150
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def controller(inputs, sweep_values, seed):
    """Heads straight for the goal at gain 5, scaled by w: w = 0 stands still."""
    del seed
    heading = inputs["goals"] - inputs["observations"]
    return np.clip(sweep_values[:, None] * 5.0 * heading, -1.0, 1.0)


class Recorder:
    """Wraps a policy and keeps every call's inputs as (observations, goals, sweep_values, seed),
    and the names of the inputs it got in `keys`."""

    def __init__(self, policy):
        self.policy = policy
        self.calls = []
        self.keys = []

    def __call__(self, inputs, sweep_values, seed):
        self.keys.append(list(inputs))
        observations, goals = inputs["observations"], inputs["goals"]
        self.calls.append((observations.copy(), goals.copy(), sweep_values.copy(), seed))
        return self.policy(inputs, sweep_values, seed)


def run(fn, policy, **kwargs):
    """`fn` (an `ogbench_goal` evaluation) on the small sweep, overridden by `kwargs`."""
    settings = dict(
        sweep_values=WEIGHTS,
        task_ids=TASKS,
        episodes_per_task=EPISODES,
        max_episode_steps=STEPS,
        progress=False,
    )
    settings.update(kwargs)
    return fn(ENV, policy, **settings)


def in_subprocess(code: str, mujoco_gl: str) -> subprocess.CompletedProcess:
    """Runs Python `code` in a fresh process with MUJOCO_GL set and no DISPLAY."""
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, MUJOCO_GL=mujoco_gl)
    env.pop("DISPLAY", None)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
