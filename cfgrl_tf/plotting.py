"""Figures of evaluations: bandit actions over the dataset, reward, success or return against w.

Figures are drawn on the Agg canvas directly (`matplotlib.figure.Figure`), not through pyplot: no
display is needed, and importing this module does not switch the backend of a user's notebook or
leave figures open in pyplot's global registry. Files are written atomically.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cfgrl_tf import errors, fileio
from cfgrl_tf.sweep import Knob

DPI = 110
MAX_PANELS_PER_ROW = 4
# Points drawn per cloud: enough to show the shape of a 2-D distribution, few enough that the
# scatter stays quick to draw and readable.
MAX_POINTS = 3000
# Actions are scaled to [-1, 1]; the margin keeps points on the border visible.
LIMIT = 1.1

_DATA_STYLE = {"s": 3, "c": "0.78", "alpha": 0.6, "linewidths": 0}
_SAMPLE_STYLE = {"s": 4, "c": "tab:blue", "alpha": 0.55, "linewidths": 0}


def plot_bandit_sweep(
    samples_by_value: Mapping[float, np.ndarray],
    data_actions: np.ndarray,
    path: str,
    *,
    title: str,
    knob: Knob,
    metrics_by_value: Mapping[float, Mapping[str, float]] | None = None,
    agent: str | None = None,
) -> str:
    """One panel per sweep value: dataset actions in grey, the policy's samples in colour.

    Args:
        samples_by_value: {sweep value: sampled actions [S, 2]}, drawn left to right in this order
            in rows of at most 4 panels.
        data_actions: [N, 2] dataset actions (at most 3000 of them are drawn).
        path: the PNG to write.
        title: the figure title.
        knob: the swept knob, which titles the panels ("w = 1.5", "temperature = 3"; a policy
            without a knob uses `agent`, or "samples").
        metrics_by_value: optional {value: metrics with "reward" and "near_data"}, shown under the
            panel title.
        agent: the panel title of a policy without a knob.

    Returns:
        `path`.

    Raises:
        UserError: no sweep values, or actions that are not [count, 2].
    """
    if not samples_by_value:
        raise errors.UserError(f"nothing to plot in {path}: no sweep values")
    data = _points(data_actions, "data_actions")
    values = list(samples_by_value)
    ncols = min(len(values), MAX_PANELS_PER_ROW)
    nrows = math.ceil(len(values) / MAX_PANELS_PER_ROW)
    fig = _figure(width=2.7 * ncols + 0.3, height=2.9 * nrows + 0.5)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
    for i, ax in enumerate(axes.flat):
        if i >= len(values):
            ax.set_axis_off()
            # Shared axes label only the bottom row; the panel above a blank one is now the bottom.
            axes.flat[i - ncols].tick_params(labelbottom=True)
            continue
        value = values[i]
        label = knob.panel_title(value, agent)
        metrics = (metrics_by_value or {}).get(value)
        if metrics is not None:
            label += f"\nreward {metrics['reward']:.2f} · near {metrics['near_data']:.2f}"
        _scatter_cell(ax, data, _points(samples_by_value[value], f"samples at {knob.name} {value}"))
        ax.set_title(label, fontsize=10)
    fig.suptitle(title)
    return _save(fig, path)


def plot_reward_vs_param(
    series: Mapping[str, Sequence[tuple[float, float]]],
    path: str,
    *,
    title: str,
    xlabel: str,
    ylabel: str = "mean reward",
    reference: Mapping[str, float] | None = None,
    reference_name: str = "reference",
) -> str:
    """Line plot of reward against the swept setting, one curve per series.

    Args:
        series: {label (e.g. "cfgrl / dataset"): [(x, y), ...]}; points are sorted by x.
        path: the PNG to write.
        title: the figure title.
        xlabel: the x-axis label (e.g. "guidance weight w").
        ylabel: the y-axis label.
        reference: optional {label: y} drawn as dashed horizontal lines (e.g. the best IQL+AWR
            reward per dataset); a reference whose label is also a series label takes that
            series' colour and is labelled "<label> (<reference_name>)".
        reference_name: what the dashed lines are, for the legend.

    Returns:
        `path`.

    Raises:
        UserError: no series, or a series with no points.
    """
    if not series:
        raise errors.UserError(f"nothing to plot in {path}: no series")
    fig = _figure(width=6.4, height=4.2)
    ax = fig.subplots()
    colours = {}
    for i, (label, points) in enumerate(series.items()):
        if len(points) == 0:
            raise errors.UserError(f"series {label!r} has no points (plotting {path})")
        xs, ys = zip(*sorted(points), strict=True)
        (line,) = ax.plot(xs, ys, marker="o", markersize=4, label=label, color=f"C{i % 10}")
        colours[label] = line.get_color()
    extra = len(series)
    for label, y in (reference or {}).items():
        if label in colours:
            colour, text = colours[label], f"{label} ({reference_name})"
        else:
            colour, text = f"C{extra % 10}", label
            extra += 1
        ax.axhline(y, linestyle="--", linewidth=1.2, color=colour, label=text)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_success_vs_param(
    curves: Mapping[str, Sequence[tuple[float, float, float]]],
    path: str,
    title: str,
    *,
    param_name: str = "guidance weight w",
    reference_lines: Mapping[str, float] | None = None,
) -> str:
    """Success rate against a swept setting: a line with a +-1 standard error band per agent.

    Args:
        curves: {agent: [(value, mean success, standard error), ...]}; points are sorted by value,
            and a NaN standard error (a single episode) draws no band at that point.
        path: the PNG to write.
        title: the figure title.
        param_name: the x-axis label.
        reference_lines: optional {agent: success} for agents without the knob (e.g. flow BC),
            drawn as dashed horizontal lines.

    Returns:
        `path`.

    Raises:
        UserError: nothing to plot, a curve with no points, or a point that is not a
            (value, mean, se) triple.
    """
    return plot_mean_vs_param(
        curves,
        path,
        title,
        param_name=param_name,
        ylabel="success rate",
        ylim=(-0.03, 1.03),
        reference_lines=reference_lines,
    )


def wants_log_axis(values: Sequence[float]) -> bool:
    """Whether settings spread over a log scale, e.g. ExORL's w = 1 ... 100: all positive and
    the largest at least 20 times the smallest (on a linear axis the small ones would crowd)."""
    return len(values) > 1 and min(values) > 0 and max(values) >= 20 * min(values)


def log_tick_labels(values: Sequence[float], min_gap: float = 0.06) -> list[str]:
    """Labels for ticks at sorted positive `values` on a log axis, blank where a label would
    crowd the previous one (closer than `min_gap` of the axis's span in log units), e.g. 1.25
    between 1 and 1.5 on an axis to 100."""
    logs = np.log10(np.asarray(values, np.float64))
    gap = min_gap * (logs[-1] - logs[0])
    labels, last = [], -np.inf
    for v, x in zip(values, logs, strict=True):
        keep = x - last >= gap
        labels.append(f"{v:g}" if keep else "")
        last = x if keep else last
    return labels


def fitted_ylim(extent: Sequence[float], pad: float = 0.06) -> tuple[float, float] | None:
    """A y range holding every value of `extent` (curve bands and reference lines alike, so a
    line above the curves is not drawn on the frame's edge), padded by `pad` of its span; None
    (matplotlib's own) when a value is not finite."""
    if not extent or not np.all(np.isfinite(extent)):
        return None
    low, high = float(min(extent)), float(max(extent))
    margin = pad * (high - low) if high > low else pad * max(abs(high), 1.0)
    return low - margin, high + margin


def plot_mean_vs_param(
    curves: Mapping[str, Sequence[tuple[float, float, float]]],
    path: str,
    title: str,
    *,
    param_name: str,
    ylabel: str,
    ylim: tuple[float, float] | None = None,
    reference_lines: Mapping[str, float] | None = None,
) -> str:
    """A mean (success, episode return...) against a swept setting, with a +-1 standard error
    band per agent: `plot_success_vs_param` with any y axis.

    Args:
        curves: {agent: [(value, mean, standard error), ...]}, as in `plot_success_vs_param`.
        path: the PNG to write.
        title: the figure title.
        param_name: the x-axis label.
        ylabel: the y-axis label.
        ylim: the y-axis range (None: fitted to the data).
        reference_lines: optional {agent: mean} drawn as dashed horizontal lines.

    Returns:
        `path`.

    Raises:
        UserError: as `plot_success_vs_param`.
    """
    if not curves and not reference_lines:
        raise errors.UserError(f"nothing to plot in {path}: no curves and no reference lines")
    fig = _figure(width=6.4, height=4.2)
    ax = fig.subplots()
    values, extent = set(), []
    for i, (label, points) in enumerate(curves.items()):
        if len(points) == 0:
            raise errors.UserError(f"curve {label!r} has no points (plotting {path})")
        try:
            table = np.asarray(sorted(tuple(map(float, p)) for p in points), dtype=np.float64)
        except (TypeError, ValueError):
            table = np.empty(0)
        if table.ndim != 2 or table.shape[1] != 3:
            raise errors.UserError(
                f"curve {label!r} must be (value, mean, se) triples, got {points!r} "
                f"(plotting {path})"
            )
        xs, ys, se = table.T
        values.update(xs.tolist())
        se = np.nan_to_num(se, nan=0.0)
        colour = f"C{i % 10}"
        ax.plot(xs, ys, marker="o", markersize=4, label=label, color=colour)
        ax.fill_between(xs, ys - se, ys + se, color=colour, alpha=0.2, linewidth=0)
        extent.extend([np.min(ys - se), np.max(ys + se)])
    for j, (label, y) in enumerate((reference_lines or {}).items()):
        colour = f"C{(len(curves) + j) % 10}"
        ax.axhline(float(y), linestyle="--", linewidth=1.2, color=colour, label=label)
        extent.append(float(y))
    values = sorted(values)
    if wants_log_axis(values):
        ax.set_xscale("log")
        ax.set_xticks(values, log_tick_labels(values))
        ax.minorticks_off()
    ylim = ylim if ylim is not None else fitted_ylim(extent)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(title)
    ax.set_xlabel(param_name)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_summary_grid(
    panels: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray]],
    path: str,
    *,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
) -> str:
    """A grid of scatter panels: rows are datasets, columns settings (e.g. "w=0", "AWR t=10").

    Args:
        panels: {(row label, column label): (data actions [N, 2], samples [S, 2])}; a cell without
            an entry is left empty.
        path: the PNG to write.
        row_labels: the rows, top to bottom.
        col_labels: the columns, left to right.

    Returns:
        `path`.

    Raises:
        UserError: no rows or columns, or a panel key that is not a (row, column) pair of them.
    """
    if not row_labels or not col_labels:
        raise errors.UserError(f"nothing to plot in {path}: row_labels and col_labels are required")
    for key in panels:
        if not (isinstance(key, tuple) and len(key) == 2) or (
            key[0] not in row_labels or key[1] not in col_labels
        ):
            raise errors.UserError(
                f"panel {key!r} is not a (row, column) pair of rows {list(row_labels)} and "
                f"columns {list(col_labels)}"
            )
    nrows, ncols = len(row_labels), len(col_labels)
    fig = _figure(width=2.4 * ncols + 0.6, height=2.4 * nrows + 0.4)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
    for r, row in enumerate(row_labels):
        for c, col in enumerate(col_labels):
            ax = axes[r, c]
            if (row, col) in panels:
                data, samples = panels[(row, col)]
                _scatter_cell(
                    ax, _points(data, f"data for {row}"), _points(samples, f"{row} / {col}")
                )
            else:
                _frame(ax)
                ax.text(0, 0, "n/a", ha="center", va="center", color="0.5")
            if r == 0:
                ax.set_title(col, fontsize=10)
            if c == 0:
                ax.set_ylabel(row, fontsize=10)
    return _save(fig, path)


def plot_maze_rollouts(
    layout: Mapping,
    panels: Mapping[str, Sequence[tuple[np.ndarray, bool]]],
    path: str,
    title: str,
    *,
    goals: Sequence[np.ndarray] = (),
    counts: Mapping[str, tuple[int, int]] | None = None,
) -> str:
    """Rollouts drawn on a maze's layout, one panel per knob value.

    Args:
        layout: from `cfgrl_tf.envs.ogbench_env.maze_layout` (`walls` [N, 2] cell centres,
            `unit` the cell size).
        panels: {panel title: [(x-y path [T, 2], success), ...]}; successful paths are drawn in
            green, the others in red, each starting at a dot.
        path: the PNG to write.
        title: the figure title.
        goals: x-y goals to mark with a star in every panel.
        counts: {panel title: (successes, episodes)} over ALL of a panel's episodes, when only
            some of them are drawn; the title then reports those and how many are drawn.

    Returns:
        `path`.

    Raises:
        UserError: no panels.
    """
    if not panels:
        raise errors.UserError(f"nothing to plot in {path}: no rollouts")
    fig, axes = _maze_panels(layout, len(panels), extra_width=0.4)
    for ax, (name, rollouts) in zip(axes, panels.items(), strict=False):
        _draw_walls(ax, layout)
        wins = 0
        for xy, success in rollouts:
            xy = np.asarray(xy, np.float64).reshape(-1, 2)
            colour = "tab:green" if success else "tab:red"
            ax.plot(xy[:, 0], xy[:, 1], color=colour, linewidth=0.8, alpha=0.6)
            ax.plot(xy[0, 0], xy[0, 1], "o", color=colour, markersize=2)
            wins += bool(success)
        for goal in goals:
            ax.plot(goal[0], goal[1], "*", color="gold", markersize=11, markeredgecolor="k")
        wins, total = (counts or {}).get(name, (wins, len(rollouts)))
        drawn = f" ({len(rollouts)} drawn)" if len(rollouts) < total else ""
        ax.set_title(f"{name}: {wins}/{total} succeed{drawn}", fontsize=9)
        _frame_maze(ax, layout)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_maze_values(
    layout: Mapping,
    panels: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    path: str,
    title: str,
    *,
    goals: Sequence[np.ndarray] = (),
    starts: Sequence[np.ndarray] = (),
) -> str:
    """A function of the x-y position (e.g. a critic's V) drawn on a maze, one panel each, on one
    colour scale.

    Args:
        layout: from `cfgrl_tf.envs.ogbench_env.maze_layout`.
        panels: {panel title: (xs [nx], ys [ny], values [ny, nx])}, NaN where not drawn (walls).
        path: the PNG to write.
        title: the figure title.
        goals, starts: x-y points to mark with a star and a circle in every panel.

    Returns:
        `path`.

    Raises:
        UserError: no panels.
    """
    if not panels:
        raise errors.UserError(f"nothing to plot in {path}: no panels")
    fig, axes = _maze_panels(layout, len(panels), extra_width=1.2)
    values = np.concatenate([np.ravel(v) for _, _, v in panels.values()])
    lo, hi = np.nanmin(values), np.nanmax(values)
    image = None
    for ax, (name, (xs, ys, grid)) in zip(axes, panels.items(), strict=False):
        image = ax.pcolormesh(xs, ys, grid, vmin=lo, vmax=hi, cmap="viridis", shading="nearest")
        _draw_walls(ax, layout)
        for goal in goals:
            ax.plot(goal[0], goal[1], "*", color="gold", markersize=11, markeredgecolor="k")
        for start in starts:
            ax.plot(start[0], start[1], "o", color="white", markersize=6, markeredgecolor="k")
        ax.set_title(name, fontsize=9)
        _frame_maze(ax, layout)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.colorbar(image, ax=axes[: len(panels)].tolist(), shrink=0.8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def _maze_panels(layout: Mapping, num: int, extra_width: float) -> tuple[Figure, np.ndarray]:
    """A figure of `num` maze panels, 3 to a row, each about 3.2 inches on the maze's long side
    (plus `extra_width` inches for e.g. a colour bar)."""
    walls = np.asarray(layout["walls"], np.float64).reshape(-1, 2)
    unit = float(layout["unit"])
    cols = min(num, 3)
    rows = math.ceil(num / cols)
    span = np.ptp(walls, axis=0) + unit if len(walls) else np.ones(2)
    cell = 3.2 / max(span)
    fig = _figure(width=cols * span[0] * cell + extra_width, height=rows * span[1] * cell + 0.6)
    return fig, np.atleast_1d(fig.subplots(rows, cols)).reshape(-1)


def _draw_walls(ax, layout: Mapping) -> None:
    unit = float(layout["unit"])
    for x, y in np.asarray(layout["walls"], np.float64).reshape(-1, 2):
        ax.add_patch(_rectangle((x - unit / 2, y - unit / 2), unit, unit))


def _frame_maze(ax, layout: Mapping) -> None:
    """Limits to the maze's outer walls, equal aspect, no ticks."""
    walls = np.asarray(layout["walls"], np.float64).reshape(-1, 2)
    unit = float(layout["unit"])
    if len(walls):
        lo, hi = walls.min(axis=0) - unit / 2, walls.max(axis=0) + unit / 2
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def _rectangle(corner, width, height):
    from matplotlib.patches import Rectangle

    return Rectangle(corner, width, height, color="0.55", linewidth=0)


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    # Figures made without pyplot are not registered anywhere: dropping the reference frees it.
    fig.clear()
    fileio.atomic_write_bytes(path, buf.getvalue())
    return path


def _points(actions: np.ndarray, what: str) -> np.ndarray:
    points = np.asarray(actions, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise errors.UserError(f"{what} must be 2-D actions [count, 2], got shape {points.shape}")
    return points


def _subsample(points: np.ndarray) -> np.ndarray:
    if len(points) <= MAX_POINTS:
        return points
    # A fixed seed, so re-plotting the same run gives the same picture.
    keep = np.random.default_rng(0).choice(len(points), MAX_POINTS, replace=False)
    return points[np.sort(keep)]


def _frame(ax) -> None:
    ax.set_xlim(-LIMIT, LIMIT)
    ax.set_ylim(-LIMIT, LIMIT)
    ax.set_aspect("equal")
    ax.set_xticks([-1, 0, 1])
    ax.set_yticks([-1, 0, 1])
    ax.tick_params(labelsize=8)


def _scatter_cell(ax, data: np.ndarray, samples: np.ndarray) -> None:
    data, samples = _subsample(data), _subsample(samples)
    ax.scatter(data[:, 0], data[:, 1], **_DATA_STYLE)
    ax.scatter(samples[:, 0], samples[:, 1], **_SAMPLE_STYLE)
    _frame(ax)
