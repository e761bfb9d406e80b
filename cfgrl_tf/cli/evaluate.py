"""cfgrl-eval: evaluates the latest checkpoint of a run over its sweep (w, or AWR temperatures).

The evaluation suite is the one of the run's dataset (bandit: sampled actions scored on the
bandit; OGBench goal-conditioned: the environment's 5 tasks, every (task, episode, w) rollout in
lockstep):

cfgrl-eval --root_dir=/tmp/runs/cfgrl_8g
cfgrl-eval --root_dir=/tmp/runs/cfgrl_8g --gin_bindings="BanditSuite.sweep_values=[1, 2, 4]"
cfgrl-eval --root_dir=runs/pm_cfgrl --gin_bindings="OGBenchGoalSuite.episodes_per_task=20"
MUJOCO_GL=egl cfgrl-eval --root_dir=runs/pm_cfgrl --video_dir=runs/pm_cfgrl/eval/videos
"""

from cfgrl_tf.cli import common

common.quiet_tensorflow()

import os  # noqa: E402

from absl import flags  # noqa: E402

from cfgrl_tf import eval as evaluation  # noqa: E402
from cfgrl_tf import run_dir  # noqa: E402
from cfgrl_tf.errors import UserError  # noqa: E402

flags.DEFINE_string("root_dir", None, "Root dir of a cfgrl-train run.")
flags.DEFINE_multi_string(
    "gin_bindings", [], "Bindings applied over the run's config.gin (e.g. BanditSuite.*)."
)
flags.DEFINE_string(
    "video_dir",
    None,
    "Suites with environments: write one video per task here (needs MUJOCO_GL=egl or osmesa).",
)
flags.mark_flag_as_required("root_dir")
FLAGS = flags.FLAGS


@common.user_errors_exit
def main(argv):
    common.no_positional_args(argv)
    run_dir.parse_run_config(FLAGS.root_dir, FLAGS.gin_bindings)
    agent, step, dataset_dir = run_dir.restore_agent(FLAGS.root_dir)
    data = evaluation.EvalData.at(dataset_dir)  # records are read only if the suite needs them
    suite = evaluation.suite_for(data.info)
    if FLAGS.video_dir:
        if not suite.records_videos:
            raise UserError(
                f"--video_dir applies to suites with environments; {type(suite).__name__} "
                f"(dataset {data.source}) has none"
            )
        suite.video_dir = os.path.abspath(FLAGS.video_dir)
    policy = agent.policy()
    suite.check_policy(policy, data)
    print(f"Evaluating {agent.name} at step {step} on {dataset_dir}", flush=True)
    suite.evaluate(policy, data, FLAGS.root_dir, step)


def run():
    common.run_binary(main, __doc__, __name__)


if __name__ == "__main__":
    run()
