"""Tests for cfgrl_tf.plotting: every figure is a readable PNG whose size follows its layout."""

from __future__ import annotations

import os

import numpy as np
import pytest
from matplotlib import image

from cfgrl_tf import errors, plotting
from cfgrl_tf.sweep import KNOBS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _cloud(n: int, seed: int, scale: float = 0.5) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-scale, scale, size=(n, 2))


def _read_png(path: str) -> np.ndarray:
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    return image.imread(path)


def _sweep(n: int) -> dict[float, np.ndarray]:
    return {float(i): _cloud(300, i, scale=0.2 + 0.1 * i) for i in range(n)}


def test_plot_bandit_sweep_panels_set_the_image_size(tmp_path):
    data = _cloud(5000, 100, scale=1.0)
    shapes = {}
    for n in (1, 4, 5, 8):
        path = str(tmp_path / f"sweep_{n}.png")
        metrics = {v: {"reward": 4.81, "near_data": 0.99} for v in _sweep(n)}
        returned = plotting.plot_bandit_sweep(
            _sweep(n),
            data,
            path,
            title="cfgrl",
            knob=KNOBS["guidance_weight"],
            metrics_by_value=metrics,
        )
        assert returned == path
        shapes[n] = _read_png(path).shape
    # Up to 4 panels a row: wider with more panels, then a second row of the same width.
    assert shapes[4][1] > 3 * shapes[1][1]
    assert shapes[5][1] == shapes[4][1] == shapes[8][1]
    assert shapes[5][0] > 1.8 * shapes[4][0]
    assert shapes[8][0] == shapes[5][0]
    assert sorted(os.listdir(tmp_path)) == [f"sweep_{n}.png" for n in (1, 4, 5, 8)]


def test_plot_bandit_sweep_draws_samples_in_colour_over_grey_data(tmp_path):
    path = str(tmp_path / "bc.png")
    plotting.plot_bandit_sweep(
        {0.0: _cloud(200, 1)},
        _cloud(200, 2),
        path,
        title="flow_bc",
        knob=KNOBS["none"],
        agent="flow_bc",
    )
    rgb = _read_png(path)[..., :3]
    # Grey pixels have equal channels; coloured (blue) ones have blue well above red.
    assert np.any(rgb[..., 2] - rgb[..., 0] > 0.3)


def test_plot_bandit_sweep_rejects_bad_input(tmp_path):
    path = str(tmp_path / "bad.png")
    with pytest.raises(errors.UserError, match="no sweep values"):
        plotting.plot_bandit_sweep({}, _cloud(10, 0), path, title="t", knob=KNOBS["temperature"])
    with pytest.raises(errors.UserError, match=r"samples at temperature 3.0 .*\(10, 3\)"):
        plotting.plot_bandit_sweep(
            {3.0: np.zeros((10, 3))}, _cloud(10, 0), path, title="t", knob=KNOBS["temperature"]
        )
    assert os.listdir(tmp_path) == []


def test_plot_reward_vs_param(tmp_path):
    path = str(tmp_path / "reward.png")
    series = {
        "ring": [(3.0, 2.0), (0.0, 0.5), (1.0, 1.2)],
        "grid": [(0.0, 0.1), (1.0, 0.9), (3.0, 1.5)],
    }
    returned = plotting.plot_reward_vs_param(
        series, path, title="CFGRL", xlabel="guidance weight w", reference={"ring": 1.8, "x": 1.0}
    )
    assert returned == path
    assert _read_png(path).shape[:2] == (round(4.2 * plotting.DPI), round(6.4 * plotting.DPI))
    assert os.listdir(tmp_path) == ["reward.png"]
    with pytest.raises(errors.UserError, match="'grid' has no points"):
        plotting.plot_reward_vs_param({"grid": []}, path, title="t", xlabel="w")


def test_plot_summary_grid(tmp_path):
    rows, cols = ["ring", "grid"], ["w=0", "w=1", "w=3", "AWR t=10"]
    data = _cloud(500, 0, scale=1.0)
    panels = {(r, c): (data, _cloud(200, i)) for i, (r, c) in enumerate(
        (r, c) for r in rows for c in cols)}  # fmt: skip
    del panels[("grid", "AWR t=10")]  # A missing cell is drawn empty, not an error.
    big = plotting.plot_summary_grid(
        panels, str(tmp_path / "big.png"), row_labels=rows, col_labels=cols
    )
    small = plotting.plot_summary_grid(
        {("ring", "w=0"): panels[("ring", "w=0")]},
        str(tmp_path / "small.png"),
        row_labels=rows[:1],
        col_labels=cols[:1],
    )
    big_shape, small_shape = _read_png(big).shape, _read_png(small).shape
    assert big_shape[0] > 1.5 * small_shape[0] and big_shape[1] > 3 * small_shape[1]
    assert sorted(os.listdir(tmp_path)) == ["big.png", "small.png"]
    with pytest.raises(errors.UserError, match=r"\('ring', 'w=9'\)"):
        plotting.plot_summary_grid(
            {("ring", "w=9"): (data, data)}, big, row_labels=rows, col_labels=cols
        )


def test_maze_panel_titles_count_every_episode_not_only_the_drawn_ones(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    from cfgrl_tf.envs import ogbench_env
    from cfgrl_tf.envs.episodes import EpisodeResult
    from cfgrl_tf.eval import episode_plots

    titles = []
    real_set_title = Axes.set_title
    monkeypatch.setattr(
        Axes, "set_title", lambda ax, text, **kw: titles.append(text) or real_set_title(ax, text)
    )
    layout = {"walls": np.array([[0.0, 0.0], [4.0, 4.0]]), "unit": 1.0, "tasks": {}}
    monkeypatch.setattr(ogbench_env, "maze_layout", lambda env_name: layout)
    path = np.zeros((3, 2))
    many = episode_plots.MAX_PATHS + 10
    results = [
        EpisodeResult(1, i, w, success=i < 7 * w, length=2, episode_return=0.0, path=path)
        for w in (1.0, 2.0)
        for i in range(many)
    ]
    out = episode_plots.write(
        "maze", results, KNOBS["guidance_weight"], str(tmp_path), "t", task_ids=[1], agent="a"
    )
    assert _read_png(out).shape[0] > 0
    drawn = episode_plots.MAX_PATHS
    assert titles == [
        f"w = 1: 7/{many} succeed ({drawn} drawn)",
        f"w = 2: 14/{many} succeed ({drawn} drawn)",
    ]


def test_maze_values_share_one_colour_scale(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    meshes = []
    real = Axes.pcolormesh
    monkeypatch.setattr(
        Axes, "pcolormesh", lambda ax, *a, **kw: meshes.append(kw) or real(ax, *a, **kw)
    )
    layout = {"walls": np.array([[0.0, 0.0], [4.0, 4.0]]), "unit": 1.0}
    xs, ys = np.linspace(0, 4, 5), np.linspace(0, 4, 5)
    low = np.full((5, 5), -10.0)
    high = np.full((5, 5), 2.0)
    high[0, 0] = np.nan  # a wall cell
    path = plotting.plot_maze_values(
        layout,
        {"a": (xs, ys, low), "b": (xs, ys, high)},
        str(tmp_path / "v.png"),
        "t",
        goals=[np.array([3.0, 3.0])],
        starts=[np.array([1.0, 1.0])],
    )
    assert image.imread(path).ndim == 3
    panels = [m for m in meshes if "vmin" in m]  # (the colour bar draws a mesh of its own)
    assert [(m["vmin"], m["vmax"]) for m in panels] == [(-10.0, 2.0)] * 2
    with pytest.raises(errors.UserError, match="no panels"):
        plotting.plot_maze_values(layout, {}, str(tmp_path / "none.png"), "t")


def test_a_sweep_over_decades_gets_a_log_axis(tmp_path):
    # ExORL's w = 1 ... 100 would crowd its small settings together on a linear axis.
    assert plotting.wants_log_axis([1, 1.25, 1.5, 2, 3, 5, 10, 30, 100])
    assert not plotting.wants_log_axis([0.5, 1, 1.25, 1.5, 2, 3])  # OGBench's sweep
    assert not plotting.wants_log_axis([0, 1, 100])  # w = 0 has no place on a log axis
    assert not plotting.wants_log_axis([5])
    wide = [(w, 100 + w, 5.0) for w in (1, 3, 10, 30, 100)]
    for points in (wide, [(0, 1, 0), (100, 2, 0)]):
        path = plotting.plot_mean_vs_param(
            {"CFGRL": points}, str(tmp_path / f"{len(points)}.png"), "t",
            param_name="w", ylabel="return", reference_lines={"awr": 150.0},
        )  # fmt: skip
        assert image.imread(path).shape[0] > 100


def test_log_axis_labels_skip_the_crowded_ticks_and_the_y_range_holds_reference_lines():
    # On an axis to 100, 1.25 sits too close to 1 to carry a label of its own.
    labels = plotting.log_tick_labels([1, 1.25, 1.5, 2, 3, 5, 10, 30, 100])
    assert labels == ["1", "", "1.5", "2", "3", "5", "10", "30", "100"]
    assert plotting.log_tick_labels([1, 3, 10, 30]) == ["1", "3", "10", "30"]
    # A reference line above every curve (AWR's best at 574 over CFGRL's 420..567) is inside.
    low, high = plotting.fitted_ylim([417.0, 567.0, 574.2])
    assert low < 417.0 and high > 574.2 + 1.0
    assert plotting.fitted_ylim([5.0, 5.0]) == (4.7, 5.3)
    assert plotting.fitted_ylim([1.0, float("nan")]) is None
