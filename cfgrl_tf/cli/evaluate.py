"""cfgrl-eval: evaluates the latest checkpoint of a run over its sweep (w, or AWR temperatures).

cfgrl-eval --root_dir=/tmp/runs/cfgrl_8g
cfgrl-eval --root_dir=/tmp/runs/cfgrl_8g --gin_bindings="evaluate_agent.sweep_values=[1, 2, 4]"
"""

from cfgrl_tf.cli import common

common.quiet_tensorflow()

from absl import app, flags  # noqa: E402

from cfgrl_tf import experiment  # noqa: E402
from cfgrl_tf.data.reader import load_dataset  # noqa: E402

flags.DEFINE_string("root_dir", None, "Root dir of a cfgrl-train run.")
flags.DEFINE_multi_string(
    "gin_bindings", [], "Bindings applied over the run's config.gin (e.g. evaluate_agent.*)."
)
flags.mark_flag_as_required("root_dir")
FLAGS = flags.FLAGS


@common.user_errors_exit
def main(argv):
    common.no_positional_args(argv)
    experiment.parse_run_config(FLAGS.root_dir, FLAGS.gin_bindings)
    agent, step, dataset_dir = experiment.restore_agent(FLAGS.root_dir)
    print(f"Evaluating {agent.name} at step {step} on {dataset_dir}", flush=True)
    experiment.evaluate_agent(agent, load_dataset(dataset_dir), FLAGS.root_dir, step)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
