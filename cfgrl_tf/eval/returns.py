"""What a return-scored suite reports: the mean return per knob value, its spread, a plot.

Tasks without a success flag (DeepMind Control, Gymnasium MuJoCo) score an episode by its
return. `summarize` turns their `EpisodeResult`s into one row per knob value (mean, standard
error, min, max, length), `format_table` prints them, `episode_rows` gives the per-episode CSV and
`plot_return` draws the return against the knob. Given a task's reference scores (D4RL's, or a
Minari dataset's), rows and episodes also get the normalised score (`normalized_score`); without
them the score columns are absent, never zero.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from cfgrl_tf import plotting
from cfgrl_tf.envs import episodes
from cfgrl_tf.envs.episodes import EpisodeResult
from cfgrl_tf.eval import report as report_lib
from cfgrl_tf.sweep import Knob

RETURN_FILE = "return.png"

# (ref_min_score, ref_max_score): the returns that score 0 and 100.
RefScores = tuple[float, float]


def normalized_score(episode_return: float, ref_scores: RefScores) -> float:
    """D4RL's normalised score, 100 * (R - ref_min) / (ref_max - ref_min): 0 is the reference
    minimum's return (D4RL's: a random policy), 100 the maximum's (D4RL's: an expert)."""
    ref_min, ref_max = ref_scores
    return 100.0 * (float(episode_return) - ref_min) / (ref_max - ref_min)


def summarize(
    results: Sequence[EpisodeResult], task: str, ref_scores: RefScores | None = None
) -> list[dict[str, Any]]:
    """One row per knob value, in order of first appearance: the mean return, its standard error
    (sample standard deviation / sqrt(episodes); NaN for a single episode), the lowest and
    highest return, with `ref_scores` the normalised score of the mean return and its standard
    error, the episodes and their mean length."""
    by_value: dict[float, list[EpisodeResult]] = {}
    for r in results:
        by_value.setdefault(float(r.sweep_value), []).append(r)
    rows = []
    for value, group in by_value.items():
        returns = np.array([r.episode_return for r in group], np.float64)
        n = len(returns)
        row = {
            "sweep_value": value,
            "task_id": task,
            "return": float(returns.mean()),
            "return_se": float(returns.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
            "return_min": float(returns.min()),
            "return_max": float(returns.max()),
        }
        if ref_scores is not None:
            # The score is affine in the return: the score of the mean is the mean score.
            row["score"] = normalized_score(row["return"], ref_scores)
            row["score_se"] = 100.0 * row["return_se"] / (ref_scores[1] - ref_scores[0])
        row["episodes"] = n
        row["length"] = float(np.mean([r.length for r in group]))
        rows.append(row)
    return rows


def episode_rows(
    results: Sequence[EpisodeResult], task: str, ref_scores: RefScores | None = None
) -> list[dict[str, Any]]:
    """`episodes.episode_rows` with the task's name, and without the success these tasks lack;
    with `ref_scores`, each episode's normalised score."""
    rows = episodes.episode_rows(results)
    for row in rows:
        row["task_id"] = task
        del row["success"]
        if ref_scores is not None:
            row["score"] = normalized_score(row["return"], ref_scores)
    return rows


def format_table(rows: Sequence[dict], param_name: str) -> str:
    """One line per knob value: mean return, its standard error, min, max, the normalised score
    and its standard error (for rows that have one), length, episodes."""
    scored = "score" in rows[0]
    header = [param_name, "return", "se", "min", "max"]
    header += ["score", "score_se"] if scored else []
    header += ["length", "episodes"]
    lines = [
        [
            f"{r['sweep_value']:g}",
            f"{r['return']:.1f}",
            f"{r['return_se']:.1f}",
            f"{r['return_min']:.1f}",
            f"{r['return_max']:.1f}",
            *((f"{r['score']:.1f}", f"{r['score_se']:.1f}") if scored else ()),
            f"{r['length']:.0f}",
            str(r["episodes"]),
        ]
        for r in rows
    ]
    return episodes.format_columns(header, lines)


def plot_return(rows: Sequence[dict], knob: Knob, agent: str, path: str, title: str) -> str:
    """Writes the mean return (+-1 standard error) against the knob; a policy without a knob is
    one dashed line."""
    curve = [(r["sweep_value"], r["return"], r["return_se"]) for r in rows]
    if knob.tag:
        curves, reference = {agent: curve}, None
    else:
        curves, reference = {}, {agent: curve[0][1]}
    return plotting.plot_mean_vs_param(
        curves,
        path,
        title,
        param_name=knob.label,
        ylabel="episode return",
        reference_lines=reference,
    )


def report(
    results: Sequence[EpisodeResult],
    task: str,
    ref_scores: RefScores | None = None,
    *,
    policy_name: str,
    knob: Knob,
    root_dir: str,
    out_dir: str | None,
    step: int,
    episodes: int,
    elapsed: float,
    plot: bool,
    note: str | None = None,
) -> list[dict[str, Any]]:
    """What a return-scored suite writes and prints of an evaluation: `sweep.csv`,
    `episodes.csv`, TensorBoard scalars (`<knob>/return`, and `<knob>/score` with reference
    scores), the table (and `note` under it) and `return.png`. Returns the summary rows."""
    rows = summarize(results, task, ref_scores)
    out = out_dir or report_lib.eval_dir(root_dir)
    report_lib.write_csv(rows, os.path.join(out, "sweep.csv"))
    report_lib.write_csv(episode_rows(results, task, ref_scores), os.path.join(out, "episodes.csv"))
    scalars = {}
    for row in rows:
        prefix = knob.tag_prefix(row["sweep_value"])
        scalars[f"{prefix}/return"] = row["return"]
        if ref_scores is not None:
            scalars[f"{prefix}/score"] = row["score"]
    report_lib.log_scalars(report_lib.eval_dir(root_dir), step, scalars)
    print(
        f"\n{policy_name} on {task} at step {step}: {episodes} episodes per "
        f"{knob.label} ({len(results)} rollouts in {elapsed:.0f}s)",
        flush=True,
    )
    table = format_table(rows, knob.tag or "-")
    if note is None:
        print(table, flush=True)
        print(f"Wrote {os.path.join(out, 'sweep.csv')}", flush=True)
    else:
        print(table, end="", flush=True)
        print(note, flush=True)
        print(f"\nWrote {os.path.join(out, 'sweep.csv')}", flush=True)
    if plot:
        title = f"{policy_name} on {task} (step {step})"
        path = plot_return(rows, knob, policy_name, os.path.join(out, RETURN_FILE), title)
        print(f"Wrote {path}", flush=True)
    return rows
