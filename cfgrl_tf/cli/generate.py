"""cfgrl-generate: collects an OGBench dataset locally with the oracles `ogbench` ships.

Usage:
  cfgrl-generate --gin_file=ogbench/pointmaze-medium-navigate.gin --output_dir=/tmp/data/ogbench
  cfgrl-generate --gin_file=ogbench/cube-single-play.gin --output_dir=/tmp/data/ogbench \
    --gin_bindings="generate_ogbench.num_episodes=100"

Gin files are looked up in the repository's (or the installed) `pipelines/` folder. The binary
writes `<dataset>.npz` and `<dataset>-val.npz` in OGBench's layout into --output_dir; an existing
file is never overwritten: the binary exits with status 2 and leaves it untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from absl import flags

from cfgrl_tf.cli import common

common.define_gin_flags()
_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", None, "The folder to write <dataset>.npz and <dataset>-val.npz into."
)
flags.mark_flag_as_required("output_dir")


@common.user_errors_exit
def main(argv: Sequence[str]) -> None:
    """Parses the gin configuration, generates the dataset and prints the files written.

    Raises:
      UserError: bad flags, gin files or bindings, or a file that already exists; printed on one
        line by `user_errors_exit`, which exits with status 2.
    """
    common.no_positional_args(argv)
    common.quiet_tensorflow()  # parse_gin imports every configurable, TensorFlow included.
    # Registers `generate_ogbench` with gin. It does not import TensorFlow: the collection
    # workers it spawns re-import this module.
    from cfgrl_tf.data import ogbench_generate  # noqa: PLC0415

    common.parse_gin(
        flags.FLAGS.gin_file,
        flags.FLAGS.gin_bindings,
        flags.FLAGS.gin_search_path,
        tree="pipelines",
    )
    paths = ogbench_generate.generate_ogbench(output_dir=_OUTPUT_DIR.value)
    for path in paths:
        with np.load(path) as data:
            num_transitions, num_episodes = len(data["terminals"]), int(data["terminals"].sum())
        episodes = "episode" if num_episodes == 1 else "episodes"
        print(f"wrote {path}: {num_transitions} transitions in {num_episodes} {episodes}")


def run() -> None:
    """The `cfgrl-generate` console script."""
    common.run_binary(main, __doc__, __name__)


if __name__ == "__main__":
    run()
