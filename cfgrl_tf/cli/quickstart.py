"""cfgrl-quickstart: the main job on an embedded default, a few minutes on 2 CPU cores.

Goal-conditioned CFGRL on OGBench's pointmaze-medium-navigate, end to end with the same code the
binaries run:
  1. generate a small dataset with OGBench's own oracle (cfgrl-generate's logic),
  2. convert it to TFRecords (cfgrl-convert, pipelines/ogbench/convert.gin),
  3. train CFGRL, flat and hierarchical, with the CPU-scale gin files (gin/ogbench/cfgrl.gin,
     hcfgrl.gin) for a shortened run (20k steps instead of 100k),
  4. evaluate OGBench's 5 tasks over the guidance-weight sweep, all rollouts in lockstep,
and print the success table and the plot's path. w = 1 is goal-conditioned flow BC; w > 1 is the
improvement CFGRL gets for free. Re-running reuses the dataset and the finished runs.

  cfgrl-quickstart                                   # everything under ./runs/quickstart
  cfgrl-quickstart --num_steps=100000                # the full CPU-scale training
  cfgrl-quickstart --agents=cfgrl,gcfbc              # other agents (gin/ogbench/<agent>.gin)
"""

from cfgrl_tf.cli import common

common.quiet_tensorflow()

import os  # noqa: E402
import time  # noqa: E402

import gin  # noqa: E402
from absl import flags  # noqa: E402

from cfgrl_tf import distribute  # noqa: E402
from cfgrl_tf.data import build, ogbench_generate  # noqa: E402
from cfgrl_tf.data.spec import INFO_FILENAME  # noqa: E402
from cfgrl_tf.errors import UserError  # noqa: E402
from cfgrl_tf.eval import goal_summary  # noqa: E402

flags.DEFINE_string("root_dir", "runs/quickstart", "Where the dataset and runs go.")
flags.DEFINE_string(
    "dataset", "pointmaze-medium-navigate-v0", "OGBench dataset to generate and train on."
)
flags.DEFINE_integer(
    "num_episodes", 1000, "Episodes to generate (OGBench's size for pointmaze navigate: 1000)."
)
flags.DEFINE_integer("num_steps", 20000, "Train steps (the CPU-scale config's full run: 100000).")
flags.DEFINE_integer("episodes_per_task", 10, "Evaluation episodes per task and w.")
flags.DEFINE_list(
    "agents", ["cfgrl", "hcfgrl"], "Agent gin files to run (gin/ogbench/<agent>.gin)."
)
flags.DEFINE_multi_string("gin_bindings", [], "Bindings applied to every training run.")
flags.DEFINE_enum("strategy", "default", distribute.STRATEGIES, "tf.distribute strategy.")
FLAGS = flags.FLAGS


def _data(root: str) -> str:
    raw_dir = os.path.join(root, "raw")
    data_dir = os.path.join(root, "data", FLAGS.dataset)
    npz = os.path.join(raw_dir, f"{FLAGS.dataset}.npz")
    if os.path.exists(os.path.join(data_dir, INFO_FILENAME)):
        print(f"[data] reusing {data_dir}", flush=True)
        return data_dir
    if not os.path.exists(npz):
        print(f"[1/3] generating {FLAGS.num_episodes} episodes of {FLAGS.dataset}", flush=True)
        ogbench_generate.generate_ogbench(
            raw_dir, dataset_name=FLAGS.dataset, num_episodes=FLAGS.num_episodes
        )
    print(f"[2/3] converting {npz}", flush=True)
    gin.clear_config()
    common.parse_gin(["ogbench/convert.gin"], [f"ogbench_source.path = '{npz}'"], tree="pipelines")
    build.build_dataset(output_dir=data_dir)
    return data_dir


def _train(agent: str, data_dir: str, run_dir: str, strategy) -> None:
    bindings = [
        f"train.dataset_dir = '{data_dir}'",
        f"train.num_steps = {FLAGS.num_steps}",
        f"OGBenchGoalSuite.episodes_per_task = {FLAGS.episodes_per_task}",
        *FLAGS.gin_bindings,
    ]
    common.train_run(run_dir, [f"ogbench/{agent}.gin"], bindings, strategy)


@common.user_errors_exit
def main(argv):
    common.no_positional_args(argv)
    if FLAGS.dataset not in ogbench_generate.SUPPORTED_DATASETS:
        raise UserError(
            f"--dataset={FLAGS.dataset!r} cannot be generated here; choose from "
            f"{', '.join(ogbench_generate.SUPPORTED_DATASETS)}"
        )
    root = os.path.abspath(FLAGS.root_dir)
    strategy = distribute.make_strategy(FLAGS.strategy)
    started = time.perf_counter()
    data_dir = _data(root)
    runs = {}
    for agent in FLAGS.agents:
        run_dir = runs[(FLAGS.dataset, agent, 0)] = os.path.join(root, "runs", FLAGS.dataset, agent)
        print(f"\n[3/3] training {agent} for {FLAGS.num_steps} steps -> {run_dir}", flush=True)
        _train(agent, data_dir, run_dir, strategy)
    print(f"\nQuickstart finished in {time.perf_counter() - started:.0f}s.\n", flush=True)
    print(goal_summary.summarize_goal_runs(runs, root, prefix="quickstart"), flush=True)


def run():
    common.run_binary(main, __doc__, __name__)


if __name__ == "__main__":
    run()
