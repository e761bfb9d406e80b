r"""cfgrl-train: trains an agent from gin files, resuming the run in --root_dir if it exists.

Every experiment is a gin file (gin/bandit/*.gin, gin/ogbench/*.gin); --gin_bindings override
any of its values. Re-running the same command resumes from the latest checkpoint (num_steps is
the total); a finished run says so and stops (evaluate it again with cfgrl-eval). One trainer
holds a root dir at a time.

  cfgrl-train --gin_file=bandit/cfgrl.gin \
    --gin_bindings="train.dataset_dir='/tmp/data/8gaussians'" --root_dir=/tmp/runs/cfgrl_8g
  cfgrl-train --gin_file=ogbench/cfgrl.gin --gin_bindings="train.dataset_dir='data/pm'" \
    --gin_bindings="train.num_steps=20000" --root_dir=runs/pm_cfgrl
"""

from cfgrl_tf.cli import common

common.quiet_tensorflow()

from absl import flags  # noqa: E402

from cfgrl_tf import distribute  # noqa: E402

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
    common.train_configured(
        FLAGS.root_dir, FLAGS.gin_file, FLAGS.gin_bindings, strategy, is_chief=is_chief
    )


def run():
    common.run_binary(main, __doc__, __name__)


if __name__ == "__main__":
    run()
