"""Comparison of finished goal-conditioned OGBench runs across agents and seeds.

Reads only what the runs wrote (`eval/sweep.csv`, the overall success per w), so it can be re-run
on old run dirs. For each environment: one table of success per agent and w (mean over seeds,
with the standard deviation across seeds), the CFGRL checks of the paper's claim, and a plot of
success against w.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

import numpy as np

from cfgrl_tf import plotting
from cfgrl_tf.errors import UserError
from cfgrl_tf.eval import report

# Which agent's guided sweep is checked against which unguided baseline (flat, hierarchical).
CHECKS = (("cfgrl", "gcfbc"), ("hcfgrl", "hgcfbc"))


def overall_success(run_dir: str) -> dict[float, float]:
    """{w: overall success} from a run's `eval/sweep.csv`."""
    rows = report.read_csv(os.path.join(report.eval_dir(run_dir), "sweep.csv"))
    out = {float(r["sweep_value"]): float(r["success"]) for r in rows if r["task_id"] == "overall"}
    if not out:
        raise UserError(f"{run_dir}/eval/sweep.csv has no 'overall' rows")
    return out


def aggregate(runs: Mapping[tuple[str, str, int], str]) -> dict:
    """{env: {agent: {w: [success per seed]}}} from {(env, agent, seed): run_dir}."""
    table: dict = {}
    for (env, agent, _seed), run_dir in sorted(runs.items()):
        for w, success in overall_success(run_dir).items():
            table.setdefault(env, {}).setdefault(agent, {}).setdefault(w, []).append(success)
    return table


def seed_stats(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else float("nan")


def format_sd(value: float, digits: int = 3) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def versus_spread(margin: float, spread: float, digits: int = 3) -> str:
    if math.isnan(spread):
        return "(one seed: no spread to compare with)"
    return f"{'above' if margin > spread else 'NOT above'} the seed spread {spread:.{digits}f}"


def guidance_check(agents: dict, guided: str, baseline: str | None, digits: int = 3) -> str | None:
    """`guided`'s best w > 1 against its w = 1, paired per seed (and against `baseline`), the
    figures printed with `digits` decimals (3 for a success rate, 1 for a return)."""
    if guided not in agents or 1.0 not in agents[guided]:
        return None
    sweep = agents[guided]
    at_one, at_one_sd = seed_stats(sweep[1.0])
    above_one = {w: seed_stats(v) for w, v in sweep.items() if w > 1.0}
    if not above_one:
        return None
    best_w = max(above_one, key=lambda w: above_one[w][0])
    best, best_sd = above_one[best_w]
    d = digits

    def against(margin: float, spread: float) -> str:
        return f"margin {margin:+.{d}f}, {versus_spread(margin, spread, d)}"

    # The same episodes (start, goal) are rolled out at every w, so the per-seed differences
    # are paired.
    paired = [b - a for a, b in zip(sweep[1.0], sweep[best_w], strict=True)]
    parts = [
        f"{guided}: best w>1 is w={best_w:g} with {best:.{d}f} (sd {format_sd(best_sd, d)}) vs "
        f"w=1 {at_one:.{d}f} (sd {format_sd(at_one_sd, d)}): "
        f"{against(best - at_one, max(best_sd, at_one_sd))} "
        f"(per seed: {', '.join(f'{x:+.{d}f}' for x in paired)})"
    ]
    if baseline in agents:
        base, base_sd = seed_stats(next(iter(agents[baseline].values())))
        parts.append(
            f"vs {baseline} {base:.{d}f} (sd {format_sd(base_sd, d)}): "
            f"{against(best - base, max(best_sd, base_sd))}"
        )
    return "; ".join(parts)


def summarize_goal_runs(
    runs: Mapping[tuple[str, str, int], str],
    out_dir: str,
    prefix: str = "ogbench",
    header: str = "",
) -> str:
    """Writes `<prefix>_summary.txt/.csv` and `<prefix>_<env>.png` to `out_dir`; returns the text.

    Args:
      runs: {(env or dataset name, agent, seed): run_dir}, every run evaluated; agents are named
        by their gin file (gcbc, gcfbc, cfgrl, hgcfbc, hcfgrl) for the checks.
      out_dir: where the files go.
      prefix: file name prefix.
      header: lines put before the tables (the command that made them).
    """
    table = aggregate(runs)
    lines, csv_rows = [], []
    for env, agents in table.items():
        weights = sorted({w for sweep in agents.values() for w in sweep if len(sweep) > 1})
        seeds = sorted({len(v) for sweep in agents.values() for v in sweep.values()})
        lines.append(
            f"{env}: overall success (5 tasks), mean over {'/'.join(map(str, seeds))} seed(s) "
            "(column 'seeds'), sd = standard deviation across seeds"
        )
        lines.append("(agents without guidance have one value, shown under 'no w')")
        columns = ["agent", "seeds", "no w", *(f"w={w:g}" for w in weights)]
        body = []
        for agent, sweep in agents.items():
            cells = ["-"] * (len(weights) + 1)
            for w, values in sweep.items():
                mean, sd = seed_stats(values)
                cell = f"{mean:.3f}" + ("" if math.isnan(sd) else f" ({sd:.3f})")
                index = 0 if len(sweep) == 1 else weights.index(w) + 1
                cells[index] = cell
                csv_rows.append(
                    {
                        "env": env,
                        "agent": agent,
                        "guidance_weight": w if len(sweep) > 1 else float("nan"),
                        "success_mean": mean,
                        "success_sd": sd,
                        "seeds": len(values),
                        "per_seed": " ".join(f"{v:.3f}" for v in values),
                    }
                )
            body.append([agent, str(len(next(iter(sweep.values())))), *cells])
        widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(columns)]
        lines.append("  ".join(h.rjust(w) for h, w in zip(columns, widths, strict=True)))
        lines.append("  ".join("-" * w for w in widths))
        lines.extend(
            "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in body
        )
        for guided, baseline in CHECKS:
            check = guidance_check(agents, guided, baseline)
            if check:
                lines.append("check: " + check)
        curves, references = {}, {}
        for agent, sweep in agents.items():
            if len(sweep) > 1:
                curves[agent] = [(w, *seed_stats(v)) for w, v in sweep.items()]
                # Plot the spread across seeds as the band.
                curves[agent] = [(w, m, 0.0 if math.isnan(s) else s) for w, m, s in curves[agent]]
            else:
                references[agent] = seed_stats(next(iter(sweep.values())))[0]
        path = plotting.plot_success_vs_param(
            curves,
            os.path.join(out_dir, f"{prefix}_{env}.png"),
            f"{env}: success vs w (band: sd across seeds)",
            reference_lines=references,
        )
        lines.append(f"plot: {path}")
        lines.append("")
    text = header + "\n".join(lines)
    report.write_summary(out_dir, prefix, text, csv_rows)
    return text
