"""Plain helpers shared by tests (fixtures live in conftest.py)."""

import os
import subprocess
import sys

import numpy as np


def tiny_arrays(num: int = 256, reward_scale: float = 1.0, seed: int = 0) -> dict:
    """Bandit-like transition arrays: reward = reward_scale * 1[a0 > 0]."""
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1, 1, size=(num, 2)).astype(np.float32)
    obs = np.zeros((num, 1), np.float32)
    return {
        "observations": obs,
        "actions": actions,
        "next_observations": obs,
        "rewards": (reward_scale * (actions[:, 0] > 0)).astype(np.float32),
        "masks": np.zeros(num, np.float32),
        "terminals": np.ones(num, np.float32),
        "optimal": np.full(num, -1, np.int64),
    }


def write_tiny_ogbench_npz(path, num_trajectories=6, length=41, seed=0, **overrides):
    """A small file in OGBench's layout with pointmaze sizes (2-D states and actions): random
    walks, `terminals` = 1 at each trajectory's last state, plus qpos/qvel."""
    rng = np.random.default_rng(seed)
    observations, actions, terminals = [], [], []
    for _ in range(num_trajectories):
        x = rng.uniform(2.0, 20.0, size=2)
        for k in range(length):
            a = rng.uniform(-1.0, 1.0, size=2)
            observations.append(x.copy())
            actions.append(a)
            terminals.append(1.0 if k == length - 1 else 0.0)
            x = x + 0.2 * a
    arrays = {
        "observations": np.asarray(observations, np.float32),
        "actions": np.asarray(actions, np.float32),
        "terminals": np.asarray(terminals, np.float32),
    }
    arrays["qpos"] = arrays["observations"].astype(np.float64)
    arrays["qvel"] = np.zeros_like(arrays["qpos"])
    arrays.update(overrides)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    np.savez(path, **arrays)
    return str(path)


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(binary: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Runs `python -m cfgrl_tf.cli.<binary> ARGS` from the repo root, as a user would run it."""
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=os.pathsep.join([REPO_ROOT, os.environ.get("PYTHONPATH", "")]),
    )
    return subprocess.run(
        [sys.executable, "-m", f"cfgrl_tf.cli.{binary}", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=timeout,
    )


def user_error(result: subprocess.CompletedProcess) -> str:
    """Asserts a binary failed as a user mistake should (exit 2, one `error:` line, no traceback)
    and returns that line."""
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-4000:]
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def place_jaco_hand(env, position) -> None:
    """Moves a jaco reach env's hand (tool centre point, pointing down) to `position` [3]."""
    from dm_control.composer import initializers  # noqa: PLC0415
    from dm_control.composer.variation import distributions  # noqa: PLC0415
    from dm_control.manipulation.shared import workspaces  # noqa: PLC0415

    place = initializers.ToolCenterPointInitializer(
        env.task.hand,
        env.task.arm,
        position=distributions.Uniform(position, position),
        quaternion=workspaces.DOWN_QUATERNION,
    )
    place(env.physics, np.random.RandomState(0))
