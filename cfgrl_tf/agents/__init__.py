"""Agents, one file each: CFGRL, flow BC and IQL+AWR (sharing the IQL critic)."""

from cfgrl_tf.agents.base import Agent, Sweep
from cfgrl_tf.agents.cfgrl import CFGRLAgent
from cfgrl_tf.agents.critic import IQLCritic
from cfgrl_tf.agents.flow_bc import FlowBCAgent
from cfgrl_tf.agents.iql_awr import IQLAWRAgent

__all__ = ["Agent", "CFGRLAgent", "FlowBCAgent", "IQLAWRAgent", "IQLCritic", "Sweep"]
