"""What every evaluation suite writes: CSV rows, TensorBoard scalars, and where they go.

A run's evaluation lives under `<root_dir>/eval/`: `sweep.csv` (one row per knob setting, and
per task where a suite has tasks), TensorBoard events, plots, and a suite's own extras.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from cfgrl_tf import errors, fileio

EVAL_DIR = "eval"


def eval_dir(root_dir: str) -> str:
    return os.path.join(root_dir, EVAL_DIR)


def log_scalars(directory: str, step: int, scalars: Mapping[str, float]) -> None:
    """Writes `{tag: value}` to TensorBoard events in `directory` at `step`."""
    writer = tf.summary.create_file_writer(directory)
    with writer.as_default(step=step):
        for tag, value in scalars.items():
            tf.summary.scalar(tag, value)
    writer.flush()


def write_csv(rows: Sequence[Mapping[str, Any]], path: str) -> None:
    """Writes rows to `path` as CSV (header from the first row's keys), atomically.

    Raises:
        UserError: no rows, or rows whose keys differ from the first row's.
    """
    if not rows:
        raise errors.UserError(f"no rows to write to {path}")
    header = list(rows[0].keys())
    for i, row in enumerate(rows):
        if list(row.keys()) != header:
            raise errors.UserError(
                f"row {i} has columns {list(row.keys())}, expected {header} (writing {path})"
            )
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        # Python floats print with repr precision, so read_csv gets exactly the same numbers back.
        writer.writerow([_plain(row[key]) for key in header])
    fileio.atomic_write_text(path, buf.getvalue())


def read_csv(path: str) -> list[dict[str, Any]]:
    """Reads a CSV written by `write_csv`; a column of integers comes back as int, of numbers as
    float, anything else as str.

    Raises:
        UserError: the file does not exist.
    """
    if not os.path.isfile(path):
        raise errors.UserError(f"no evaluation CSV at {path}")
    with open(path, newline="", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    if not records:
        return []
    converters = {key: _column_type([r[key] for r in records]) for key in records[0]}
    return [{key: converters[key](r[key]) for key in r} for r in records]


def best_row(rows: Sequence[Mapping[str, Any]], metric: str = "reward") -> dict[str, Any]:
    """The row with the highest finite `metric` (the first one on ties).

    Raises:
        UserError: no rows, a metric missing from a row, or no row with a finite value.
    """
    if not rows:
        raise errors.UserError(f"no rows to pick the best {metric!r} from")
    best = None
    for i, row in enumerate(rows):
        if metric not in row:
            raise errors.UserError(f"row {i} has no {metric!r}; its keys are {list(row)}")
        value = float(row[metric])
        if math.isfinite(value) and (best is None or value > float(best[metric])):
            best = row
    if best is None:
        raise errors.UserError(f"no row has a finite {metric!r}")
    return dict(best)


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones, so numpy 2 does not print `np.float64(1.5)`."""
    return value.item() if isinstance(value, np.generic) else value


def _column_type(cells: Sequence[str]) -> Callable[[str], Any]:
    for convert in (int, float):
        try:
            for cell in cells:
                convert(cell)
        except ValueError:
            continue
        return convert
    return str


def write_summary(out_dir: str, prefix: str, text: str, rows: list[dict[str, Any]]) -> None:
    """Writes a comparison's `<prefix>_summary.txt` (the text) and `<prefix>_summary.csv`."""
    fileio.atomic_write_text(os.path.join(out_dir, f"{prefix}_summary.txt"), text + "\n")
    write_csv(rows, os.path.join(out_dir, f"{prefix}_summary.csv"))
