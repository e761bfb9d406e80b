"""The learning curve of a run's periodic evaluations, and model selection over it.

`train(eval_interval=N)` evaluates the policy every N steps with the dataset's suite. Each
evaluation's rows (its `sweep.csv` rows) are added to `eval/curve.csv` under a `step` column, and
its files go to `eval/steps/<step>/`: `eval/` itself keeps the final evaluation, the one run
comparisons read. At the end of training `select` ranks the evaluations by the suite's score
(`Suite.score_metric`, per knob value) and reports

  last     the last evaluation;
  best     the best evaluation over training, per knob value, with its step. This is online
           model selection: it picks the step by the evaluation score itself, so it is optimistic
           (an upper estimate of what a run would deliver without evaluating as it trains);
  offline  the evaluation picked without looking at scores, from a training metric: Diffusion-QL's
           offline selection takes the evaluation whose BC loss (logged during training at or
           before its step) ranks `top_k` among the evaluations, 0 being the lowest.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from cfgrl_tf import errors, fileio
from cfgrl_tf.eval import report

CURVE_FILE = "curve.csv"
SELECTION_FILE = "selection.json"
SELECTION_TABLE = "selection.txt"
STEPS_DIR = "steps"
BEST_RULE = (
    "best (online model selection: picks the step by the evaluation score itself, optimistic)"
)


def step_dir(root_dir: str, step: int) -> str:
    """Where the files of the periodic evaluation at `step` go."""
    return os.path.join(report.eval_dir(root_dir), STEPS_DIR, str(step))


def curve_path(root_dir: str) -> str:
    return os.path.join(report.eval_dir(root_dir), CURVE_FILE)


def read_curve(root_dir: str) -> list[dict[str, Any]]:
    """The rows of `eval/curve.csv`, in step order ([] before the first evaluation)."""
    path = curve_path(root_dir)
    return report.read_csv(path) if os.path.isfile(path) else []


def record(root_dir: str, step: int, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Adds one evaluation's rows to `eval/curve.csv` at `step` and returns the whole curve.

    Rows already at `step` are replaced: a resumed run evaluates again a step it had evaluated
    after its last checkpoint, with the same weights (training is a function of seed and step).
    """
    kept = [row for row in read_curve(root_dir) if row["step"] != step]
    # The sort is stable: the rows of one step keep the suite's order.
    curve = sorted(kept + [{"step": step, **row} for row in rows], key=lambda row: row["step"])
    report.write_csv(curve, curve_path(root_dir))
    return curve


def check_suite(suite) -> None:
    """Raises UserError unless `suite` names the columns model selection reads."""
    if not suite.score_metric or not suite.knob_column:
        raise errors.UserError(
            f"{type(suite).__name__} sets no score_metric and knob_column, which periodic "
            "evaluation (train.eval_interval) ranks its rows by; set them on the suite class, "
            "or train with train.eval_interval = 0"
        )


def logged_before(
    logged: Mapping[int, Mapping[str, float]], metric: str, step: int
) -> tuple[int, float] | None:
    """(log step, value) of `metric` at the last training log at or before `step`, or None."""
    steps = [s for s, metrics in logged.items() if s <= step and metric in metrics]
    if not steps:
        return None
    at = max(steps)
    return at, float(logged[at][metric])


def select(
    rows: Sequence[Mapping[str, Any]],
    *,
    score_metric: str,
    knob_column: str,
    logged: Mapping[int, Mapping[str, float]] | None = None,
    metric: str | None = None,
    top_k: int = 1,
) -> dict[str, Any]:
    """Last, best and offline-selected evaluations of a learning curve.

    Args:
      rows: the curve's scoring rows (`Suite.score_rows` of `eval/curve.csv`): a `step`, the
        knob value and the score in each, one row per (step, knob value).
      score_metric: the score column, higher is better.
      knob_column: the knob value column.
      logged: the training log, {step: {metric: value}}, for the offline selection.
      metric: the training metric the offline selection ranks by, lower is better (None: none).
      top_k: the rank of the evaluation the offline selection takes (0: the lowest metric;
        past the last evaluation, the last).

    Returns:
      {"score_metric", "knob_column", "steps", "last", "best", "offline"}: `last` and `offline`
      name a step and list {knob value, score} per knob value; `best` lists {knob value, step,
      score}; `offline` is None when no evaluation has `metric` logged at or before it.

    Raises:
      UserError: no rows, or a negative `top_k`.
    """
    if not rows:
        raise errors.UserError("no evaluations to select from")
    if top_k < 0:
        raise errors.UserError(f"top_k={top_k} must be >= 0 (0 takes the lowest {metric})")
    by_step: dict[int, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_step.setdefault(int(row["step"]), []).append(row)
    steps = sorted(by_step)

    def scores(step: int) -> list[dict[str, Any]]:
        return [
            {knob_column: row[knob_column], score_metric: row[score_metric]}
            for row in by_step[step]
        ]

    best = []
    for value in dict.fromkeys(row[knob_column] for row in rows):
        # Rows are in step order and best_row keeps the first of equal scores: the earliest.
        row = report.best_row([r for r in rows if r[knob_column] == value], score_metric)
        best.append({knob_column: value, "step": int(row["step"]), score_metric: row[score_metric]})
    selection = {
        "score_metric": score_metric,
        "knob_column": knob_column,
        "steps": steps,
        "last": {"step": steps[-1], "scores": scores(steps[-1])},
        "best": {"rule": BEST_RULE, "scores": best},
        "offline": None,
    }
    ranked = []
    for step in steps:
        found = logged_before(logged or {}, metric, step) if metric else None
        if found is not None and math.isfinite(found[1]):
            ranked.append((found[1], step, found[0]))
    if ranked:
        # The rank-top_k evaluation, as Diffusion-QL means it (`top_k` 1 is the second lowest
        # loss). Its main.py writes `np.argsort(bc_loss) == top_k` as a mask over evaluations,
        # which marks the evaluation whose index is the rank of evaluation `top_k` instead.
        ranked.sort()
        value, step, log_step = ranked[min(top_k, len(ranked) - 1)]
        selection["offline"] = {
            "rule": (
                f"offline model selection: the evaluation whose {metric} (the training log at "
                f"or before its step) ranks {top_k} among the evaluations, 0 = lowest"
            ),
            "metric": metric,
            "top_k": top_k,
            "step": step,
            "metric_value": value,
            "metric_step": log_step,
            "evaluations_ranked": len(ranked),
            "scores": scores(step),
        }
    return selection


def format_selection(selection: Mapping[str, Any], knob_label: str) -> str:
    """The selection as a short table: one line per knob value, last, best and offline."""
    score, knob = selection["score_metric"], selection["knob_column"]
    steps = selection["steps"]
    last, offline = selection["last"], selection["offline"]
    lines = [
        f"Model selection over {len(steps)} evaluations (steps {steps[0]}..{steps[-1]}), "
        f"{score} per {knob_label}:",
        f"  last: the evaluation at step {last['step']}",
        f"  {selection['best']['rule']}",
    ]
    header = [knob_label, "last", "best", "best_step"]
    if offline is None:
        lines.append("  offline: no training metric to rank the evaluations by")
    else:
        lines.append(
            f"  offline: step {offline['step']}, whose {offline['metric']} "
            f"({offline['metric_value']:.4g}) ranks {offline['top_k']} of "
            f"{offline['evaluations_ranked']} (0 = lowest)"
        )
        header.append("offline")
    by_value = {
        name: {entry[knob]: entry for entry in part["scores"]}
        for name, part in (("last", last), ("best", selection["best"]), ("offline", offline))
        if part is not None
    }
    table = []
    for value, best in by_value["best"].items():
        cells = [f"{value:g}", _cell(by_value["last"].get(value), score)]
        cells += [f"{best[score]:.3f}", str(best["step"])]
        if offline is not None:
            cells.append(_cell(by_value["offline"].get(value), score))
        table.append(cells)
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(header)]
    lines.append("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    lines.extend("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in table)
    return "\n".join(lines) + "\n"


def _cell(entry: Mapping[str, Any] | None, score: str) -> str:
    return "-" if entry is None else f"{entry[score]:.3f}"


def write_selection(root_dir: str, selection: Mapping[str, Any], knob_label: str) -> str:
    """Writes `eval/selection.json` and `eval/selection.txt` (the table); returns the table."""
    text = format_selection(selection, knob_label)
    out = report.eval_dir(root_dir)
    fileio.atomic_write_json(os.path.join(out, SELECTION_FILE), selection)
    fileio.atomic_write_text(os.path.join(out, SELECTION_TABLE), text)
    return text
