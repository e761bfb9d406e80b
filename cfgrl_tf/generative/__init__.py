"""The generative core: how a conditional network is trained and sampled, and how it is guided.

  base.py           the interface (`GenerativeModel`): a per-example training loss and a sampler
  flow_matching.py  flow matching on straight paths, sampled with Euler steps
  guidance.py       guidance hooks composed into the sampler: classifier-free guidance
  noise.py          the initial noise, drawn outside XLA so every sampler agrees for one seed

A DDPM (epsilon prediction, a VP schedule, ancestral and DPM-solver sampling) implements the same
interface; a Q-gradient term is a guidance hook.
"""

from cfgrl_tf.generative.base import GenerativeModel
from cfgrl_tf.generative.flow_matching import FlowMatching
from cfgrl_tf.generative.guidance import (
    ClassifierFreeGuidance,
    Guidance,
    NoGuidance,
    null_condition,
)

__all__ = [
    "ClassifierFreeGuidance",
    "FlowMatching",
    "GenerativeModel",
    "Guidance",
    "NoGuidance",
    "null_condition",
]
