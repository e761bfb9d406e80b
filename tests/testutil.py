"""Plain helpers shared by tests (fixtures live in conftest.py)."""

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
