"""One goal-conditioned sweep per loop, shared by the tests of the loop and of the suite."""

import pytest
from envs.goal_testutil import Recorder, controller, run

from cfgrl_tf.envs.ogbench_goal import evaluate_lockstep, evaluate_one_at_a_time


@pytest.fixture(scope="session")
def lockstep_run():
    recorder = Recorder(controller)
    return run(evaluate_lockstep, recorder), recorder


@pytest.fixture(scope="session")
def one_at_a_time_run():
    recorder = Recorder(controller)
    return run(evaluate_one_at_a_time, recorder), recorder
