"""cfgrl-export: writes a run's latest checkpoint as a SavedModel in <root_dir>/export/<step>.

  cfgrl-export --root_dir=/tmp/runs/cfgrl_8g

The SavedModel's serving signature takes observations [B, obs_dim], guidance_weight [B] and
seed [] and returns actions [B, action_dim]; see cfgrl_tf/export.py.
"""

from cfgrl_tf.cli import common

common.quiet_tensorflow()

from absl import flags  # noqa: E402

from cfgrl_tf import export, run_dir  # noqa: E402

flags.DEFINE_string("root_dir", None, "Root dir of a cfgrl-train run.")
flags.DEFINE_float(
    "temperature",
    None,
    "Policies whose knob is fixed at export (IQL+AWR): the temperature head to export "
    "(default: the highest).",
)
flags.mark_flag_as_required("root_dir")
FLAGS = flags.FLAGS


@common.user_errors_exit
def main(argv):
    common.no_positional_args(argv)
    run_dir.parse_run_config(FLAGS.root_dir)
    path = export.export_run(FLAGS.root_dir, knob_value=FLAGS.temperature)
    print(f"Exported SavedModel to {path}", flush=True)


def run():
    common.run_binary(main, __doc__, __name__)


if __name__ == "__main__":
    run()
