"""Comparison of finished 2-D bandit runs: one table, the issue's checks, and two figures.

Reads only what runs wrote (`eval/sweep.csv`, `eval/samples.npz`) and the datasets, so it can be
re-run on old run dirs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

import numpy as np

from cfgrl_tf import fileio, plotting
from cfgrl_tf.data import bandit
from cfgrl_tf.data.reader import load_dataset
from cfgrl_tf.eval import bandit as bandit_suite
from cfgrl_tf.eval import report

# The bar: at least this fraction of samples near the data at every w <= NEAR_DATA_MAX_W.
NEAR_DATA_FLOOR = 0.95
NEAR_DATA_MAX_W = 3.0


def trend(a: dict, b: dict) -> str:
    """How reward moves from row `a` to row `b`: "rises", "holds" (within 2 standard errors of
    the difference of the two sample means) or "falls"."""
    se = math.sqrt(
        a["reward_std"] ** 2 / a["num_samples"] + b["reward_std"] ** 2 / b["num_samples"]
    )
    if b["reward"] > a["reward"] + 2 * se:
        return "rises"
    return "holds" if b["reward"] >= a["reward"] - 2 * se else "falls"


def _sweep(run_dir: str) -> list[dict]:
    return report.read_csv(os.path.join(report.eval_dir(run_dir), "sweep.csv"))


def _at(rows: list[dict], value: float) -> dict | None:
    return next((r for r in rows if abs(r["value"] - value) < 1e-9), None)


def summarize_bandit_runs(
    runs: Mapping[tuple[str, str], str], data_dirs: Mapping[str, str], out_dir: str
) -> str:
    """Builds the comparison of CFGRL (over w) and IQL+AWR (over temperatures) per bandit.

    Args:
      runs: {(bandit name, agent name): run dir}; agents "cfgrl" and optionally "iql_awr".
      data_dirs: {bandit name: the dataset its runs trained on}.
      out_dir: where `summary.csv`, `summary.png` and `reward_vs_w.png` go.

    Returns:
      The report printed by the quickstart: a table, the checks, and the files written.
    """
    bandits = list(dict.fromkeys(name for name, _ in runs))
    rows, lines, series, reference, panels = [], [], {}, {}, {}
    columns = ["data", "w=0", "w=1", "w=3", "AWR best"]
    for name in bandits:
        cfgrl_dir, awr_dir = runs.get((name, "cfgrl")), runs.get((name, "iql_awr"))
        if cfgrl_dir is None:
            continue
        cfgrl = _sweep(cfgrl_dir)
        dataset = load_dataset(data_dirs[name])
        data_actions = dataset.arrays["actions"]
        best_possible = float(np.max(bandit.get_bandit(name).expected_reward(data_actions)))
        at = {w: _at(cfgrl, w) for w in (0.0, 1.0, 3.0)}
        if any(row is None for row in at.values()):
            raise ValueError(f"{cfgrl_dir}: the sweep must include w = 0, 1 and 3")
        r = {w: row["reward"] for w, row in at.items()}
        best = report.best_row(cfgrl)
        # Guidance at 0 < w < 1 blends fields that point at different modes, which puts some
        # samples between modes even with exact fields (benchmarks/exact_guidance.py): report
        # it apart.
        in_range = [row for row in cfgrl if row["value"] <= NEAR_DATA_MAX_W]
        blended = [row for row in in_range if 0.0 < row["value"] < 1.0]
        plain = [row for row in in_range if row not in blended]
        near_min = min(row["near_data"] for row in plain)
        near_blend = min((row["near_data"] for row in blended), default=float("nan"))
        row = {
            "bandit": name,
            "reward_w0": r[0.0],
            "reward_w1": r[1.0],
            "reward_w3": r[3.0],
            "best_w": best["value"],
            "best_w_reward": best["reward"],
            "min_near_data_w0_and_1_to_3": near_min,
            "min_near_data_0_lt_w_lt_1": near_blend,
            "trend_0_1": trend(at[0.0], at[1.0]),
            "trend_1_3": trend(at[1.0], at[3.0]),
            "near_data_ok": bool(near_min >= NEAR_DATA_FLOOR),
        }
        series[name] = [(x["value"], x["reward"] / best_possible) for x in cfgrl]
        samples = bandit_suite.load_samples(
            os.path.join(report.eval_dir(cfgrl_dir), bandit_suite.SAMPLES_FILE)
        )
        panels[(name, "data")] = (data_actions, np.zeros((0, 2)))
        for w, col in ((0.0, "w=0"), (1.0, "w=1"), (3.0, "w=3")):
            if w in samples:
                panels[(name, col)] = (data_actions, samples[w])
        if awr_dir is not None:
            awr = _sweep(awr_dir)
            awr_best = report.best_row(awr)
            row.update(
                awr_best_temperature=awr_best["value"],
                awr_best_reward=awr_best["reward"],
                awr_best_near_data=awr_best["near_data"],
                cfgrl_beats_awr=bool(best["reward"] >= awr_best["reward"]),
            )
            reference[name] = awr_best["reward"] / best_possible
            awr_samples = bandit_suite.load_samples(
                os.path.join(report.eval_dir(awr_dir), bandit_suite.SAMPLES_FILE)
            )
            panels[(name, "AWR best")] = (data_actions, awr_samples[awr_best["value"]])
        rows.append(row)

    if not rows:
        return "No CFGRL runs to summarise."
    csv_path = os.path.join(out_dir, "summary.csv")
    fileio.atomic_write_text(csv_path, _csv(rows))
    grid = plotting.plot_summary_grid(
        panels,
        os.path.join(out_dir, "summary.png"),
        row_labels=[r["bandit"] for r in rows],
        col_labels=[c for c in columns if any(k[1] == c for k in panels)],
    )
    curves = plotting.plot_reward_vs_param(
        series,
        os.path.join(out_dir, "reward_vs_w.png"),
        title="CFGRL reward vs guidance weight",
        xlabel="guidance weight w",
        ylabel="mean reward / best reward in the data",
        reference=reference,
        reference_name="IQL+AWR, best temperature",
    )
    lines.append(_table(rows))
    lines.append("")
    lines.append(
        "Checks (rises/holds/falls: beyond, within, or below 2 standard errors of the difference):"
    )
    for row in rows:
        checks = [
            f"reward w=0 -> 1 {row['trend_0_1']}, w=1 -> 3 {row['trend_1_3']}",
            f"near data >= {NEAR_DATA_FLOOR:.0%} at w = 0 and 1 <= w <= 3: "
            + ("yes" if row["near_data_ok"] else "NO")
            + f" (0 < w < 1: {row['min_near_data_0_lt_w_lt_1']:.3f})",
        ]
        if "cfgrl_beats_awr" in row:
            checks.append(f"CFGRL best >= AWR best: {'yes' if row['cfgrl_beats_awr'] else 'NO'}")
        lines.append(f"{row['bandit']:>12}: " + "; ".join(checks))
    lines += ["", f"Wrote {csv_path}", f"Wrote {grid}", f"Wrote {curves}"]
    return "\n".join(lines)


def _table(rows: list[dict]) -> str:
    header = (
        f"{'bandit':>12} {'w=0':>7} {'w=1':>7} {'w=3':>7} {'best w':>7} {'reward':>7} "
        f"{'near':>6} {'near.5':>7} {'AWR t':>6} {'AWR rwd':>8} {'AWR near':>9}"
    )
    out = [
        "CFGRL mean reward by guidance weight vs IQL+AWR at its best temperature",
        "(near: lowest fraction of CFGRL samples near a dataset action over w = 0 and 1 <= w <= 3;",
        " near.5: the same over 0 < w < 1, where guidance blends two fields: see the README)",
        header,
        "-" * len(header),
    ]
    for r in rows:
        awr = (
            f"{r['awr_best_temperature']:>6g} {r['awr_best_reward']:>8.3f} "
            f"{r['awr_best_near_data']:>9.3f}"
            if "awr_best_reward" in r
            else f"{'-':>6} {'-':>8} {'-':>9}"
        )
        out.append(
            f"{r['bandit']:>12} {r['reward_w0']:>7.3f} {r['reward_w1']:>7.3f} "
            f"{r['reward_w3']:>7.3f} "
            f"{r['best_w']:>7g} {r['best_w_reward']:>7.3f} "
            f"{r['min_near_data_w0_and_1_to_3']:>6.3f} "
            f"{r['min_near_data_0_lt_w_lt_1']:>7.3f} {awr}"
        )
    return "\n".join(out)


def _csv(rows: list[dict]) -> str:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    lines = [",".join(keys)]
    for r in rows:
        lines.append(",".join(_cell(r.get(k, "")) for k in keys))
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
