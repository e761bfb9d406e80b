"""Evaluation suites, one module per problem family, chosen from the dataset's source.

  suites.py          the seam: `Suite`, the registry, `evaluate(policy, data, root_dir, step)`
  bandit.py          2-D bandits: reward and data-closeness of sampled actions
  ogbench_goal.py    OGBench goal-conditioned: success on the 5 tasks, rollouts in lockstep
  ogbench_task.py    OGBench single-task: one task's success and return, rollouts in lockstep
  dmc.py             DeepMind Control (ExORL datasets): a task's return, rollouts in lockstep
  gym.py             Gymnasium MuJoCo (D4RL, Minari datasets): return and normalised score
  episode_plots.py   the OGBench suites' pictures: success vs knob, maze rollouts per knob value
  returns.py         what a return-scored suite reports: return per knob value, its plot
  report.py          what every suite writes (CSV rows, TensorBoard scalars)
  curve.py           evaluations during training: eval/curve.csv, last/best/offline selection
  bandit_metrics.py  the bandit's measurements; bandit_summary.py, goal_summary.py compare runs

A new suite is one module that registers itself, plus its import line below. Importing this
package imports neither ogbench nor MuJoCo (a suite does when an evaluation starts).
"""

from cfgrl_tf.eval import bandit, dmc, gym, ogbench_goal, ogbench_task  # noqa: F401 - each registers its suite
from cfgrl_tf.eval.suites import EvalData, Suite, evaluate, suite_for

__all__ = ["EvalData", "Suite", "evaluate", "suite_for"]
