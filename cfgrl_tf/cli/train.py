"""cfgrl-train: trains an agent from gin files, resuming the run in --root_dir if it exists.

  cfgrl-train --gin_file=bandit/cfgrl.gin \
    --gin_bindings="train.dataset_dir='/tmp/data/8gaussians'" --root_dir=/tmp/runs/cfgrl_8g
"""

from cfgrl_tf.cli import common

common.quiet_tensorflow()

from absl import app, flags  # noqa: E402

from cfgrl_tf import distribute, experiment  # noqa: E402

common.define_gin_flags()
flags.DEFINE_string("root_dir", None, "Run directory: checkpoints, logs, eval and exports.")
flags.DEFINE_enum("strategy", "default", distribute.STRATEGIES, "tf.distribute strategy.")
flags.DEFINE_integer(
    "num_cpu_devices",
    0,
    "Split the CPU into this many logical devices (for --strategy=mirrored "
    "on a machine without GPUs).",
)
flags.mark_flag_as_required("root_dir")
FLAGS = flags.FLAGS


@common.user_errors_exit
def main(argv):
    common.no_positional_args(argv)
    distribute.configure_logical_cpus(FLAGS.num_cpu_devices)
    common.parse_gin(FLAGS.gin_file, FLAGS.gin_bindings, FLAGS.gin_search_path)
    strategy = distribute.make_strategy(FLAGS.strategy)
    is_chief, _ = distribute.worker_id(strategy)
    if is_chief:  # In a multi-worker run only the chief writes the run's files.
        common.write_run_config(FLAGS.root_dir, FLAGS.gin_file, FLAGS.gin_bindings)
    written = []

    def on_log(step, metrics):
        del step, metrics
        if not written:  # After the first loop every configurable in use has been called.
            common.write_operative_config(FLAGS.root_dir)
            written.append(True)

    experiment.train(FLAGS.root_dir, strategy, on_log=on_log)
    if is_chief:
        common.write_operative_config(FLAGS.root_dir)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
