"""Two-dimensional bandits: one-step problems whose action distribution is easy to plot.

Every record is a single terminal step from a constant observation (the 1-vector `[0.0]`), so the
only thing a policy learns is the action distribution and the only thing guidance can change is
which of its modes the policy favours. Each source is a multi-modal 2-D distribution whose modes
have different rewards:

- `diffusion_ql`: Diffusion-QL's toy. Four Gaussians (std 0.05) at (+-0.8, +-0.8), clipped to
  [-1, 1]; rewards drawn per sample from N(3, 0.5) left-up, N(0, 0.5) left-bottom, N(1.5, 0.5)
  right-up and N(5, 0.5) right-bottom. Already in [-1, 1]: action_scale 1.0.
- `8gaussians`: the QGPO/CEP toy. Eight centres on a circle of radius 4, counter-clockwise from
  (0, 4) (centre k at 90 + 45k degrees), noise std 0.5, everything divided by 1.414; reward k / 7.
  The centres end at radius 2.83 with noise std 0.35: action_scale 0.25 (~0.02% clipped).
- `rings`: four rings of radii 3, 2.25, 1.5, 0.75 (outer to inner) with 2-D Gaussian noise of
  std 0.08; rewards 0.667, 0.333, 1.0, 0.0, so the best ring is the third, not the outermost.
  The outer ring reaches ~3.2: action_scale 0.3.
- `swissroll`: the x and z of a swiss roll, t = 1.5 pi (1 + 2u), u ~ U(0, 1), (t cos t, t sin t)
  plus N(0, 1) noise per coordinate, divided by 5; reward is the squared norm (after the division)
  over 9. The points lie within radius ~3: action_scale 0.33.

The mixtures give every mode the same number of samples (up to one), assigned in a random order,
rather than drawing the mode of each sample independently: "equal mass" then holds exactly even
for small datasets. Raw actions are multiplied by the dataset's fixed `action_scale` and clipped to
[-1, 1], the range the policies output.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

import numpy as np

from cfgrl_tf import errors
from cfgrl_tf.data import spec

BANDITS: tuple[str, ...] = ("diffusion_ql", "8gaussians", "rings", "swissroll")

_OBS_DIM = 1
_ACTION_DIM = 2

# diffusion_ql: centre -> mean reward, in the order left-up, left-bottom, right-up, right-bottom.
_DQL_CENTRES = np.array([[-0.8, 0.8], [-0.8, -0.8], [0.8, 0.8], [0.8, -0.8]])
_DQL_REWARD_MEANS = np.array([3.0, 0.0, 1.5, 5.0])
_DQL_STD = 0.05
_DQL_REWARD_STD = 0.5

# 8gaussians: the QGPO/CEP construction, divided by 1.414 after the noise is added.
_EIGHT_RADIUS = 4.0
_EIGHT_STD = 0.5
_EIGHT_DIVISOR = 1.414
_EIGHT_ANGLES = np.deg2rad(90.0 + 45.0 * np.arange(8))
_EIGHT_CENTRES = _EIGHT_RADIUS * np.stack([np.cos(_EIGHT_ANGLES), np.sin(_EIGHT_ANGLES)], axis=1)
_EIGHT_REWARDS = np.arange(8) / 7.0

_RING_RADII = np.array([3.0, 2.25, 1.5, 0.75])
_RING_REWARDS = np.array([0.667, 0.333, 1.0, 0.0])
_RING_STD = 0.08

_SWISS_NOISE = 1.0
_SWISS_DIVISOR = 5.0
_SWISS_REWARD_DIVISOR = 9.0


@dataclasses.dataclass(frozen=True)
class BanditProblem:
    """A 2-D bandit: how to sample its data and the reward a policy's action earns.

    Attributes:
      name: one of `BANDITS`.
      action_scale: the fixed factor raw actions are multiplied by to land in [-1, 1].
      params: the constants of the definition, recorded in `dataset_info.json`.
      sampler: `(num_samples, rng) -> (raw_actions, rewards)`.
      reward_fn: the expected reward of raw (unscaled) actions.
    """

    name: str
    action_scale: float
    params: dict
    sampler: Callable[[int, np.random.Generator], tuple[np.ndarray, np.ndarray]]
    reward_fn: Callable[[np.ndarray], np.ndarray]

    def sample(self, num_samples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draws a dataset in the source's own units.

        Args:
          num_samples: the number of records.
          rng: the generator to draw from.

        Returns:
          `(raw_actions [N, 2] float64, rewards [N] float64)`, before scaling and clipping.
        """
        return self.sampler(num_samples, rng)

    def expected_reward(self, actions: np.ndarray) -> np.ndarray:
        """The expected reward of actions as a policy outputs them (scaled, in [-1, 1]).

        Args:
          actions: `[..., 2]` scaled actions.

        Returns:
          `[...]` float64 expected rewards.
        """
        actions = np.asarray(actions, dtype=np.float64)
        if actions.shape[-1:] != (_ACTION_DIM,):
            raise errors.UserError(
                f"{self.name} bandit: actions must have shape [..., 2], got {list(actions.shape)}"
            )
        return self.reward_fn(actions / self.action_scale)


def _balanced_modes(num_samples: int, num_modes: int, rng: np.random.Generator) -> np.ndarray:
    """Mode indices with every mode used equally often (up to one), in a random order."""
    return rng.permutation(np.arange(num_samples) % num_modes)


def _nearest(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The index of the centre nearest to each point."""
    sq_dist = np.sum((points[..., None, :] - centres) ** 2, axis=-1)
    return np.argmin(sq_dist, axis=-1)


def _sample_diffusion_ql(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    modes = _balanced_modes(n, len(_DQL_CENTRES), rng)
    points = _DQL_CENTRES[modes] + rng.normal(0.0, _DQL_STD, size=(n, 2))
    rewards = rng.normal(_DQL_REWARD_MEANS[modes], _DQL_REWARD_STD)
    return np.clip(points, -1.0, 1.0), rewards


def _reward_diffusion_ql(points: np.ndarray) -> np.ndarray:
    return _DQL_REWARD_MEANS[_nearest(points, _DQL_CENTRES)]


def _sample_8gaussians(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    modes = _balanced_modes(n, len(_EIGHT_CENTRES), rng)
    points = (_EIGHT_CENTRES[modes] + rng.normal(0.0, _EIGHT_STD, size=(n, 2))) / _EIGHT_DIVISOR
    return points, _EIGHT_REWARDS[modes]


def _reward_8gaussians(points: np.ndarray) -> np.ndarray:
    return _EIGHT_REWARDS[_nearest(points, _EIGHT_CENTRES / _EIGHT_DIVISOR)]


def _sample_rings(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    modes = _balanced_modes(n, len(_RING_RADII), rng)
    angles = rng.uniform(0.0, 2.0 * np.pi, size=n)
    radii = _RING_RADII[modes]
    points = radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    points = points + rng.normal(0.0, _RING_STD, size=(n, 2))
    return points, _RING_REWARDS[modes]


def _reward_rings(points: np.ndarray) -> np.ndarray:
    radius = np.linalg.norm(points, axis=-1)
    return _RING_REWARDS[np.argmin(np.abs(radius[..., None] - _RING_RADII), axis=-1)]


def _sample_swissroll(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    t = 1.5 * np.pi * (1.0 + 2.0 * rng.uniform(0.0, 1.0, size=n))
    points = np.stack([t * np.cos(t), t * np.sin(t)], axis=1)
    points = (points + rng.normal(0.0, _SWISS_NOISE, size=(n, 2))) / _SWISS_DIVISOR
    return points, _reward_swissroll(points)


def _reward_swissroll(points: np.ndarray) -> np.ndarray:
    return np.sum(points**2, axis=-1) / _SWISS_REWARD_DIVISOR


_PROBLEMS = {
    "diffusion_ql": BanditProblem(
        name="diffusion_ql",
        action_scale=1.0,
        params={
            "centres": _DQL_CENTRES.tolist(),
            "std": _DQL_STD,
            "reward_means": _DQL_REWARD_MEANS.tolist(),
            "reward_std": _DQL_REWARD_STD,
        },
        sampler=_sample_diffusion_ql,
        reward_fn=_reward_diffusion_ql,
    ),
    "8gaussians": BanditProblem(
        name="8gaussians",
        action_scale=0.25,
        params={
            "radius": _EIGHT_RADIUS,
            "std": _EIGHT_STD,
            "divisor": _EIGHT_DIVISOR,
            "first_angle_deg": 90.0,
            "step_deg": 45.0,
            "rewards": "centre index / 7",
        },
        sampler=_sample_8gaussians,
        reward_fn=_reward_8gaussians,
    ),
    "rings": BanditProblem(
        name="rings",
        action_scale=0.3,
        params={"radii": _RING_RADII.tolist(), "std": _RING_STD, "rewards": _RING_REWARDS.tolist()},
        sampler=_sample_rings,
        reward_fn=_reward_rings,
    ),
    "swissroll": BanditProblem(
        name="swissroll",
        action_scale=0.33,
        params={
            "t": "1.5 * pi * (1 + 2u), u ~ U(0, 1)",
            "noise_std": _SWISS_NOISE,
            "divisor": _SWISS_DIVISOR,
            "rewards": f"squared norm / {_SWISS_REWARD_DIVISOR:g}",
        },
        sampler=_sample_swissroll,
        reward_fn=_reward_swissroll,
    ),
}


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def get_bandit(name: str) -> BanditProblem:
    """The bandit called `name`.

    Raises:
      UserError: `name` is not one of `BANDITS`.
    """
    if name not in _PROBLEMS:
        raise errors.UserError(f"unknown bandit {name!r}; valid names: {', '.join(BANDITS)}")
    return _PROBLEMS[name]


def bandit_transitions(
    name: str, num_samples: int, seed: int
) -> tuple[dict[str, np.ndarray], dict]:
    """Draws a bandit dataset as transition arrays.

    Args:
      name: one of `BANDITS`.
      num_samples: the number of records (> 0).
      seed: seeds `np.random.default_rng`; the same seed gives the same arrays.

    Returns:
      `(arrays, source)`: arrays matching `spec.transition_features(1, 2)` with scaled, clipped
      actions and `optimal` set to `NO_LABEL`, and the `source` entry of `dataset_info.json`.

    Raises:
      UserError: an unknown name, a non-positive `num_samples` or a negative `seed`.
    """
    problem = get_bandit(name)
    if not _is_int(num_samples) or num_samples <= 0:
        raise errors.UserError(f"num_samples must be a positive integer, got {num_samples!r}")
    if not _is_int(seed) or seed < 0:
        raise errors.UserError(f"seed must be a non-negative integer, got {seed!r}")
    num_samples, seed = int(num_samples), int(seed)
    raw_actions, rewards = problem.sample(num_samples, np.random.default_rng(seed))
    scaled = raw_actions * problem.action_scale
    actions = np.clip(scaled, -1.0, 1.0)
    observations = np.zeros((num_samples, _OBS_DIM), dtype=np.float32)
    arrays = {
        "observations": observations,
        "actions": actions.astype(np.float32),
        # A bandit episode ends after one step, so the next observation is never used for
        # bootstrapping (masks are 0); it repeats the observation to keep the spec uniform.
        "next_observations": observations.copy(),
        "rewards": rewards.astype(np.float32),
        "masks": np.zeros(num_samples, dtype=np.float32),
        "terminals": np.ones(num_samples, dtype=np.float32),
        "optimal": np.full(num_samples, spec.NO_LABEL, dtype=np.int64),
    }
    source = {
        "name": f"bandit/{name}",
        "seed": seed,
        "num_samples": num_samples,
        "params": copy.deepcopy(problem.params),
        # How many records had a coordinate moved by the clip to [-1, 1].
        "num_clipped": int(np.sum(np.any(scaled != actions, axis=1))),
    }
    return arrays, source
