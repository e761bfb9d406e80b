"""Imports every module that registers gin configurables, so any shipped gin file parses.

Binaries import this (through `cli.common.parse_gin`) before parsing; library users who parse gin
themselves can do the same.
"""

from cfgrl_tf import agents, experiment  # noqa: F401
from cfgrl_tf.data import build, ogbench_generate  # noqa: F401
