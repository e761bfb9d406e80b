"""Tests for cfgrl_tf.envs.episodes: success summaries, the table, the CSV round trip, and the
plot of success against the swept value."""

from __future__ import annotations

import math
import os

import pytest

from cfgrl_tf import errors, plotting
from cfgrl_tf.envs.episodes import EpisodeResult, episode_rows, format_table, summarize
from cfgrl_tf.eval import report


def test_summarize_table_and_csv(tmp_path):
    results = [
        EpisodeResult(task, ep, w, success, 10, float(success))
        for w, outcomes in ((0.0, (0, 0, 1, 0)), (2.0, (1, 1, 1, 0)))
        for (task, ep), success in zip(
            ((1, 0), (1, 1), (3, 0), (3, 1)), map(bool, outcomes), strict=True
        )
    ]
    rows = summarize(results)
    assert [(r["sweep_value"], r["task_id"]) for r in rows] == [
        (0.0, "overall"),
        (0.0, 1),
        (0.0, 3),
        (2.0, "overall"),
        (2.0, 1),
        (2.0, 3),
    ]
    assert [r["success"] for r in rows] == [0.25, 0.0, 0.5, 0.75, 1.0, 0.5]
    assert [r["episodes"] for r in rows] == [4, 2, 2, 4, 2, 2]
    # Standard error: sample std / sqrt(n); 4 Bernoulli outcomes with one odd one out -> 0.25.
    assert rows[0]["success_se"] == pytest.approx(0.25)
    assert rows[1]["success_se"] == 0.0
    assert rows[2]["success_se"] == pytest.approx(0.5)

    table = format_table(rows, param_name="w")
    lines = table.splitlines()
    assert lines[0].split() == ["w", "overall", "se", "task1", "task3", "episodes"]
    assert lines[2].split() == ["0", "0.250", "0.250", "0.000", "0.500", "4"]
    assert lines[3].split() == ["2", "0.750", "0.250", "1.000", "0.500", "4"]

    path = str(tmp_path / "summary.csv")
    report.write_csv(rows, path)
    back = report.read_csv(path)
    assert [r["task_id"] for r in back] == ["overall", "1", "3", "overall", "1", "3"]
    assert [r["success"] for r in back] == [r["success"] for r in rows]
    assert format_table(back) == table  # a table can be made from the CSV alone

    per_episode = str(tmp_path / "episodes.csv")
    report.write_csv(episode_rows(results), per_episode)
    back = report.read_csv(per_episode)
    assert list(back[0]) == ["sweep_value", "task_id", "episode", "success", "length", "return"]
    assert [r["success"] for r in back] == [0, 0, 1, 0, 1, 1, 1, 0]

    one = summarize(results[:1])
    assert math.isnan(one[0]["success_se"])
    assert "nan" in format_table(one)


def test_plot_success_vs_param(tmp_path):
    path = str(tmp_path / "success.png")
    curves = {
        "cfgrl": [(2.0, 0.6, 0.1), (0.0, 0.2, 0.05), (1.0, 0.5, float("nan"))],
        "iql+awr": [(1.0, 0.3, 0.1), (3.0, 0.35, 0.1)],
    }
    returned = plotting.plot_success_vs_param(
        curves, path, "pointmaze-medium", reference_lines={"flow bc": 0.25}
    )
    assert returned == path
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(path) > 10_000
    with pytest.raises(errors.UserError, match="'bad' must be"):
        plotting.plot_success_vs_param({"bad": [(1.0, 0.5)]}, path, "t")
    with pytest.raises(errors.UserError, match="nothing to plot"):
        plotting.plot_success_vs_param({}, path, "t")
