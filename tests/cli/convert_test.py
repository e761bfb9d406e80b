"""End-to-end tests of the cfgrl-convert binary, run as a subprocess."""

import os

import pytest
from testutil import run_cli

from cfgrl_tf.data import reader


def _convert(*args):
    return run_cli("convert", *args, timeout=300)


def _snapshot(folder):
    contents = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            contents[name] = f.read()
    return contents


def _error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    output_dir = str(tmp_path_factory.mktemp("convert") / "rings")
    result = _convert(
        "--gin_file=bandit/rings.gin",
        "--gin_bindings=bandit_source.num_samples=200",
        f"--output_dir={output_dir}",
    )
    return output_dir, result


def test_convert_builds_a_loadable_dataset(built):
    output_dir, result = built
    assert result.returncode == 0, result.stderr
    assert f"wrote 200 records in 4 shards to {output_dir}" in result.stdout
    assert "action_scale 0.3" in result.stdout
    dataset = reader.load_dataset(output_dir)
    assert dataset.num_records == 200
    assert dataset.info.source["name"] == "bandit/rings"
    assert dataset.arrays["actions"].shape == (200, 2)


def test_a_second_run_exits_2_and_leaves_the_dataset_intact(built):
    output_dir, _ = built
    before = _snapshot(output_dir)
    result = _convert("--gin_file=bandit/rings.gin", f"--output_dir={output_dir}")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = _error_lines(result.stderr)
    assert output_dir in line and "already exists" in line
    after = _snapshot(output_dir)
    assert after == before


def test_an_unknown_binding_exits_2_with_one_line(tmp_path):
    result = _convert(
        "--gin_file=bandit/rings.gin",
        "--gin_bindings=bandit_source.num_sample=200",
        f"--output_dir={tmp_path / 'ds'}",
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = _error_lines(result.stderr)
    assert "num_sample" in line and "bandit_source" in line
    assert not os.path.exists(tmp_path / "ds")
