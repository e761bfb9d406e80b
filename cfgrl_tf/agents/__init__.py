"""Agents, one file per method. A new method adds its file here and one import line below
(the import registers its gin configurable).

  cfgrl.py      CFGRL with an IQL critic: guidance over an optimality label
  flow_bc.py    flow behaviour cloning
  iql_awr.py    IQL + advantage-weighted regression
  gc_cfgrl.py   goal-conditioned CFGRL and HCFGRL
  gcfbc.py      goal-conditioned flow BC (GCFBC, HGCFBC)
  gcbc.py       goal-conditioned Gaussian BC (GCBC, HGCBC)

Shared parts: base.py (the agent seam), critic.py (the IQL critic), goal_conditioned.py (goal
inputs and levels), updates.py (gradient steps, EMAs).
"""

from cfgrl_tf.agents.base import Agent
from cfgrl_tf.agents.cfgrl import CFGRLAgent
from cfgrl_tf.agents.critic import IQLCritic
from cfgrl_tf.agents.flow_bc import FlowBCAgent
from cfgrl_tf.agents.gc_cfgrl import GCCFGRLAgent, HCFGRLAgent
from cfgrl_tf.agents.gcbc import GCBCAgent, HGCBCAgent
from cfgrl_tf.agents.gcfbc import GCFBCAgent, HGCFBCAgent
from cfgrl_tf.agents.goal_conditioned import GoalConditionedAgent
from cfgrl_tf.agents.iql_awr import IQLAWRAgent

__all__ = [
    "Agent",
    "CFGRLAgent",
    "FlowBCAgent",
    "GCBCAgent",
    "GCCFGRLAgent",
    "GCFBCAgent",
    "GoalConditionedAgent",
    "HCFGRLAgent",
    "HGCBCAgent",
    "HGCFBCAgent",
    "IQLAWRAgent",
    "IQLCritic",
]
