"""Evaluation episodes and how they are reported: success rates per sweep value and per task.

Every evaluation suite returns `EpisodeResult`s; `summarize` turns them into the summary rows that
`cfgrl_tf.eval.report.write_csv` writes, `format_table` prints, and `episode_rows` gives the
per-episode CSV.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from cfgrl_tf import errors

_SUMMARY_KEYS = ("sweep_value", "task_id", "success", "success_se", "episodes")


@dataclasses.dataclass(frozen=True)
class EpisodeResult:
    """One finished rollout.

    Attributes:
        task_id: the evaluation task (OGBench's goal-conditioned tasks are 1..5).
        episode: the episode index within the task, 0-based.
        sweep_value: the sweep value (e.g. the guidance weight w) the policy was called with.
        success: the success flag (`info["success"]`) of the last step.
        length: environment steps taken.
        episode_return: sum of the environment's rewards (`return` is a Python keyword).
        path: the agent's x-y position after the reset and every step, [T + 1, 2], for an
            adapter that traces one (mazes); None otherwise.
    """

    task_id: int
    episode: int
    sweep_value: float
    success: bool
    length: int
    episode_return: float
    path: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)


def summarize(results: Sequence[EpisodeResult]) -> list[dict[str, Any]]:
    """Success rate per sweep value, over all tasks ("overall") and per task.

    Args:
        results: as returned by an evaluation (e.g. `ogbench_goal.evaluate_lockstep`).

    Returns:
        Rows with keys `sweep_value, task_id, success, success_se, episodes, return` (the mean
        episode return): for each sweep
        value (in order of first appearance) its "overall" row, then one row per task (ascending).
        `success` is the mean over episodes, `success_se` its standard error (sample standard
        deviation / sqrt(episodes); NaN for a single episode).

    Raises:
        UserError: no results.
    """
    if not results:
        raise errors.UserError("no episode results to summarize")
    by_value: dict[float, list[EpisodeResult]] = {}
    for r in results:
        by_value.setdefault(float(r.sweep_value), []).append(r)
    rows = []
    for value, group in by_value.items():
        rows.append(_summary_row(value, "overall", group))
        for task in sorted({r.task_id for r in group}):
            rows.append(_summary_row(value, task, [r for r in group if r.task_id == task]))
    return rows


def episode_rows(results: Sequence[EpisodeResult]) -> list[dict[str, Any]]:
    """One CSV-ready row per episode (`success` as 0/1, `return` for the episode return), for
    `cfgrl_tf.eval.report.write_csv`."""
    return [
        {
            "sweep_value": r.sweep_value,
            "task_id": r.task_id,
            "episode": r.episode,
            "success": int(r.success),
            "length": r.length,
            "return": r.episode_return,
        }
        for r in results
    ]


def format_table(rows: Sequence[dict[str, Any]], param_name: str = "w") -> str:
    """Success rates as a table: one line per sweep value, overall (with its standard error) and
    one column per task.

    Args:
        rows: as returned by `summarize` (or read back with `cfgrl_tf.eval.report.read_csv`).
        param_name: the header of the sweep column.

    Returns:
        The table, ending in a newline.

    Raises:
        UserError: no rows, or a row without the keys `summarize` writes.
    """
    if not rows:
        raise errors.UserError("no summary rows to format")
    for i, row in enumerate(rows):
        missing = [k for k in _SUMMARY_KEYS if k not in row]
        if missing:
            raise errors.UserError(f"summary row {i} lacks {missing}; its keys are {list(row)}")
    values: list[float] = []
    tasks: list[int] = []
    cells: dict[tuple[float, Any], dict[str, Any]] = {}
    for row in rows:
        value = float(row["sweep_value"])
        task = "overall" if str(row["task_id"]) == "overall" else int(row["task_id"])
        if value not in values:
            values.append(value)
        if task != "overall" and task not in tasks:
            tasks.append(task)
        cells[(value, task)] = row
    tasks.sort()
    header = [param_name, "overall", "se", *(f"task{t}" for t in tasks), "episodes"]
    lines = []
    for value in values:
        overall = cells.get((value, "overall"), {})
        line = [
            f"{value:g}",
            _fmt(overall.get("success")),
            _fmt(overall.get("success_se")),
            *(_fmt(cells.get((value, t), {}).get("success")) for t in tasks),
            str(overall.get("episodes", "-")),
        ]
        lines.append(line)
    return format_columns(header, lines)


def format_columns(header: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    """Right-aligned text columns: the header, a dashed rule, one line per row; ends in a
    newline."""
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out.extend("  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in lines)
    return "\n".join(out) + "\n"


def _summary_row(value: float, task: Any, group: list[EpisodeResult]) -> dict[str, Any]:
    outcomes = np.array([float(r.success) for r in group])
    n = len(outcomes)
    se = float(outcomes.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return {
        "sweep_value": value,
        "task_id": task,
        "success": float(outcomes.mean()),
        "success_se": se,
        "episodes": n,
        "return": float(np.mean([r.episode_return for r in group])),
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    value = float(value)
    return "nan" if math.isnan(value) else f"{value:.3f}"
