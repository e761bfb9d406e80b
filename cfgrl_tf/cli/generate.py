r"""cfgrl-generate: collects a dataset locally, OGBench's with its oracles or ExORL's with RND.

Usage:
  cfgrl-generate --gin_file=ogbench/pointmaze-medium-navigate.gin --output_dir=/tmp/data/ogbench
  cfgrl-generate --gin_file=ogbench/cube-single-play.gin --output_dir=/tmp/data/ogbench \
    --gin_bindings="generate_ogbench.num_episodes=100"
  cfgrl-generate --gin_file=exorl/walker-rnd.gin --output_dir=data/exorl
  cfgrl-generate --gin_file=exorl/walker-random.gin --output_dir=data/exorl \
    --gin_bindings="generate_exorl.num_transitions=100000"

Gin files are looked up in the repository's (or the installed) `pipelines/` folder. The
generator is the one the gin configuration binds: `generate_ogbench` writes `<dataset>.npz` and
`<dataset>-val.npz` in OGBench's layout into --output_dir; `generate_exorl` writes one file per
episode into `<output_dir>/<domain>/<algorithm>/buffer/`, ExORL's layout. Existing data is never
overwritten: the binary exits with status 2 and leaves it untouched.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Sequence

import gin
import numpy as np
from absl import flags

from cfgrl_tf import errors
from cfgrl_tf.cli import common

common.define_gin_flags()
_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", None, "The folder to write the dataset into (see the generator's layout)."
)
flags.mark_flag_as_required("output_dir")


def _generators() -> dict:
    """The generators, by gin name; importing them registers them with gin."""
    # Neither module imports TensorFlow: the collection workers they spawn re-import this one.
    from cfgrl_tf.data import exorl_generate, ogbench_generate  # noqa: PLC0415

    return {
        "generate_ogbench": ogbench_generate.generate_ogbench,
        "generate_exorl": exorl_generate.generate_exorl,
    }


def _bound_generator(generators: dict):
    """The generator the parsed configuration binds (OGBench's when it binds none, whose
    missing `dataset_name` is then the error).

    Raises:
      ConfigError: the configuration binds more than one generator.
    """
    bound = [name for name in generators if gin.get_bindings(name)]
    if len(bound) > 1:
        raise errors.ConfigError(
            f"the gin configuration binds {' and '.join(bound)}: a gin file configures one "
            "generator"
        )
    return generators[bound[0] if bound else "generate_ogbench"]


def _what(transitions: int, episodes: int) -> str:
    return f"{transitions} transitions in {episodes} episode{'' if episodes == 1 else 's'}"


def _describe(paths: Sequence[str]) -> list[str]:
    """A line per dataset file written (OGBench's), or per folder of one-episode files
    (ExORL's, one line for a thousand files)."""
    lines = []
    folders = collections.defaultdict(lambda: [0, 0])  # folder -> [files, transitions]
    for path in paths:
        with np.load(path) as data:
            if "terminals" in data.files:  # many episodes, their ends marked
                terminals = data["terminals"]
                lines.append(f"wrote {path}: {_what(len(terminals), int(terminals.sum()))}")
            else:  # one episode: its steps plus the reset row
                folder = folders[os.path.dirname(path)]
                folder[0] += 1
                folder[1] += len(data["action"]) - 1
    for folder, (files, transitions) in folders.items():
        lines.append(f"wrote {files} files to {folder}: {_what(transitions, files)}")
    return lines


@common.user_errors_exit
def main(argv: Sequence[str]) -> None:
    """Parses the gin configuration, generates the dataset and prints the files written.

    Raises:
      UserError: bad flags, gin files or bindings, or data that already exists; printed on one
        line by `user_errors_exit`, which exits with status 2.
    """
    common.no_positional_args(argv)
    common.quiet_tensorflow()  # parse_gin imports every configurable, TensorFlow included.
    generators = _generators()
    common.parse_gin(
        flags.FLAGS.gin_file,
        flags.FLAGS.gin_bindings,
        flags.FLAGS.gin_search_path,
        tree="pipelines",
    )
    paths = _bound_generator(generators)(output_dir=_OUTPUT_DIR.value)
    for line in _describe(paths):
        print(line)


def run() -> None:
    """The `cfgrl-generate` console script."""
    common.run_binary(main, __doc__, __name__)


if __name__ == "__main__":
    run()
