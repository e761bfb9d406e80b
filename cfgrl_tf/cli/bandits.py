"""cfgrl-bandits: the 2-D bandit comparison (CFGRL vs IQL+AWR), a few minutes on 2 CPU cores.

For each 2-D bandit (Diffusion-QL's 4 Gaussians, 8gaussians, rings, swissroll): build the dataset
with its pipeline gin file, train CFGRL and IQL+AWR with the shipped CPU-scale gin files (one
shared critic setting), evaluate CFGRL over guidance weights and AWR over temperatures, then print
one comparison table and write summary figures. Every stage is the same code the binaries run,
and every run dir is a normal cfgrl-train root dir (resumable, evaluable, exportable). Re-running
the command reuses finished datasets and checkpoints.

  cfgrl-bandits                          # everything under ./runs/bandits
  cfgrl-bandits --bandits=rings --gin_bindings="train.num_steps=8000"
"""

from cfgrl_tf.cli import common

common.quiet_tensorflow()

import os  # noqa: E402
import time  # noqa: E402

import gin  # noqa: E402
from absl import flags  # noqa: E402

from cfgrl_tf import distribute  # noqa: E402
from cfgrl_tf.data import bandit, build  # noqa: E402
from cfgrl_tf.data.spec import INFO_FILENAME  # noqa: E402
from cfgrl_tf.errors import UserError  # noqa: E402
from cfgrl_tf.eval import bandit_summary, method_summary  # noqa: E402

flags.DEFINE_string("root_dir", "runs/bandits", "Where datasets, runs and the summary go.")
flags.DEFINE_list(
    "bandits", list(bandit.BANDITS), f"Bandits to run, of {', '.join(bandit.BANDITS)}."
)
flags.DEFINE_list("agents", ["cfgrl", "iql_awr"], "Agent gin files (gin/bandit/<agent>.gin).")
flags.DEFINE_multi_string("gin_bindings", [], "Bindings applied to every training run.")
flags.DEFINE_enum("strategy", "default", distribute.STRATEGIES, "tf.distribute strategy.")
FLAGS = flags.FLAGS


def _build_data(bandit_name: str, data_dir: str) -> None:
    if os.path.exists(os.path.join(data_dir, INFO_FILENAME)):
        print(f"[data] {bandit_name}: reusing {data_dir}", flush=True)
        return
    gin.clear_config()
    common.parse_gin([f"bandit/{bandit_name}.gin"], [], tree="pipelines")
    build.build_dataset(output_dir=data_dir)


def _train(agent: str, data_dir: str, run_dir: str, strategy) -> None:
    bindings = [f"train.dataset_dir = '{data_dir}'", *FLAGS.gin_bindings]
    common.train_run(run_dir, [f"bandit/{agent}.gin"], bindings, strategy)


@common.user_errors_exit
def main(argv):
    common.no_positional_args(argv)
    unknown = sorted(set(FLAGS.bandits) - set(bandit.BANDITS))
    if unknown:
        raise UserError(f"--bandits: unknown {unknown}; choose from {', '.join(bandit.BANDITS)}")
    root = os.path.abspath(FLAGS.root_dir)
    strategy = distribute.make_strategy(FLAGS.strategy)
    started = time.perf_counter()
    runs, data_dirs = {}, {}
    for i, name in enumerate(FLAGS.bandits, 1):
        data_dir = data_dirs[name] = os.path.join(root, "data", name)
        _build_data(name, data_dir)
        for agent in FLAGS.agents:
            run_dir = os.path.join(root, "runs", name, agent)
            print(f"\n[{i}/{len(FLAGS.bandits)}] {agent} on {name} -> {run_dir}", flush=True)
            _train(agent, data_dir, run_dir, strategy)
            runs[(name, agent)] = run_dir
    print(f"\nAll runs finished in {time.perf_counter() - started:.0f}s.\n", flush=True)
    report = bandit_summary.summarize_bandit_runs(runs, data_dirs, root)
    print(report, flush=True)
    if set(FLAGS.agents) - {"cfgrl", "iql_awr"}:
        # Other methods too (the Diffusion-QL family): every method side by side.
        print("\n" + method_summary.summarize_methods(runs, data_dirs, root), flush=True)


def run():
    common.run_binary(main, __doc__, __name__)


if __name__ == "__main__":
    run()
