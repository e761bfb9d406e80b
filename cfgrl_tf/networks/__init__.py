"""Keras subclassed networks: MLP, the conditional flow vector field, critics, Gaussian policy."""

from cfgrl_tf.networks.critics import TwinQNetwork, ValueNetwork
from cfgrl_tf.networks.gaussian import GaussianPolicy
from cfgrl_tf.networks.goal_field import GoalVectorField
from cfgrl_tf.networks.mlp import MLP
from cfgrl_tf.networks.vector_field import NULL_LABEL, ConditionalVectorField

__all__ = [
    "MLP",
    "NULL_LABEL",
    "ConditionalVectorField",
    "GaussianPolicy",
    "GoalVectorField",
    "TwinQNetwork",
    "ValueNetwork",
]
