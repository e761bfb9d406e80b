"""Comparison of finished OGBench single-task runs: CFGRL over w against IQL+AWR over temperatures.

Reads only what the runs wrote (`eval/sweep.csv`), so it can be re-run on old run dirs. For each
dataset: success per agent and knob value (mean over seeds, with the standard deviation across
seeds), the two checks of the paper's offline-RL claim (CFGRL's best w against AWR's best
temperature; CFGRL's best w > 1 against w = 1, paired per seed), and a plot.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from cfgrl_tf import plotting
from cfgrl_tf.errors import UserError
from cfgrl_tf.eval import report
from cfgrl_tf.eval.goal_summary import format_sd, guidance_check, seed_stats, versus_spread

GUIDED, BASELINE = "cfgrl", "iql_awr"
KNOB = {GUIDED: "w", BASELINE: "t"}


def run_success(run_dir: str) -> dict[float, tuple[float, float]]:
    """{knob value: (success, mean return)} from a single-task run's `eval/sweep.csv`."""
    rows = report.read_csv(os.path.join(report.eval_dir(run_dir), "sweep.csv"))
    if not rows or "return" not in rows[0]:
        raise UserError(f"{run_dir}/eval/sweep.csv is not a single-task evaluation")
    return {float(r["sweep_value"]): (float(r["success"]), float(r["return"])) for r in rows}


def aggregate(runs: Mapping[tuple[str, str, int], str]) -> dict:
    """{dataset: {agent: {value: [(success, return) per seed]}}}."""
    table: dict = {}
    for (dataset, agent, _seed), run_dir in sorted(runs.items()):
        for value, result in run_success(run_dir).items():
            table.setdefault(dataset, {}).setdefault(agent, {}).setdefault(value, []).append(result)
    return table


def read_summary(path: str) -> dict:
    """The per-seed results of an earlier one-seed summary (`<prefix>_summary.csv`), in the form
    `aggregate` returns, so that runs whose folders are gone still count as a seed.

    Raises:
      UserError: a missing file, or a row of several seeds (its per-seed returns are not kept).
    """
    if not os.path.isfile(path):
        raise UserError(f"summary {path} does not exist")
    table: dict = {}
    for i, row in enumerate(report.read_csv(path)):
        if int(row["seeds"]) != 1:
            raise UserError(
                f"{path} row {i + 2} ({row['dataset']}, {row['agent']}) holds {row['seeds']} "
                "seeds; only a one-seed summary keeps each seed's return"
            )
        result = (float(row["success_mean"]), float(row["return_mean"]))
        agents = table.setdefault(row["dataset"], {})
        agents.setdefault(row["agent"], {}).setdefault(float(row["value"]), []).append(result)
    return table


def merge(first: dict, second: dict) -> dict:
    """Two `aggregate` tables as one, `first`'s seeds before `second`'s at every knob value.

    Raises:
      UserError: an agent whose knob values differ between the two.
    """
    out: dict = {}
    for table in (first, second):
        for dataset, agents in table.items():
            for agent, sweep in agents.items():
                mine = out.setdefault(dataset, {}).setdefault(agent, {})
                if mine and set(mine) != set(sweep):
                    raise UserError(
                        f"{dataset} {agent}: knob values {sorted(mine)} and {sorted(sweep)} "
                        "differ; the runs are not the same experiment"
                    )
                for value, results in sweep.items():
                    mine.setdefault(value, []).extend(results)
    return out


def _best(sweep: dict, keep=lambda value: True) -> tuple[float, float, float] | None:
    means = {v: seed_stats([s for s, _ in r]) for v, r in sweep.items() if keep(v)}
    if not means:
        return None
    value = max(means, key=lambda v: means[v][0])
    return value, *means[value]


def checks(agents: dict) -> list[str]:
    """The paper's two claims on one dataset, each with its margin against the seed spread."""
    out = []
    if GUIDED in agents and BASELINE in agents:
        w, cf, cf_sd = _best(agents[GUIDED])
        t, awr, awr_sd = _best(agents[BASELINE])
        out.append(
            f"best CFGRL (w={w:g}) {cf:.3f} (sd {format_sd(cf_sd)}) vs best AWR (t={t:g}) "
            f"{awr:.3f} (sd {format_sd(awr_sd)}): margin {cf - awr:+.3f}, "
            f"{versus_spread(cf - awr, max(cf_sd, awr_sd))} (best values picked after the fact "
            "for both, as the paper does)"
        )
    successes = {a: {v: [s for s, _ in r] for v, r in sweep.items()} for a, sweep in agents.items()}
    guided = guidance_check(successes, GUIDED, baseline=None)
    if guided:
        out.append(guided + " (same starts at every w)")
    return out


def summarize_task_runs(
    runs: Mapping[tuple[str, str, int], str],
    out_dir: str,
    prefix: str = "ogbench_singletask",
    header: str = "",
    earlier: Mapping | None = None,
) -> str:
    """Writes `<prefix>_summary.txt/.csv` and `<prefix>_<dataset>.png`; returns the text.

    Args:
      runs: {(dataset, agent, seed): run_dir}, every run evaluated; agents are named by their
        gin file (cfgrl, iql_awr).
      out_dir: where the files go.
      prefix: file name prefix.
      header: lines put before the tables (the command that made them).
      earlier: seeds from elsewhere (`read_summary`), counted before the runs' own.
    """
    lines, csv_rows = [], []
    for dataset, agents in merge(earlier or {}, aggregate(runs)).items():
        lines.append(
            f"{dataset}: success (and mean return) per knob value, mean over seeds (sd across "
            "seeds); CFGRL's knob is w, IQL+AWR's the temperature t"
        )
        for agent, sweep in agents.items():
            knob = KNOB.get(agent, "value")
            seeds = len(next(iter(sweep.values())))
            cells = []
            for value, results in sweep.items():
                success, sd = seed_stats([s for s, _ in results])
                ret, _ = seed_stats([r for _, r in results])
                cells.append(f"{knob}={value:g}: {success:.3f} ({format_sd(sd)}) R {ret:.0f}")
                csv_rows.append(
                    {
                        "dataset": dataset,
                        "agent": agent,
                        "knob": knob,
                        "value": value,
                        "success_mean": success,
                        "success_sd": sd,
                        "return_mean": ret,
                        "seeds": len(results),
                        "per_seed": " ".join(f"{s:.3f}" for s, _ in results),
                    }
                )
            lines.append(f"  {agent:>8} ({seeds} seeds)  " + "   ".join(cells))
        lines.extend("check: " + c for c in checks(agents))
        if GUIDED in agents:
            curve = [(w, *seed_stats([s for s, _ in r])) for w, r in agents[GUIDED].items()]
            curve = [(w, m, 0.0 if math.isnan(s) else s) for w, m, s in curve]  # 1 seed: no band
            references = {}
            best = _best(agents.get(BASELINE, {}))
            if best:
                references[f"IQL+AWR, best t={best[0]:g}"] = best[1]
            path = plotting.plot_success_vs_param(
                {"CFGRL": curve},
                os.path.join(out_dir, f"{prefix}_{dataset}.png"),
                f"{dataset}: success vs w (band: sd across seeds)",
                reference_lines=references,
            )
            lines.append(f"plot: {path}")
        lines.append("")
    text = header + "\n".join(lines)
    report.write_summary(out_dir, prefix, text, csv_rows)
    return text
