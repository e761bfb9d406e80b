"""Atomic file writes: a reader never sees half a file, and a failed write leaves the old one."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO


@contextlib.contextmanager
def atomic_open(path: str) -> Iterator[BinaryIO]:
    """Yields a binary file that appears at `path` only if the block completes.

    It is a temporary file in the same folder, synced and renamed onto `path` at the end; on any
    error it is removed and `path` is untouched. For large writes that should stream to disk
    rather than be built in memory first.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        # mkstemp creates the file 0600; give it the mode a plain open() would (0666 less umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to `path` through a temporary file in the same folder and a rename."""
    with atomic_open(path) as f:
        f.write(data)


def atomic_write_text(path: str, text: str) -> None:
    """Writes `text` (UTF-8) to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str, obj: Any) -> None:
    """Writes `obj` as indented JSON to `path` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def staged_directory(final_dir: str) -> Iterator[str]:
    """Yields a staging folder beside `final_dir`, renamed to `final_dir` when the block succeeds.

    The caller must have checked that `final_dir` does not exist; if it appears meanwhile the rename
    fails rather than merging into it. On any error the staging folder is removed and nothing is
    left at `final_dir`.
    """
    final_dir = os.path.abspath(final_dir)
    parent = os.path.dirname(final_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(
        prefix=f".{os.path.basename(final_dir)}.", suffix=".partial", dir=parent
    )
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it 0700; a finished folder is shared.
    try:
        yield staging
        os.rename(staging, final_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
