"""Comparison of finished single-task runs: CFGRL over w against IQL+AWR and every other method.

Reads only what the runs wrote (`eval/sweep.csv`), so it can be re-run on old run dirs. A run is
scored by its success rate (OGBench) or by its mean return (DeepMind Control, Gymnasium: tasks
without a success flag). For each dataset: the score per agent and knob value (mean over seeds,
with the standard deviation across seeds), each method at its best knob value side by side, the
two checks of the paper's offline-RL claim (CFGRL's best w against AWR's best temperature;
CFGRL's best w > 1 against w = 1, paired per seed), and a plot of CFGRL's score against w with
every other method's best as a dashed line.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping

from cfgrl_tf import plotting
from cfgrl_tf.errors import UserError
from cfgrl_tf.eval import report
from cfgrl_tf.eval.goal_summary import format_sd, guidance_check, seed_stats, versus_spread

GUIDED, BASELINE = "cfgrl", "iql_awr"
# The knob symbol of each agent (named by its gin file), as the suites tag it: CFGRL's guidance
# weight, AWR's temperature, the number of candidates the Diffusion-QL family's critic picks
# among; Diffusion-BC has none.
KNOB = {
    GUIDED: "w",
    BASELINE: "t",
    "diffusion_ql": "n",
    "qgrad": "n",
    "edp": "n",
    "diffusion_bc": "-",
}
METRICS = ("success", "return")
# Decimals a score is printed with.
DIGITS = {"success": 3, "return": 1}


def run_success(run_dir: str, metric: str = "success") -> dict[float, tuple[float, float]]:
    """{knob value: (score, mean return)} from a single-task run's `eval/sweep.csv`; the score
    is the success rate (`metric='success'`) or the mean return itself (`'return'`).

    Raises:
      UserError: an unknown metric, or a sweep.csv without the metric's columns.
    """
    if metric not in METRICS:
        raise UserError(f"unknown metric {metric!r}; expected one of {METRICS}")
    rows = report.read_csv(os.path.join(report.eval_dir(run_dir), "sweep.csv"))
    if not rows or "return" not in rows[0] or metric not in rows[0]:
        raise UserError(
            f"{run_dir}/eval/sweep.csv is not a single-task evaluation with a {metric!r} column"
        )
    return {float(r["sweep_value"]): (float(r[metric]), float(r["return"])) for r in rows}


def aggregate(runs: Mapping[tuple[str, str, int], str], metric: str = "success") -> dict:
    """{dataset: {agent: {value: [(score, return) per seed]}}}."""
    table: dict = {}
    for (dataset, agent, _seed), run_dir in sorted(runs.items()):
        for value, result in run_success(run_dir, metric).items():
            table.setdefault(dataset, {}).setdefault(agent, {}).setdefault(value, []).append(result)
    return table


def read_summary(path: str) -> dict:
    """The per-seed results of an earlier one-seed summary (`<prefix>_summary.csv`), in the form
    `aggregate` returns, so that runs whose folders are gone still count as a seed. A summary
    scored by success has `success_mean`; one scored by return has only `return_mean`.

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
        score = row["success_mean"] if "success_mean" in row else row["return_mean"]
        result = (float(score), float(row["return_mean"]))
        agents = table.setdefault(row["dataset"], {})
        agents.setdefault(row["agent"], {}).setdefault(float(row["value"]), []).append(result)
    return table


def read_summaries(paths: Iterable[str]) -> dict:
    """`read_summary` of every path, merged in order (each file one more seed)."""
    out: dict = {}
    for path in paths:
        out = merge(out, read_summary(path))
    return out


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


def _setting(agent: str, value: float) -> str:
    knob = KNOB.get(agent, "value")
    return agent if knob == "-" else f"{agent} ({knob}={value:g})"


def checks(agents: dict, metric: str = "success") -> list[str]:
    """The paper's two claims on one dataset, each with its margin against the seed spread."""
    d = DIGITS[metric]
    out = []
    if GUIDED in agents and BASELINE in agents:
        w, cf, cf_sd = _best(agents[GUIDED])
        t, awr, awr_sd = _best(agents[BASELINE])
        out.append(
            f"best CFGRL (w={w:g}) {cf:.{d}f} (sd {format_sd(cf_sd, d)}) vs best AWR (t={t:g}) "
            f"{awr:.{d}f} (sd {format_sd(awr_sd, d)}): margin {cf - awr:+.{d}f}, "
            f"{versus_spread(cf - awr, max(cf_sd, awr_sd), d)} (best values picked after the "
            "fact for both, as the paper does)"
        )
    scores = {a: {v: [s for s, _ in r] for v, r in sweep.items()} for a, sweep in agents.items()}
    guided = guidance_check(scores, GUIDED, baseline=None, digits=d)
    if guided:
        out.append(guided + " (same starts at every w)")
    return out


def ranking(agents: dict, metric: str = "success") -> list[str]:
    """Every method at its best knob value, best first (the knob picked after the fact)."""
    d = DIGITS[metric]
    best = {agent: _best(sweep) for agent, sweep in agents.items()}
    order = sorted(best, key=lambda a: -best[a][1])
    width = max(len(_setting(a, best[a][0])) for a in order)
    return [
        f"  {_setting(a, best[a][0]):<{width}}  {best[a][1]:.{d}f} (sd {format_sd(best[a][2], d)})"
        for a in order
    ]


def summarize_task_runs(
    runs: Mapping[tuple[str, str, int], str],
    out_dir: str,
    prefix: str = "ogbench_singletask",
    header: str = "",
    earlier: Mapping | None = None,
    metric: str = "success",
) -> str:
    """Writes `<prefix>_summary.txt/.csv` and `<prefix>_<dataset>.png`; returns the text.

    Args:
      runs: {(dataset, agent, seed): run_dir}, every run evaluated; agents are named by their
        gin file (cfgrl, iql_awr, diffusion_ql, ...).
      out_dir: where the files go.
      prefix: file name prefix.
      header: lines put before the tables (the command that made them).
      earlier: seeds from elsewhere (`read_summary`, `read_summaries`), counted before the
        runs' own.
      metric: 'success' (OGBench) or 'return' (tasks scored by their return).
    """
    d = DIGITS[metric]
    lines, csv_rows = [], []
    for dataset, agents in merge(earlier or {}, aggregate(runs, metric)).items():
        lines.append(
            f"{dataset}: {'success (and mean return)' if metric == 'success' else 'mean return'}"
            " per knob value, mean over seeds (sd across seeds); CFGRL's knob is w, IQL+AWR's "
            "the temperature t, the Diffusion-QL family's the candidates n"
        )
        for agent, sweep in agents.items():
            knob = KNOB.get(agent, "value")
            seeds = len(next(iter(sweep.values())))
            cells = []
            for value, results in sweep.items():
                score, sd = seed_stats([s for s, _ in results])
                ret, ret_sd = seed_stats([r for _, r in results])
                cell = f"{knob}={value:g}: {score:.{d}f} ({format_sd(sd, d)})"
                cells.append(cell + (f" R {ret:.0f}" if metric == "success" else ""))
                row = {"dataset": dataset, "agent": agent, "knob": knob, "value": value}
                if metric == "success":
                    row |= {"success_mean": score, "success_sd": sd}
                row |= {"return_mean": ret, "return_sd": ret_sd, "seeds": len(results)}
                row["per_seed"] = " ".join(f"{s:.{d}f}" for s, _ in results)
                csv_rows.append(row)
            lines.append(f"  {agent:>12} ({seeds} seeds)  " + "   ".join(cells))
        lines.append("each method at its best knob value (picked after the fact), best first:")
        lines.extend(ranking(agents, metric))
        lines.extend("check: " + c for c in checks(agents, metric))
        if GUIDED in agents:
            curve = [(w, *seed_stats([s for s, _ in r])) for w, r in agents[GUIDED].items()]
            curve = [(w, m, 0.0 if math.isnan(s) else s) for w, m, s in curve]  # 1 seed: no band
            references = {}
            for agent, sweep in agents.items():
                if agent != GUIDED:
                    value, mean, _ = _best(sweep)
                    references[_setting(agent, value) + ", best"] = mean
            path = plotting.plot_mean_vs_param(
                {"CFGRL": curve},
                os.path.join(out_dir, f"{prefix}_{dataset}.png"),
                f"{dataset}: {metric} vs w (band: sd across seeds)",
                param_name="guidance weight w",
                ylabel="success rate" if metric == "success" else "episode return",
                ylim=(-0.03, 1.03) if metric == "success" else None,
                reference_lines=references,
            )
            lines.append(f"plot: {path}")
        lines.append("")
    text = header + "\n".join(lines)
    report.write_summary(out_dir, prefix, text, csv_rows)
    return text
