"""Agents, one file per method. A new method adds its file here and one import line below
(the import registers its gin configurable).

  cfgrl.py      CFGRL with an IQL critic: guidance over an optimality label
  flow_bc.py    flow behaviour cloning
  iql_awr.py    IQL + advantage-weighted regression
  gc_cfgrl.py   goal-conditioned CFGRL and HCFGRL
  gcfbc.py      goal-conditioned flow BC (GCFBC, HGCFBC)
  gcbc.py       goal-conditioned Gaussian BC (GCBC, HGCBC)
  diffusion_bc.py  Diffusion-BC: a DDPM policy, epsilon loss alone
  diffusion_ql.py  Diffusion-QL: BC + a Q term through the whole reverse chain
  qgrad.py      Q-gradient guidance: the critic's gradient shifts the epsilon target
  edp.py        EDP: the Q term on the one-step action estimate (large T, DPM-solver)

Shared parts: base.py (the agent seam), critic.py (the IQL critic), goal_conditioned.py (goal
inputs and levels), updates.py (gradient steps, EMAs), diffusion_policy.py and td_critic.py (the
Diffusion-QL family's DDPM policy, action selection and twin-Q TD critic).
"""

from cfgrl_tf.agents.base import Agent
from cfgrl_tf.agents.cfgrl import CFGRLAgent
from cfgrl_tf.agents.critic import IQLCritic
from cfgrl_tf.agents.diffusion_bc import DiffusionBCAgent
from cfgrl_tf.agents.diffusion_ql import DiffusionQLAgent
from cfgrl_tf.agents.edp import EDPAgent
from cfgrl_tf.agents.flow_bc import FlowBCAgent
from cfgrl_tf.agents.gc_cfgrl import GCCFGRLAgent, HCFGRLAgent
from cfgrl_tf.agents.gcbc import GCBCAgent, HGCBCAgent
from cfgrl_tf.agents.gcfbc import GCFBCAgent, HGCFBCAgent
from cfgrl_tf.agents.goal_conditioned import GoalConditionedAgent
from cfgrl_tf.agents.iql_awr import IQLAWRAgent
from cfgrl_tf.agents.qgrad import QGradAgent
from cfgrl_tf.agents.td_critic import TDCritic

__all__ = [
    "Agent",
    "CFGRLAgent",
    "DiffusionBCAgent",
    "DiffusionQLAgent",
    "EDPAgent",
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
    "QGradAgent",
    "TDCritic",
]
