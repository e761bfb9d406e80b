"""Helpers the benchmark scripts share (run them from the repo root: `python benchmarks/x.py`)."""

import tensorflow as tf

from cfgrl_tf.generative import ClassifierFreeGuidance, FlowMatching


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
