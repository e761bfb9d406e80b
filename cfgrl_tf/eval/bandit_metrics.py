"""How a policy is measured on the 2-D bandit, swept over its knob (w, or a baseline's).

The bandit has a single (dummy) observation and 2-D actions scaled to [-1, 1], so a policy is
judged by the actions it samples: their mean expected reward, and how many of them stay near the
dataset (CFGRL should improve reward as w grows while staying in the support of the data; a
policy that leaves the data is exploiting a critic or flow error, not the task).

Only numpy and a sampler callable are used here, so the module does not depend on any agent: the
caller (the bandit suite, `eval/bandit.py`) wraps its policy as
`sample_fn(observations, sweep_values, seed) -> actions`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from cfgrl_tf import errors
from cfgrl_tf.sweep import Sweep

# Column order of a result row, and so of the CSV.
ROW_KEYS = (
    "agent",
    "dataset",
    "param",
    "value",
    "reward",
    "reward_std",
    "near_data",
    "mean_distance",
    "num_samples",
)

# Elements of one [chunk, N] distance block: 4M float64 = 32 MiB, whatever the dataset size.
_BLOCK_ELEMENTS = 1 << 22

SampleFn = Callable[[np.ndarray, np.ndarray, int], Any]
RewardFn = Callable[[np.ndarray], Any]


def sample_sweep(
    sample_fn: SampleFn,
    sweep: Sweep,
    *,
    observation: np.ndarray,
    num_samples: int,
    seed: int,
    action_dim: int | None = None,
) -> dict[float, np.ndarray]:
    """Samples `num_samples` actions at every sweep value with a single call to `sample_fn`.

    One call rather than one per value because the sampler is compiled: a call per value would
    retrace or at least pay the dispatch and the flow's integration loop once per value.

    Args:
        sample_fn: `(observations [M, obs_dim] float32, sweep_values [M] float32, seed int)` ->
            actions [M, action_dim] (np.ndarray or tf.Tensor), where M = len(values) * num_samples
            and row block i (rows i * num_samples to (i + 1) * num_samples) carries values[i].
        sweep: the values to sample at.
        observation: the observation, [obs_dim] (or [1, obs_dim]), repeated for every sample.
        num_samples: samples per sweep value, at least 1.
        seed: passed to `sample_fn` as is.
        action_dim: if given, the action width the sampler must return.

    Returns:
        {value: actions [num_samples, action_dim] float32}, in sweep order.

    Raises:
        UserError: num_samples < 1, an observation that is not one vector, or a sampler that
            returns the wrong shape or non-finite actions.
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise errors.UserError(f"num_samples must be an integer, got {num_samples!r}")
    if num_samples < 1:
        raise errors.UserError(f"num_samples must be at least 1, got {num_samples}")
    obs = np.asarray(observation, dtype=np.float32)
    if obs.ndim == 2 and obs.shape[0] == 1:
        obs = obs[0]
    if obs.ndim != 1:
        raise errors.UserError(
            f"observation must be one vector [obs_dim] (or [1, obs_dim]), got shape {obs.shape}"
        )
    num_values = len(sweep.values)
    total = num_values * int(num_samples)
    observations = np.broadcast_to(obs, (total, obs.shape[0])).copy()
    sweep_values = np.repeat(np.asarray(sweep.values, dtype=np.float32), num_samples)

    actions = np.asarray(sample_fn(observations, sweep_values, int(seed)))
    if (
        actions.ndim != 2
        or actions.shape[0] != total
        or (action_dim is not None and actions.shape[1] != action_dim)
    ):
        expected = f"({total}, {action_dim if action_dim is not None else 'action_dim'})"
        raise errors.UserError(
            f"sampler returned shape {tuple(actions.shape)}, expected {expected} "
            f"({num_values} {sweep.name} values x {num_samples} samples)"
        )
    try:
        actions = actions.astype(np.float32)
    except (TypeError, ValueError) as e:
        raise errors.UserError(
            f"sampler returned non-numeric actions of dtype {actions.dtype}"
        ) from e

    samples = {}
    for i, value in enumerate(sweep.values):
        block = actions[i * num_samples : (i + 1) * num_samples]
        bad = int(np.count_nonzero(~np.isfinite(block).all(axis=1)))
        if bad:
            raise errors.UserError(
                f"sampler returned non-finite actions at {sweep.name} = {value:g}: "
                f"{bad} of {num_samples} samples"
            )
        samples[value] = block
    return samples


def nearest_distance(samples: np.ndarray, data: np.ndarray, chunk: int | None = None) -> np.ndarray:
    """Euclidean distance from each sample to its nearest data point (exact, bounded memory).

    Args:
        samples: [S, d].
        data: [N, d], N >= 1.
        chunk: samples per block; by default as many as keep a [chunk, N] block near 32 MiB.

    Returns:
        [S] float64 distances.

    Raises:
        UserError: arrays that are not 2-D, differ in width, or an empty `data`.
    """
    a = np.asarray(samples, dtype=np.float64)
    b = np.asarray(data, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise errors.UserError(
            f"samples {a.shape} and data {b.shape} must both be [count, action_dim] with the "
            "same action_dim"
        )
    if b.shape[0] == 0:
        raise errors.UserError("data is empty: cannot measure distance to the nearest data point")
    if chunk is None:
        chunk = max(1, _BLOCK_ELEMENTS // b.shape[0])
    if chunk < 1:
        raise errors.UserError(f"chunk must be at least 1, got {chunk}")

    b_sq = np.einsum("nd,nd->n", b, b)
    out = np.empty(a.shape[0], dtype=np.float64)
    for start in range(0, a.shape[0], chunk):
        block = a[start : start + chunk]
        # |x - y|^2 = |x|^2 + |y|^2 - 2 x.y is one matmul per block instead of a [chunk, N, d]
        # difference tensor; it only picks the nearest point, whose distance is then recomputed
        # directly so the cancellation error of the expansion never reaches the result.
        sq = b_sq[None, :] - 2.0 * (block @ b.T)
        nearest = np.argmin(sq, axis=1)
        out[start : start + chunk] = np.linalg.norm(block - b[nearest], axis=1)
    return out


def bandit_metrics(
    samples: np.ndarray,
    data_actions: np.ndarray,
    reward_fn: RewardFn,
    near_data_radius: float,
) -> dict[str, float | int]:
    """Reward and data-closeness of one set of sampled bandit actions.

    Args:
        samples: [S, 2] sampled actions (scaled to [-1, 1]; not clipped here).
        data_actions: [N, 2] dataset actions.
        reward_fn: [S, 2] actions -> [S] expected rewards.
        near_data_radius: a sample within this distance of a dataset action counts as near data.

    Returns:
        {"reward": mean expected reward, "reward_std": its population std over samples,
        "near_data": fraction of samples within `near_data_radius` of the data,
        "mean_distance": mean nearest-data distance, "num_samples": S}.

    Raises:
        UserError: no samples, a radius <= 0, or a reward_fn that returns the wrong shape.
    """
    _check_radius(near_data_radius)
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[0] == 0:
        raise errors.UserError(f"samples must be a non-empty [S, action_dim], got {samples.shape}")
    rewards = np.asarray(reward_fn(samples), dtype=np.float64)
    if rewards.shape != (samples.shape[0],):
        raise errors.UserError(
            f"reward_fn returned shape {rewards.shape}, expected ({samples.shape[0]},)"
        )
    distance = nearest_distance(samples, data_actions)
    return {
        "reward": float(rewards.mean()),
        "reward_std": float(rewards.std()),
        "near_data": float(np.mean(distance <= near_data_radius)),
        "mean_distance": float(distance.mean()),
        "num_samples": int(samples.shape[0]),
    }


def evaluate_bandit(
    sample_fn: SampleFn,
    sweep: Sweep,
    *,
    data_actions: np.ndarray,
    reward_fn: RewardFn,
    observation: np.ndarray,
    agent: str,
    dataset: str,
    num_samples: int = 2000,
    seed: int = 0,
    near_data_radius: float = 0.1,
) -> tuple[list[dict[str, Any]], dict[float, np.ndarray]]:
    """Samples a policy at every sweep value and measures each setting on the bandit.

    Args:
        sample_fn: see `sample_sweep`.
        sweep: the settings to evaluate.
        data_actions: [N, action_dim] dataset actions, the support `near_data` is measured to.
        reward_fn: [S, action_dim] actions -> [S] expected rewards.
        observation: the bandit's observation, [obs_dim].
        agent: agent name, copied into every row.
        dataset: dataset name, copied into every row.
        num_samples: samples per sweep value.
        seed: sampler seed.
        near_data_radius: see `bandit_metrics`.

    Returns:
        (rows, samples): one row per sweep value with keys `ROW_KEYS` in that order, and
        {value: sampled actions} for plotting.

    Raises:
        UserError: see `sample_sweep` and `bandit_metrics`; also a malformed `data_actions`.
    """
    _check_radius(near_data_radius)
    data_actions = np.asarray(data_actions)
    if data_actions.ndim != 2 or data_actions.shape[0] == 0:
        raise errors.UserError(
            f"data_actions must be a non-empty [N, action_dim], got shape {data_actions.shape}"
        )
    samples = sample_sweep(
        sample_fn,
        sweep,
        observation=observation,
        num_samples=num_samples,
        seed=seed,
        action_dim=data_actions.shape[1],
    )
    rows = []
    for value, actions in samples.items():
        metrics = bandit_metrics(actions, data_actions, reward_fn, near_data_radius)
        row = {"agent": agent, "dataset": dataset, "param": sweep.name, "value": value}
        row.update(metrics)
        rows.append({key: row[key] for key in ROW_KEYS})
    return rows, samples


def format_table(rows: Sequence[Mapping[str, Any]], near_data_radius: float) -> str:
    """A fixed-width table of evaluation rows, for a terminal.

    Args:
        rows: rows as returned by `evaluate_bandit` (or `read_csv`).
        near_data_radius: the radius the rows' `near_data` was measured with, for the header.

    Returns:
        The table: a header line explaining `near_data`, column names, a rule, one line per row.
    """
    columns = ("agent", "dataset", "param", "value", "reward", "near_data")
    formats = {"value": "{:g}", "reward": "{:.3f}", "near_data": "{:.3f}"}
    cells = [
        [formats.get(c, "{}").format(row[c]) if c in row else "-" for c in columns] for row in rows
    ]
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]
    numeric = {"value", "reward", "near_data"}

    def fmt(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if c in numeric else v.ljust(w)
            for c, v, w in zip(columns, values, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    lines = [
        f"near_data: fraction of samples within {near_data_radius:g} of the nearest dataset action",
        fmt(columns),
        "  ".join("-" * w for w in widths),
    ]
    lines.extend(fmt(line) for line in cells)
    return "\n".join(lines) + "\n"


def _check_radius(near_data_radius: float) -> None:
    if not near_data_radius > 0 or not math.isfinite(near_data_radius):
        raise errors.UserError(f"near_data_radius must be > 0, got {near_data_radius}")
