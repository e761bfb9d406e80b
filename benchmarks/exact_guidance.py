"""What the guided sampler does with EXACT velocity fields: no learning error at all.

  python benchmarks/exact_guidance.py        # about a minute on 2 CPU cores

For Diffusion-QL's 4-Gaussian toy and for rings (each ring a chain of small Gaussians), the
exact flow-matching fields of the behaviour mixture (null label) and of the optimal component
(label 2) are integrated by cfgrl_tf's own sampler, and the samples are scored with the bandits'
reward functions and `near_data`. Side by side:
  - Euler steps: 10 against 32 (large w makes the guided field steeper);
  - the paper's guidance at every t against a "guidance interval" (guidance only for t < 0.6,
    the unconditional field after), a remedy for 0 < w < 1 that costs w = 1 its meaning.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from bench_util import guided_sample  # noqa: E402

from cfgrl_tf.data import bandit  # noqa: E402
from cfgrl_tf.eval import bandit_metrics  # noqa: E402
from cfgrl_tf.generative.guidance import guided_velocity  # noqa: E402
from cfgrl_tf.generative.noise import initial_noise  # noqa: E402
from cfgrl_tf.networks.exact import GaussianMixtureField  # noqa: E402

WEIGHTS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)
NUM_SAMPLES = 2000


def diffusion_ql_field() -> GaussianMixtureField:
    means = np.array([[-0.8, 0.8], [-0.8, -0.8], [0.8, 0.8], [0.8, -0.8]])
    optimal = np.array([1e-4, 1e-4, 1e-4, 1.0])  # right-bottom, reward 5
    return GaussianMixtureField(means, 0.05, {0: np.ones(4), 2: optimal})


def rings_field(per_ring: int = 96) -> GaussianMixtureField:
    scale = bandit.get_bandit("rings").action_scale
    radii = np.array([3.0, 2.25, 1.5, 0.75]) * scale
    angles = np.linspace(0.0, 2 * np.pi, per_ring, endpoint=False)
    means = np.concatenate([np.stack([r * np.cos(angles), r * np.sin(angles)], 1) for r in radii])
    ring = np.repeat(np.arange(4), per_ring)
    optimal = np.where(ring == 2, 1.0, 1e-4)  # the third ring, reward 1
    return GaussianMixtureField(means, 0.08 * scale, {0: np.ones(len(means)), 2: optimal})


def sample_with_interval(field, noise, w, num_steps, t_stop):
    """Guidance only while t < t_stop, then the unconditional field: the rejected alternative."""
    x, dt = noise, 1.0 / num_steps
    n = tf.shape(noise)[0]
    for step in range(num_steps):
        t = step * dt
        inputs = {"noisy_actions": x, "times": tf.fill([n], t)}
        v_null = field({**inputs, "labels": tf.zeros([n], tf.int32)})
        v_cond = field({**inputs, "labels": tf.fill([n], 2)})
        weight = w if t < t_stop else tf.zeros_like(w)
        x = x + dt * guided_velocity(v_cond, v_null, weight)
    return tf.clip_by_value(x, -1.0, 1.0)


def score(name, samples, data):
    metrics = bandit_metrics.bandit_metrics(
        samples, data, bandit.get_bandit(name).expected_reward, near_data_radius=0.1
    )
    return metrics["reward"], metrics["near_data"]


def main():
    print(__doc__.split("\n")[0])
    summary = []
    for name, field in (("diffusion_ql", diffusion_ql_field()), ("rings", rings_field())):
        data = bandit.bandit_transitions(name, 10000, seed=0)[0]["actions"]
        obs = tf.zeros([NUM_SAMPLES, 1])
        rows = {}
        for label, steps, interval in (
            ("paper sampler, 10 steps", 10, None),
            ("paper sampler, 32 steps", 32, None),
            ("guidance for t < 0.6 only, 32 steps", 32, 0.6),
        ):
            rows[label] = []
            for w in WEIGHTS:
                weights = tf.fill([NUM_SAMPLES], w)
                if interval is None:
                    labels = tf.fill([NUM_SAMPLES], 2)
                    samples = guided_sample(field, obs, labels, weights, tf.constant(0), steps)
                else:
                    noise = initial_noise(NUM_SAMPLES, 2, tf.constant(0))
                    samples = sample_with_interval(field, noise, weights, steps, interval)
                rows[label].append(score(name, np.asarray(samples), data))
        print(f"\n== {name}: mean reward / near_data (fraction within 0.1 of a dataset action)")
        print(f"{'sampler':<38}" + "".join(f"{f'w={w:g}':>13}" for w in WEIGHTS))
        for label, cells in rows.items():
            print(f"{label:<38}" + "".join(f"{r:>7.3f}/{n:<5.3f}" for r, n in cells))
        paper10, paper32 = rows["paper sampler, 10 steps"], rows["paper sampler, 32 steps"]
        interval = rows["guidance for t < 0.6 only, 32 steps"]
        summary.append(
            f"{name}: w=3 reward {paper10[5][0]:.3f} (10 steps) vs {paper32[5][0]:.3f} (32); "
            f"w=0.5 near {paper32[1][1]:.3f} (paper) vs {interval[1][1]:.3f} (interval), "
            f"w=1 reward {paper32[2][0]:.3f} vs {interval[2][0]:.3f}"
        )
    print("\nSummary: " + "; ".join(summary))


if __name__ == "__main__":
    main()
