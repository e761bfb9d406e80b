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

import os  # noqa: E402
import shutil  # noqa: E402

from absl import flags  # noqa: E402

from cfgrl_tf import distribute, experiment, gin_config  # noqa: E402
from cfgrl_tf.learner import CHECKPOINT_DIR  # noqa: E402

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
    # Stored absolute, so cfgrl-eval and cfgrl-export work from any folder.
    gin_config.absolute_dataset_dir()
    strategy = distribute.make_strategy(FLAGS.strategy)
    is_chief, _ = distribute.worker_id(strategy)
    root_dir = FLAGS.root_dir
    if not is_chief:  # In a multi-worker run only the chief writes the run's files.
        experiment.train(root_dir, strategy)
        return
    created = not os.path.exists(root_dir)
    try:
        with common.run_lock(root_dir):
            common.check_same_configuration(root_dir, FLAGS.gin_file, FLAGS.gin_bindings)
            common.write_run_config(root_dir, FLAGS.gin_file, FLAGS.gin_bindings)
            written = []

            def on_log(step, metrics):
                del step, metrics
                if not written:  # After the first loop every configurable in use was called.
                    common.write_operative_config(root_dir)
                    written.append(True)

            experiment.train(root_dir, strategy, on_log=on_log)
            if written:  # A finished run trains nothing: its operative config stays as it was.
                common.write_operative_config(root_dir)
    except BaseException:
        # A start that fails before its first checkpoint leaves no half-made run dir behind.
        if created and not os.path.isdir(os.path.join(root_dir, CHECKPOINT_DIR)):
            shutil.rmtree(root_dir, ignore_errors=True)
        raise


def run():
    common.run_binary(main, __doc__, __name__)


if __name__ == "__main__":
    run()
