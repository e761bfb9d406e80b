"""Helpers the benchmark scripts share (run them from the repo root: `python benchmarks/x.py`)."""

import statistics
import time

import numpy as np
import tensorflow as tf

from cfgrl_tf.data import reader, spec, writer
from cfgrl_tf.generative import ClassifierFreeGuidance, FlowMatching
from cfgrl_tf.learner import Learner


def guided_sample(field, observations, labels, weights, seed, num_flow_steps, jit=False):
    """cfgrl_tf's guided flow sampler on a label-conditioned field."""
    context = {
        "observations": observations,
        "labels": labels,
        "condition_mask": tf.ones(tf.shape(labels)),
    }
    return FlowMatching(num_flow_steps).sample(
        field, context, seed=seed, guidance=ClassifierFreeGuidance(), knob=weights, jit_compile=jit
    )


def timed(fn, repeats: int) -> float:
    """Median seconds of `fn()` after two warm-up calls (compilation excluded). The output (a
    tensor, an array or a nest of them, bfloat16 included) is fetched as numpy inside the
    timing, so the time includes the work."""
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else np.asarray(t), out)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def tiny_dataset(folder, obs_dim, action_dim, num=20000):
    """A random single-task dataset of `num` transitions (speed only: its values mean nothing)."""
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(num, obs_dim)).astype(np.float32)
    arrays = {
        "observations": obs,
        "actions": rng.uniform(-1, 1, (num, action_dim)).astype(np.float32),
        "next_observations": obs,
        "rewards": rng.normal(size=num).astype(np.float32),
        "masks": np.ones(num, np.float32),
        "terminals": np.zeros(num, np.float32),
        "optimal": np.full(num, -1, np.int64),
    }
    writer.write_dataset(
        arrays,
        folder,
        features=spec.transition_features(obs_dim, action_dim),
        num_shards=2,
        source={"name": "benchmark/random"},
        labels={"optimal": {"rule": "none"}},
        action_scale=1.0,
    )
    return reader.load_dataset(folder)


def train_rate(agent_fn, dataset, folder, batch, steps, steps_per_loop, jit=True) -> float:
    """Train steps/s of `agent_fn`'s agent through the Learner's compiled loop: `steps` timed
    steps after one loop of warm-up (the compilation)."""
    learner = Learner(
        agent_fn,
        dataset,
        folder,
        tf.distribute.get_strategy(),
        batch_size=batch,
        seed=0,
        steps_per_loop=steps_per_loop,
        checkpoint_interval=10**9,
        jit_compile=jit,
    )
    warm = max(steps_per_loop, 2)
    learner.train(warm, log_interval=10**9)
    start = time.perf_counter()
    learner.train(warm + steps, log_interval=10**9)
    return steps / (time.perf_counter() - start)
