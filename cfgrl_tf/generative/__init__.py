"""The generative core: how a conditional network is trained and sampled, and how it is guided.

  base.py           the interface (`GenerativeModel`): a per-example training loss and a sampler
  flow_matching.py  flow matching on straight paths, sampled with Euler steps
  ddpm.py           a DDPM (epsilon prediction; VP, linear and cosine schedules), sampled by
                    the ancestral chain or DPM-Solver++(2M), for the Diffusion-QL family
  guidance.py       guidance hooks composed into the sampler: classifier-free guidance
  noise.py          the samplers' noise, drawn outside XLA so every sampler agrees for one seed

Flow matching and the DDPM implement the same interface and take the same guidance hooks: a
hook combines flow matching's velocities and the DDPM's noise predictions alike.
"""

from cfgrl_tf.generative.base import GenerativeModel
from cfgrl_tf.generative.ddpm import DDPM
from cfgrl_tf.generative.flow_matching import FlowMatching
from cfgrl_tf.generative.guidance import (
    ClassifierFreeGuidance,
    Guidance,
    NoGuidance,
    null_condition,
)

__all__ = [
    "ClassifierFreeGuidance",
    "DDPM",
    "FlowMatching",
    "GenerativeModel",
    "Guidance",
    "NoGuidance",
    "null_condition",
]
