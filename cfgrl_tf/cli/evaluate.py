"""cfgrl-eval: evaluates the latest checkpoint of a run over its sweep (w, or AWR temperatures).

cfgrl-eval --root_dir=/tmp/runs/cfgrl_8g
cfgrl-eval --root_dir=/tmp/runs/cfgrl_8g --gin_bindings="evaluate_agent.sweep_values=[1, 2, 4]"

Goal-conditioned (OGBench) runs are rolled out on the environment's 5 tasks, every (task,
episode, w) rollout in lockstep:

cfgrl-eval --root_dir=runs/pm_cfgrl --gin_bindings="evaluate_goal_agent.episodes_per_task=20"
MUJOCO_GL=egl cfgrl-eval --root_dir=runs/pm_cfgrl --video_dir=runs/pm_cfgrl/eval/videos
"""

from cfgrl_tf.cli import common

common.quiet_tensorflow()

import os  # noqa: E402

from absl import flags  # noqa: E402

from cfgrl_tf import experiment  # noqa: E402
from cfgrl_tf.data.reader import load_dataset  # noqa: E402
from cfgrl_tf.data.spec import DatasetInfo  # noqa: E402
from cfgrl_tf.errors import UserError  # noqa: E402

flags.DEFINE_string("root_dir", None, "Root dir of a cfgrl-train run.")
flags.DEFINE_multi_string(
    "gin_bindings", [], "Bindings applied over the run's config.gin (e.g. evaluate_agent.*)."
)
flags.DEFINE_string(
    "video_dir",
    None,
    "Goal-conditioned runs: write one video per task here (needs MUJOCO_GL=egl or osmesa).",
)
flags.mark_flag_as_required("root_dir")
FLAGS = flags.FLAGS


@common.user_errors_exit
def main(argv):
    common.no_positional_args(argv)
    bindings = list(FLAGS.gin_bindings)
    if FLAGS.video_dir:
        bindings.append(f"evaluate_goal_agent.video_dir = {os.path.abspath(FLAGS.video_dir)!r}")
    experiment.parse_run_config(FLAGS.root_dir, bindings)
    agent, step, dataset_dir = experiment.restore_agent(FLAGS.root_dir)
    if FLAGS.video_dir and not agent.goal_conditioned:
        raise UserError("--video_dir applies to goal-conditioned (OGBench) runs only")
    print(f"Evaluating {agent.name} at step {step} on {dataset_dir}", flush=True)
    if agent.goal_conditioned:  # Needs only the dataset's info, not its million records.
        experiment.evaluate_goal_agent(agent, DatasetInfo.read(dataset_dir), FLAGS.root_dir, step)
    else:
        experiment.evaluate_agent(agent, load_dataset(dataset_dir), FLAGS.root_dir, step)


def run():
    common.run_binary(main, __doc__, __name__)


if __name__ == "__main__":
    run()
