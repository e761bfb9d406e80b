"""What every binary shares: gin flags and search paths, run-config files, and clean errors.

This package is the only place absl flags are defined.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Sequence

import gin
from absl import flags

from cfgrl_tf import errors, fileio
from cfgrl_tf.gin_config import config_text


def parse_gin(*args, **kwargs) -> None:
    """`configurables.parse_gin`: gin files and bindings with every configurable registered."""
    # Registering the configurables imports TensorFlow: binaries call this after
    # `quiet_tensorflow`, so the import waits until here.
    from cfgrl_tf import configurables  # noqa: PLC0415

    configurables.parse_gin(*args, **kwargs)


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
    `training.train`, the operative config."""
    gin.clear_config()
    parse_gin(gin_files, gin_bindings)
    train_configured(run_dir, gin_files, gin_bindings, strategy)


def train_configured(
    run_dir: str, gin_files: Sequence[str], gin_bindings: Sequence[str], strategy, is_chief=True
) -> None:
    """Trains the parsed gin configuration in `run_dir`: the life of a run dir around training.

    The chief stores `train.dataset_dir` absolute, holds the dir's lock, refuses another
    configuration's checkpoints, writes the run config and the operative config (not on a
    finished run, which trains nothing), and removes a dir this call created if it fails before
    the first checkpoint. Other workers only train.
    """
    # These import TensorFlow: binaries import them after `quiet_tensorflow`.
    from cfgrl_tf import gin_config, training  # noqa: PLC0415
    from cfgrl_tf import run_dir as run_dir_lib  # noqa: PLC0415
    from cfgrl_tf.learner import CHECKPOINT_DIR  # noqa: PLC0415

    gin_config.absolute_dataset_dir()
    if not is_chief:  # In a multi-worker run only the chief writes the run's files.
        training.train(run_dir, strategy)
        return
    created = not os.path.exists(run_dir)
    try:
        with run_lock(run_dir):
            run_dir_lib.check_same_configuration(run_dir, gin_files, gin_bindings)
            write_run_config(run_dir, gin_files, gin_bindings)
            written = []

            def on_log(step, metrics):
                del step, metrics
                if not written:  # After the first loop every configurable in use was called.
                    write_operative_config(run_dir)
                    written.append(True)

            training.train(run_dir, strategy, on_log=on_log)
            if written:  # A finished run trains nothing: its operative config stays as it was.
                write_operative_config(run_dir)
    except BaseException:
        # A start that fails before its first checkpoint leaves no half-made run dir behind.
        if created and not os.path.isdir(os.path.join(run_dir, CHECKPOINT_DIR)):
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


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


def verbose_requested(argv: Sequence[str] | None = None) -> bool:
    """Whether the command line asks for TensorFlow's and absl's own log lines (`--verbosity`)."""
    argv = sys.argv[1:] if argv is None else argv
    return any(a == "-v" or a.startswith(("--verbosity", "-v=")) for a in argv)


def quiet_tensorflow() -> None:
    """Hides TensorFlow's start-up block and absl INFO lines unless `--verbosity` is given.

    TensorFlow's C++ side prints its start-up lines (oneDNN, CUDA probes, a `cuInit` error on a
    machine without a GPU) before its own log level is read, so they are silenced at the file
    descriptor while TensorFlow loads and enumerates its devices; an import that fails prints
    what it captured. absl INFO lines (a line per shard written, checkpoint timings) are shown
    with `--verbosity=0`; cfgrl_tf's own progress lines always are.
    """
    if verbose_requested():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    from absl import logging as absl_logging  # noqa: PLC0415

    absl_logging.set_verbosity(absl_logging.WARNING)
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf  # noqa: PLC0415

            tf.config.list_physical_devices()  # the CUDA probe, while stderr is silenced
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


LOCK_FILE = ".lock"


@contextlib.contextmanager
def run_lock(root_dir: str):
    """Holds `<root_dir>/.lock` while a run trains; a second trainer on the dir is refused.

    The lock is an advisory `flock` on an open file, so the kernel releases it when the holder
    exits in any way (a `kill -9` included): a killed run never leaves the dir stuck, and the
    rerun resumes from its latest checkpoint. The file names the holder for the refusal message.

    Raises:
      UserError: another process holds the lock.
    """
    os.makedirs(root_dir, exist_ok=True)
    path = os.path.join(root_dir, LOCK_FILE)
    handle = open(path, "a+")  # noqa: SIM115 - held open for the lock's lifetime.
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise errors.UserError(
                f"{root_dir} is in use by a running cfgrl-train ({holder}); wait for it to "
                "finish, stop it, or train in another --root_dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


def run_binary(main: Callable[..., None], doc: str, module_name: str) -> None:
    """`absl.app.run(main)`, with a `--help` that describes the binary and exits 0.

    absl's own `--help` prints only "USAGE: <binary> [flags]" for a console script (its
    `__main__` is the generated wrapper, without the docstring or the flags) and exits 1.

    Args:
      main: the absl main.
      doc: the binary's module docstring: what it does, with example commands.
      module_name: the module whose flags (and `cli.common`'s) are the binary's own.
    """
    if any(arg in ("-h", "--help", "-?", "--helpshort") for arg in sys.argv[1:]):
        flags.FLAGS.mark_as_parsed()
        sections = [doc.strip(), "", "flags:"]
        for name in (module_name, __name__):
            text = flags.FLAGS.module_help(name)
            if text.strip():
                sections.append(text)
        sections.append("\n(--helpfull lists every flag, absl's and TensorFlow's included.)")
        print("\n".join(sections))
        sys.exit(0)
    from absl import app  # noqa: PLC0415 - absl.app installs handlers at import.

    app.run(main)
