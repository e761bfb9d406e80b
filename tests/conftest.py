"""Shared test setup: 2 logical CPU devices, clean gin state, tiny datasets made in code."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gin  # noqa: E402
import pytest  # noqa: E402

from cfgrl_tf.distribute import configure_logical_cpus  # noqa: E402

# Distribution is tested on one CPU split into 2 logical devices. This must happen before
# TensorFlow initialises its runtime, i.e. before any test creates a tensor.
configure_logical_cpus(2)


@pytest.fixture(autouse=True)
def _clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


# The tiny datasets are built once per test process (session scope) and shared: tests read them
# and write only under their own tmp_path.
@pytest.fixture(scope="session")
def tiny_bandit_dir(tmp_path_factory):
    """A 512-record 8gaussians dataset written through the real writer (2 shards)."""
    from cfgrl_tf.data import bandit, spec, writer

    tmp = tmp_path_factory.mktemp("tiny_bandit")
    arrays, source = bandit.bandit_transitions("8gaussians", num_samples=512, seed=0)
    path = str(tmp / "data" / "8gaussians")
    writer.write_dataset(
        arrays,
        path,
        features=spec.transition_features(1, 2),
        num_shards=2,
        source=source,
        labels={"optimal": {"rule": "none"}},
        action_scale=bandit.get_bandit("8gaussians").action_scale,
    )
    return path


@pytest.fixture(scope="session")
def tiny_goal_dir(tmp_path_factory):
    """A goal-conditioned dataset converted from a tiny pointmaze-sized OGBench file."""
    from testutil import write_tiny_ogbench_npz

    from cfgrl_tf.data import build, ogbench_npz

    tmp = tmp_path_factory.mktemp("tiny_goal")
    npz = write_tiny_ogbench_npz(tmp / "pointmaze-medium-navigate-v0.npz")
    path = str(tmp / "data" / "pointmaze")
    build.build_dataset(path, source=lambda: ogbench_npz.ogbench_source(npz), num_shards=2)
    return path


@pytest.fixture(scope="session")
def tiny_task_dir(tmp_path_factory):
    """A single-task dataset (OGBench's rewards of pointmaze-medium's default task) converted
    from a tiny pointmaze-sized OGBench file."""
    from testutil import write_tiny_ogbench_npz

    from cfgrl_tf.data import build, ogbench_singletask

    tmp = tmp_path_factory.mktemp("tiny_task")
    npz = write_tiny_ogbench_npz(tmp / "pointmaze-medium-navigate-v0.npz")
    path = str(tmp / "data" / "pointmaze-singletask")
    build.build_dataset(
        path, source=lambda: ogbench_singletask.ogbench_singletask_source(npz), num_shards=2
    )
    return path


@pytest.fixture(scope="session")
def tiny_gym_dir(tmp_path_factory):
    """A D4RL-layout hopper file (11 observation features, 3 actions, random values, 4 episodes
    of 16 steps) converted with d4rl_source, named 'hopper-medium-v2' (evaluated on Hopper-v5)."""
    import h5py
    import numpy as np

    from cfgrl_tf.data import build, d4rl

    tmp = tmp_path_factory.mktemp("tiny_gym")
    rng = np.random.default_rng(0)
    num = 64
    path = str(tmp / "hopper-tiny.hdf5")
    with h5py.File(path, "w") as f:
        f.create_dataset("observations", data=rng.normal(size=(num, 11)).astype(np.float32))
        f.create_dataset("actions", data=rng.uniform(-1, 1, (num, 3)).astype(np.float32))
        f.create_dataset("rewards", data=rng.uniform(0, 3, num).astype(np.float32))
        f.create_dataset("terminals", data=np.zeros(num, bool))
        f.create_dataset("timeouts", data=np.arange(num) % 16 == 15)
    out = str(tmp / "data" / "hopper")
    build.build_dataset(
        out, source=lambda: d4rl.d4rl_source(path, env_name="hopper-medium-v2"), num_shards=2
    )
    return out


@pytest.fixture(scope="session")
def tiny_exorl_dir(tmp_path_factory):
    """Two 20-step walker episodes collected with random actions in ExORL's layout
    (`generate_exorl`), converted with walker_walk's rewards."""
    from cfgrl_tf.data import build, exorl, exorl_generate

    tmp = tmp_path_factory.mktemp("tiny_exorl")
    exorl_generate.generate_exorl(
        str(tmp / "exorl"),
        domain="walker",
        algorithm="random",
        num_transitions=40,
        episode_length=20,
        num_workers=1,
        num_envs=2,
        progress=False,
    )
    folder = str(tmp / "exorl" / "walker" / "random")
    out = str(tmp / "data" / "walker_walk")
    build.build_dataset(
        out, source=lambda: exorl.exorl_source(folder, task="walker_walk"), num_shards=2
    )
    return out
