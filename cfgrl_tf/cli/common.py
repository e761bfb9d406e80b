"""What every binary shares: gin flags and search paths, run-config files, and clean errors.

This package is the only place absl flags are defined.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence

import gin
from absl import flags

from cfgrl_tf import errors, fileio

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def define_gin_flags() -> None:
    """Defines --gin_file, --gin_bindings and --gin_search_path."""
    flags.DEFINE_multi_string(
        "gin_file", [], "Gin files to parse, in order (relative to the search path)."
    )
    flags.DEFINE_multi_string(
        "gin_bindings", [], "Gin bindings, applied after the files ('a.b = 1')."
    )
    flags.DEFINE_multi_string(
        "gin_search_path", [], "Extra folders to look for gin files and includes in."
    )


def default_search_paths(tree: str = "gin") -> list[str]:
    """The folders gin files are looked up in: the source tree's, then the installed copy.

    Args:
      tree: "gin" for experiments (cfgrl-train and friends) or "pipelines" for dataset builds
        (cfgrl-convert). Each binary searches only its own tree, so `bandit/rings.gin` cannot
        silently resolve to the experiment file when a dataset build was meant, or back.
    """
    candidates = [
        os.path.join(_REPO_ROOT, tree),
        os.path.join(sys.prefix, "share", "cfgrl_tf", tree),
    ]
    return [p for p in candidates if os.path.isdir(p)]


def parse_gin(
    gin_files: Sequence[str],
    gin_bindings: Sequence[str],
    search_paths: Sequence[str] = (),
    tree: str = "gin",
) -> None:
    """Parses gin files and bindings, raising `ConfigError` with gin's own explanation.

    Args:
      gin_files: file names, absolute or relative to the working folder or a search path.
      gin_bindings: binding strings applied after the files.
      search_paths: extra folders, looked up before the default ones.
      tree: which shipped tree to search, "gin" or "pipelines" (see `default_search_paths`).

    Raises:
      ConfigError: a file cannot be found or parsed, or a binding names an unknown configurable
        or parameter.
    """
    from cfgrl_tf import configurables  # noqa: F401, PLC0415 - registers everything gin binds.

    # gin keeps one global search path; reset it so the other tree's files cannot shadow this one.
    gin.config._LOCATION_PREFIXES[:] = [""]  # gin has no public way to remove a search path.
    for path in [*search_paths, *default_search_paths(tree)]:
        gin.add_config_file_search_path(path)
    # gin probes each file as a plain path before the search path and logs an ERROR line for every
    # miss, even when the search path then finds it: keep that noise out of the user's terminal.
    gin_logger = logging.getLogger()
    level = gin_logger.level
    gin_logger.setLevel(logging.CRITICAL)
    try:
        gin.parse_config_files_and_bindings(
            list(gin_files), list(gin_bindings), finalize_config=False
        )
    except OSError as e:
        raise errors.ConfigError(f"gin file not found: {e}") from None
    except (ValueError, SyntaxError, TypeError) as e:
        raise errors.ConfigError(f"bad gin configuration: {e}") from None
    except Exception as e:  # gin surfaces tokenizer errors as their own types.
        raise errors.ConfigError(f"bad gin configuration ({type(e).__name__}): {e}") from None
    finally:
        gin_logger.setLevel(level)


def config_text(gin_files: Sequence[str], gin_bindings: Sequence[str]) -> str:
    """The parsed configuration as one self-contained gin text.

    Every binding the files and flags made, with includes resolved (`gin.config_str`), so that
    `cfgrl-eval` and `cfgrl-export` can rebuild the run from its root dir alone.
    """
    header = [
        "# Written by cfgrl_tf: every binding of this run, includes resolved.",
        f"# gin files: {', '.join(gin_files) or '(none)'}",
        *(f"# gin binding: {b}" for b in gin_bindings),
    ]
    return "\n".join(header) + "\n\n" + gin.config_str()


def write_run_config(root_dir: str, gin_files: Sequence[str], gin_bindings: Sequence[str]) -> None:
    """Writes `config.gin` and `flags.json` into `root_dir` (atomically)."""
    os.makedirs(root_dir, exist_ok=True)
    fileio.atomic_write_text(
        os.path.join(root_dir, "config.gin"), config_text(gin_files, gin_bindings)
    )
    values = {
        name: flags.FLAGS[name].value
        for name in flags.FLAGS
        if flags.FLAGS[name].present or name in ("root_dir", "gin_file", "gin_bindings")
    }
    fileio.atomic_write_json(os.path.join(root_dir, "flags.json"), values)


def train_run(
    run_dir: str, gin_files: Sequence[str], gin_bindings: Sequence[str], strategy
) -> None:
    """Trains one run in-process as `cfgrl-train` would: fresh gin state, the run's config files,
    `experiment.train`, the operative config."""
    gin.clear_config()
    parse_gin(gin_files, gin_bindings)
    write_run_config(run_dir, gin_files, gin_bindings)
    from cfgrl_tf import experiment  # noqa: PLC0415 - imports TensorFlow; after gin is set.

    experiment.train(run_dir, strategy)
    write_operative_config(run_dir)


def write_operative_config(root_dir: str) -> None:
    """Writes gin's operative config (every parameter actually used) into `root_dir`."""
    fileio.atomic_write_text(
        os.path.join(root_dir, "operative_config.gin"), gin.operative_config_str()
    )


def read_flags_json(root_dir: str) -> dict:
    """Reads the `flags.json` a run wrote, or raises `UserError` naming it."""
    path = os.path.join(root_dir, "flags.json")
    if not os.path.exists(path):
        raise errors.UserError(
            f"{path} not found: is {root_dir!r} the root dir of a cfgrl-train run?"
        )
    with open(path) as f:
        return json.load(f)


def no_positional_args(argv: Sequence[str]) -> None:
    """Every binary takes flags only; a stray word is most likely a flag missing its `--`."""
    if len(argv) > 1:
        raise errors.UserError(
            f"unexpected arguments {' '.join(argv[1:])!r}: every option is a --flag (see --help)"
        )


def one_line(error: BaseException) -> str:
    """An error's message on one line, without the call context gin appends to it."""
    lines = [line.strip() for line in str(error).splitlines()]
    return " ".join(
        line for line in lines if line and not line.startswith("In call to configurable")
    )


def user_errors_exit(main: Callable[..., None]) -> Callable[..., None]:
    """Wraps an absl main so that a user mistake prints one line to stderr and exits with status 2.

    A user mistake is a `UserError` (gin re-raises it through a proxy subclass with call-context
    lines appended, which `one_line` drops) or gin's RuntimeError for a missing gin.REQUIRED.
    """

    @functools.wraps(main)
    def wrapped(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except errors.UserError as e:
            print(f"error: {one_line(e)}", file=sys.stderr)
            sys.exit(2)
        except RuntimeError as e:
            if "Required bindings" not in str(e):
                raise
            print(
                f"error: {one_line(e)} (bind them in a gin file or --gin_bindings)", file=sys.stderr
            )
            sys.exit(2)

    return wrapped


def quiet_tensorflow() -> None:
    """Hides TensorFlow's C++ INFO and WARNING logs (set before TF is imported).

    TF 2.21 still prints a few lines at start-up (oneDNN, CUDA probes) before its logging reads
    this setting; they are harmless. TF's Python INFO lines (e.g. checkpoint sharding timings)
    are hidden too; cfgrl_tf's own progress lines are not.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
