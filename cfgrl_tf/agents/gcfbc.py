"""Goal-conditioned flow BC (GCFBC) and its hierarchical form (HGCFBC).

The goal-conditioned CFGRL agent (gc_cfgrl.py) with no goal dropout: a goal-conditioned flow
trained by flow matching and sampled unguided, which is CFGRL at w = 1. The paper's baseline for
what guidance adds.
"""

from __future__ import annotations

import gin

from cfgrl_tf.agents.gc_cfgrl import GCCFGRLAgent
from cfgrl_tf.agents.goal_conditioned import HIERARCHICAL_FEATURES


@gin.configurable
class GCFBCAgent(GCCFGRLAgent):
    """Goal-conditioned flow BC: a goal-conditioned flow, no dropout, no guidance (w = 1)."""

    name = "gcfbc"
    default_goal_dropout = 0.0


@gin.configurable
class HGCFBCAgent(GCFBCAgent):
    """Hierarchical goal-conditioned flow BC."""

    name = "hgcfbc"
    hierarchical = True
    batch_features = HIERARCHICAL_FEATURES
