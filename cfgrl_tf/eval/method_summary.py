"""Many methods on the 2-D bandits side by side: one table and one picture of samples.

The Diffusion-QL paper's toy figure, for every method at once: a row per bandit, a column for the
data and one per method (CFGRL at its best w, IQL+AWR at its best temperature, Diffusion-QL with
one sample and, as its own column, with softmax(Q) over 50 candidates). The table gives each
method's mean reward, the fraction of its samples at the best mode of the data, and the fraction
near the data. Reads only what the runs wrote (`eval/sweep.csv`, `eval/samples.npz`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import numpy as np

from cfgrl_tf import fileio, plotting
from cfgrl_tf.data import bandit
from cfgrl_tf.data.reader import load_dataset
from cfgrl_tf.eval import bandit as bandit_suite
from cfgrl_tf.eval import bandit_metrics, report

# A bandit whose data has at most this many distinct expected rewards has modes; a continuous
# one (swissroll) has no "best mode" to count.
MAX_MODES = 16

# How each agent's run turns into columns: (column name, how its sweep value is chosen).
# "best" picks the best mean reward over the sweep; a number picks that knob value.
COLUMNS = {
    "diffusion_bc": [("Diffusion-BC", None)],
    "diffusion_ql": [("Diffusion-QL", 1.0), ("Diffusion-QL n=50", 50.0)],
    "qgrad": [("qg", 1.0)],
    "edp": [("EDP", 1.0)],
    "cfgrl": [("CFGRL best w", "best")],
    "iql_awr": [("IQL+AWR best t", "best")],
}


def best_mode_fraction(
    problem: bandit.BanditProblem,
    samples: np.ndarray,
    data_actions: np.ndarray,
    near_data_radius: float,
) -> float:
    """The fraction of samples near the data whose expected reward is the data's best mode's, or
    NaN for a bandit without discrete modes."""
    data_rewards = problem.expected_reward(data_actions)
    if len(np.unique(np.round(data_rewards, 9))) > MAX_MODES:
        return float("nan")
    best = float(np.max(data_rewards))
    near = bandit_metrics.nearest_distance(samples, data_actions) <= near_data_radius
    at_best = problem.expected_reward(samples) >= best - 1e-9
    return float(np.mean(near & at_best))


def _pick(rows: list[dict], choice) -> dict | None:
    if choice is None:
        return rows[0]
    if choice == "best":
        return report.best_row(rows)
    return next((r for r in rows if abs(r["value"] - choice) < 1e-9), None)


def summarize_methods(
    runs: Mapping[tuple[str, str], str],
    data_dirs: Mapping[str, str],
    out_dir: str,
    *,
    near_data_radius: float = 0.1,
    name: str = "methods",
) -> str:
    """Writes `<name>.csv`, `<name>.txt` and `<name>.png` into `out_dir`; returns the report.

    Args:
      runs: {(bandit, agent): run dir}, agents among `COLUMNS`' keys.
      data_dirs: {bandit: its dataset dir}.
      out_dir: where the files go.
      near_data_radius: the radius of "near the data" (the suite's default).
      name: the files' stem.
    """
    bandits = list(dict.fromkeys(b for b, _ in runs))
    columns = [
        col for agent in COLUMNS for col, _ in COLUMNS[agent] if any(a == agent for _, a in runs)
    ]
    rows, panels = [], {}
    for bandit_name in bandits:
        problem = bandit.get_bandit(bandit_name)
        data_actions = load_dataset(data_dirs[bandit_name]).arrays["actions"]
        best_possible = float(np.max(problem.expected_reward(data_actions)))
        panels[(bandit_name, "data")] = (data_actions, np.zeros((0, 2)))
        for agent, choices in COLUMNS.items():
            run_dir = runs.get((bandit_name, agent))
            if run_dir is None:
                continue
            sweep = report.read_csv(os.path.join(report.eval_dir(run_dir), "sweep.csv"))
            samples = bandit_suite.load_samples(
                os.path.join(report.eval_dir(run_dir), bandit_suite.SAMPLES_FILE)
            )
            for column, choice in choices:
                row = _pick(sweep, choice)
                if row is None:
                    continue
                points = samples[row["value"]]
                panels[(bandit_name, column)] = (data_actions, points)
                rows.append(
                    {
                        "bandit": bandit_name,
                        "method": column,
                        "knob": row["param"],
                        "value": row["value"],
                        "reward": row["reward"],
                        "reward_of_best": row["reward"] / best_possible,
                        "best_mode": best_mode_fraction(
                            problem, points, data_actions, near_data_radius
                        ),
                        "near_data": row["near_data"],
                        "num_samples": row["num_samples"],
                    }
                )
    if not rows:
        return "No runs to summarise."
    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(out_dir, f"{name}.csv")
    report.write_csv(rows, csv_path)
    figure = plotting.plot_summary_grid(
        panels,
        os.path.join(out_dir, f"{name}.png"),
        row_labels=bandits,
        col_labels=["data", *columns],
    )
    text = "\n".join([table(rows, near_data_radius), "", f"Wrote {csv_path}", f"Wrote {figure}"])
    fileio.atomic_write_text(os.path.join(out_dir, f"{name}.txt"), text + "\n")
    return text


def table(rows: Sequence[dict], near_data_radius: float) -> str:
    """Per bandit and method: mean reward (and / best in the data), best-mode and near-data
    fractions, and the knob setting the column reads."""
    header = (
        f"{'bandit':>12} {'method':>18} {'setting':>14} {'reward':>7} {'/best':>6} "
        f"{'best mode':>9} {'near':>6}"
    )
    out = [
        f"Mean expected reward of {rows[0]['num_samples']} samples per method; best mode: fraction "
        f"near the data at the data's best mode; near: within {near_data_radius:g} of a dataset "
        "action",
        header,
        "-" * len(header),
    ]
    for r in rows:
        setting = "-" if r["knob"] == "none" else f"{r['knob'][:10]}={r['value']:g}"
        mode = "-" if math.isnan(r["best_mode"]) else f"{r['best_mode']:.3f}"
        out.append(
            f"{r['bandit']:>12} {r['method']:>18} {setting:>14} {r['reward']:>7.3f} "
            f"{r['reward_of_best']:>6.3f} {mode:>9} {r['near_data']:>6.3f}"
        )
    return "\n".join(out)
