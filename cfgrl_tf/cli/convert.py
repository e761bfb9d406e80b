"""cfgrl-convert: builds a dataset directory from a pipeline gin file.

Usage:
  cfgrl-convert --gin_file=bandit/8gaussians.gin --output_dir=/tmp/data/8gaussians

Gin files are looked up in the repository's (or the installed) `pipelines/` folder, so
`bandit/8gaussians.gin` is `pipelines/bandit/8gaussians.gin`. A finished dataset is never
overwritten: pointing --output_dir at one exits with status 2 and leaves it untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

from absl import flags

from cfgrl_tf.cli import common

common.define_gin_flags()
_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", None, "The dataset directory to create; must not exist or be empty."
)
flags.mark_flag_as_required("output_dir")


@common.user_errors_exit
def main(argv: Sequence[str]) -> None:
    """Parses the gin configuration, builds the dataset and prints a one-line summary.

    Raises:
      UserError: bad flags, gin files or bindings, or a dataset that cannot be written; printed
        on one line by `user_errors_exit`, which exits with status 2.
    """
    common.no_positional_args(argv)
    common.quiet_tensorflow()
    # Imported here, after quiet_tensorflow(), because it imports TensorFlow.
    from cfgrl_tf.data import build

    common.parse_gin(
        flags.FLAGS.gin_file,
        flags.FLAGS.gin_bindings,
        flags.FLAGS.gin_search_path,
        tree="pipelines",
    )
    info = build.build_dataset(output_dir=_OUTPUT_DIR.value)
    print(
        f"wrote {info.num_records} records in {len(info.shards)} shards to {_OUTPUT_DIR.value} "
        f"(source {info.source.get('name', '?')}, action_scale {info.action_scale:g})"
    )


def run() -> None:
    """The `cfgrl-convert` console script."""
    common.run_binary(main, __doc__, __name__)


if __name__ == "__main__":
    run()
