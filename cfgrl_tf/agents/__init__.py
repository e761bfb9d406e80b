"""Agents: CFGRL, flow BC and IQL+AWR (sharing the IQL critic), and the goal-conditioned
GCBC, GCFBC, CFGRL and their hierarchical forms."""

from cfgrl_tf.agents.base import Agent, Sweep
from cfgrl_tf.agents.cfgrl import CFGRLAgent
from cfgrl_tf.agents.critic import IQLCritic
from cfgrl_tf.agents.flow_bc import FlowBCAgent
from cfgrl_tf.agents.goal_conditioned import (
    GCBCAgent,
    GCCFGRLAgent,
    GCFBCAgent,
    GoalConditionedAgent,
    HCFGRLAgent,
    HGCBCAgent,
    HGCFBCAgent,
)
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
    "Sweep",
]
