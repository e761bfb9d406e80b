r"""Walker state coverage of ExORL-style buffers: torso height and forward speed, side by side.

  python benchmarks/exorl_coverage.py \
    random=data/exorl/walker/random rnd=data/exorl/walker/rnd \
    --output=benchmarks/results/exorl_coverage_walker.png
  python benchmarks/exorl_coverage.py random=... rnd=... --max_episodes=100   # quicker

Each `label=folder` is a walker buffer (`<root>/walker/<algorithm>`, or its `buffer/`) as
`cfgrl-generate --gin_file=exorl/walker-<algorithm>.gin` or ExORL's download writes it. Every
stored physics state (all rows, the reset rows included) is set into a walker environment and
read back through the suite's own `physics.torso_height()` and `physics.horizontal_velocity()`
(the torso's subtree linear velocity along x, i.e. forward speed). Plots the two histograms of
every buffer overlaid, as densities, to one PNG, and prints a table (the share of states with the
torso above 1.0, which walker_stand rewards fully from 1.2, and with |speed| > 1, which
walker_walk rewards from 1) and a one-line summary of those shares per buffer.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from cfgrl_tf import fileio  # noqa: E402
from cfgrl_tf.data import exorl  # noqa: E402
from cfgrl_tf.envs import dmc_tasks  # noqa: E402

HEIGHT_THRESHOLD = 1.0
SPEED_THRESHOLD = 1.0


def walker_features(folder: str, max_episodes: int | None) -> dict[str, np.ndarray]:
    """Torso height and forward speed of every stored state of a walker buffer."""
    env = dmc_tasks.make_dmc_env("walker", "stand", seed=0)
    physics = env.physics
    size = dmc_tasks.physics_size(env)
    heights, speeds, episodes = [], [], 0
    for path in exorl.episode_files(exorl.buffer_folder(folder))[:max_episodes]:
        states = exorl.read_episode(path)["physics"]
        if states.shape[1] != size:
            raise SystemExit(f"{path}: physics of size {states.shape[1]}, not walker's {size}")
        for state in states:
            physics.set_state(state)
            physics.forward()
            heights.append(physics.torso_height())
            speeds.append(physics.horizontal_velocity())
        episodes += 1
    env.close()
    return {
        "torso height": np.asarray(heights),
        "forward speed": np.asarray(speeds),
        "episodes": episodes,
    }


def summarize(features: dict) -> dict[str, float]:
    height, speed = features["torso height"], features["forward speed"]
    return {
        "episodes": features["episodes"],
        "states": len(height),
        "height mean": float(height.mean()),
        "height > 1.0": float(np.mean(height > HEIGHT_THRESHOLD)),
        "|speed| > 1": float(np.mean(np.abs(speed) > SPEED_THRESHOLD)),
        "speed p1": float(np.percentile(speed, 1)),
        "speed p99": float(np.percentile(speed, 99)),
    }


def plot(features_by_label: dict[str, dict], path: str) -> None:
    fig = Figure(figsize=(10, 3.8), dpi=110)
    FigureCanvasAgg(fig)
    for i, key in enumerate(("torso height", "forward speed")):
        ax = fig.add_subplot(1, 2, i + 1)
        values = np.concatenate([f[key] for f in features_by_label.values()])
        bins = np.linspace(np.percentile(values, 0.1), np.percentile(values, 99.9), 80)
        for label, features in features_by_label.items():
            ax.hist(features[key], bins=bins, density=True, histtype="step", lw=1.5, label=label)
        threshold = HEIGHT_THRESHOLD if key == "torso height" else SPEED_THRESHOLD
        ax.axvline(threshold, color="0.5", ls=":", lw=1)
        if key == "forward speed":
            ax.axvline(-threshold, color="0.5", ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel("density")
        ax.legend()
    fig.suptitle("walker state coverage (every stored state)")
    fig.tight_layout()
    with fileio.atomic_open(path) as f:
        fig.savefig(f, format="png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("buffers", nargs="+", help="label=folder, e.g. rnd=data/exorl/walker/rnd")
    parser.add_argument("--output", default="benchmarks/results/exorl_coverage_walker.png")
    parser.add_argument("--max_episodes", type=int, default=None)
    args = parser.parse_args()

    features = {}
    for spec in args.buffers:
        label, sep, folder = spec.partition("=")
        if not sep:
            parser.error(f"{spec!r}: expected label=folder")
        features[label] = walker_features(folder, args.max_episodes)
    plot(features, args.output)

    rows = {label: summarize(f) for label, f in features.items()}
    columns = list(next(iter(rows.values())))
    print(f"{'buffer':<12}" + "".join(f"{c:>14}" for c in columns))
    for label, row in rows.items():
        cells = [
            f"{row[c]:>14,}" if isinstance(row[c], int) else f"{row[c]:>14.3f}" for c in columns
        ]
        print(f"{label:<12}" + "".join(cells))
    parts = [
        f"{label}: torso > 1.0 in {100 * row['height > 1.0']:.1f}% of states, "
        f"|speed| > 1 in {100 * row['|speed| > 1']:.1f}%"
        for label, row in rows.items()
    ]
    print(f"\nsummary: {'; '.join(parts)} (plot: {args.output})")


if __name__ == "__main__":
    main()
