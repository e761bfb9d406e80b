"""Tests of local ExORL-style collection (random and RND) at tiny sizes: ExORL's layout, read back
by `exorl_source`, physics that reproduce the observations, an RND predictor that learns, the
refusal to overwrite, the pipelines and `cfgrl-generate`."""

import contextlib
import glob
import io
import os
import pathlib
import re

import gin
import keras
import numpy as np
import pytest
from testutil import REPO_ROOT, run_cli

from cfgrl_tf import errors
from cfgrl_tf.cli import common
from cfgrl_tf.data import exorl, exorl_generate
from cfgrl_tf.envs import dmc_tasks

_PIPELINES = sorted(glob.glob(os.path.join(REPO_ROOT, "pipelines", "exorl", "*-r*.gin")))
_NAME = re.compile(r"^\d{8}T\d{6}_(?P<index>\d+)_(?P<length>\d+)\.npz$")
_STEPS = 50
# Tiny RND: updates (compiled by XLA, the default) from the 21st transition on, every 2
# transitions, on batches of 16.
_TINY_RND = [
    "generate_exorl.num_transitions = 100",
    f"generate_exorl.episode_length = {_STEPS}",
    "generate_exorl.num_workers = 1",
    "generate_exorl.num_envs = 1",
    "generate_exorl.hidden_size = 32",
    "generate_exorl.rnd_output_size = 16",
    "generate_exorl.batch_size = 16",
    "generate_exorl.update_every = 2",
    "generate_exorl.num_seed_frames = 20",
    "generate_exorl.threads_per_worker = 1",
]


def _random(output_dir, **kwargs):
    settings = dict(
        domain="walker",
        algorithm="random",
        num_transitions=2 * _STEPS,
        episode_length=_STEPS,
        num_workers=1,
        num_envs=2,
        threads_per_worker=1,
        progress=False,
    )
    settings.update(kwargs)
    return exorl_generate.generate_exorl(str(output_dir), **settings)


def _load(path):
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def random_walker(tmp_path_factory):
    """Two random walker episodes of 50 steps, stepped in lockstep by one worker."""
    root = tmp_path_factory.mktemp("random")
    return root, _random(root)


@pytest.fixture(scope="module")
def rnd_walker(tmp_path_factory):
    """Two RND walker episodes of 50 steps (one env, so two rounds), from the shipped pipeline
    with tiny overrides; also returns what it printed."""
    root = tmp_path_factory.mktemp("rnd")
    gin.clear_config()
    common.parse_gin(["exorl/walker-rnd.gin"], _TINY_RND, tree="pipelines")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        paths = exorl_generate.generate_exorl(str(root))
    gin.clear_config()
    return root, paths, printed.getvalue()


@pytest.fixture(params=["random", "rnd"])
def collected(request, random_walker, rnd_walker):
    """(the <domain>/<algorithm> folder, the paths written) of either collection."""
    root, paths = (random_walker if request.param == "random" else rnd_walker)[:2]
    return os.path.join(root, "walker", request.param), paths


def test_files_follow_exorls_layout(collected):
    folder, paths = collected
    assert sorted(glob.glob(os.path.join(folder, "buffer", "*"))) == sorted(paths)
    names = [_NAME.match(os.path.basename(path)) for path in paths]
    assert all(names) and [int(n["index"]) for n in names] == [0, 1]
    assert {int(n["length"]) for n in names} == {_STEPS}
    episodes = [_load(path) for path in paths]
    for episode in episodes:
        assert set(episode) == {"observation", "action", "reward", "discount", "physics"}
        shapes = {key: value.shape for key, value in episode.items()}
        rows = _STEPS + 1
        assert shapes == {
            "observation": (rows, 24),
            "action": (rows, 6),
            "reward": (rows, 1),
            "discount": (rows, 1),
            "physics": (rows, 18),
        }
        assert episode["physics"].dtype == np.float64
        assert all(episode[key].dtype == np.float32 for key in shapes if key != "physics")
        assert not episode["action"][0].any() and episode["reward"][0, 0] == 0.0
        assert np.all(np.abs(episode["action"]) <= 1.0) and np.all(episode["discount"] == 1.0)
        assert np.all((episode["reward"] >= 0.0) & (episode["reward"] <= 1.0))
    # Each env slot has its own seed: the two episodes start apart.
    assert not np.array_equal(episodes[0]["physics"][0], episodes[1]["physics"][0])


def test_exorl_source_reads_them_back(collected):
    folder, paths = collected
    episodes = [_load(path) for path in paths]
    # The stored rewards are walker_stand's (the domain's first task), which the reader
    # recomputes from the physics states.
    arrays = exorl.exorl_source(folder, task="walker_stand").arrays
    assert len(arrays["observations"]) == 2 * _STEPS
    for key, rows in [
        ("observations", lambda e: e["observation"][:-1]),
        ("actions", lambda e: e["action"][1:]),
        ("next_observations", lambda e: e["observation"][1:]),
        ("rewards", lambda e: e["reward"][1:, 0]),
    ]:
        np.testing.assert_allclose(
            arrays[key], np.concatenate([rows(e) for e in episodes]), rtol=1e-6, err_msg=key
        )
    assert arrays["terminals"].sum() == 2 and arrays["terminals"][_STEPS - 1] == 1.0


def test_physics_reproduce_the_observations_and_the_actions_lead_to_the_next_rows(collected):
    _, paths = collected
    episode = _load(paths[1])
    env = dmc_tasks.make_dmc_env("walker", "stand", seed=0)
    for t in (0, 1, 17, _STEPS):
        with env.physics.reset_context():
            env.physics.set_state(episode["physics"][t])
        observed = env.task.get_observation(env.physics)
        flat = np.concatenate([np.ravel(v) for v in observed.values()]).astype(np.float32)
        np.testing.assert_allclose(flat, episode["observation"][t], rtol=1e-5, atol=1e-6)
    # Replaying row t + 1's action from row t's state gives row t + 1: ExORL's alignment.
    env.reset()
    with env.physics.reset_context():
        env.physics.set_state(episode["physics"][0])
    replayed = [env.step(action).observation for action in episode["action"][1:]]
    np.testing.assert_allclose(replayed, episode["observation"][1:], rtol=1e-5, atol=1e-5)
    env.close()


def test_random_actions_are_uniform(random_walker):
    _, paths = random_walker
    actions = np.concatenate([_load(path)["action"][1:] for path in paths])
    assert actions.min() < -0.95 and actions.max() > 0.95
    assert abs(actions.mean()) < 0.1 and abs(actions.std() - 1 / np.sqrt(3)) < 0.05


def test_rnd_progress_and_summary_are_printed(rnd_walker):
    root, _, printed = rnd_walker
    folder = os.path.join(root, "walker", "rnd", "buffer")
    lines = printed.splitlines()
    assert lines[0].startswith("collecting walker/rnd: 2 episodes x 50 steps = 100 transitions")
    assert re.search(r"walker/rnd: 1/2 episodes \(50%\), [\d,]+ transitions/s, ETA ", lines[1])
    assert "2/2 episodes (100%)" in lines[2] and "rnd/loss" in lines[2]
    assert lines[3].startswith(f"walker/rnd: wrote 2 episodes (100 transitions) to {folder} in ")
    # The agent learned in the second round: its metrics are numbers.
    loss = float(re.search(r"rnd/loss ([-\d.e]+)", lines[2])[1])
    assert np.isfinite(loss) and loss > 0


def test_rnd_predictor_learns_a_fixed_batch(random_walker):
    _, paths = random_walker
    episodes = [_load(path) for path in paths]
    observations = np.concatenate([e["observation"][:-1] for e in episodes])[:64]
    batch = {
        "observations": observations,
        "actions": np.concatenate([e["action"][1:] for e in episodes])[:64],
        "next_observations": np.concatenate([e["observation"][1:] for e in episodes])[:64],
    }
    mean, std = observations.mean(axis=0), observations.std(axis=0) + 1e-3
    keras.utils.set_random_seed(0)
    config = exorl_generate.RNDConfig(
        hidden_size=32, rnd_output_size=16, batch_size=64, rnd_learning_rate=1e-3, jit_compile=False
    )
    agent = exorl_generate.RNDAgent(24, 6, config, seed=0)
    before = agent.prediction_errors(batch["next_observations"], mean, std)
    # 50 updates in one call, each on the same batch.
    agent.update({key: np.stack([value] * 50) for key, value in batch.items()}, mean, std)
    after = agent.prediction_errors(batch["next_observations"], mean, std)
    assert after.mean() < 0.5 * before.mean()
    metrics = agent.last_metrics()
    assert set(metrics) == {
        "rnd/loss",
        "rnd/intrinsic_reward",
        "critic/loss",
        "critic/q",
        "actor/loss",
    }
    # The intrinsic rewards are positive, so the critics learn positive values.
    assert metrics["rnd/intrinsic_reward"] > 0 and metrics["critic/q"] > 0
    assert np.all(np.abs(agent.act(observations)) <= 1.0)


def test_two_workers_share_the_episodes(random_walker, tmp_path):
    _, paths = random_walker
    both = _random(tmp_path, num_transitions=3 * _STEPS, num_workers=2)
    assert [int(_NAME.match(os.path.basename(p))["index"]) for p in both] == [0, 1, 2]
    # Episode 0 is worker 0's first slot in both runs: the same episode. Episode 1 is worker
    # 1's here but worker 0's second slot in the one-worker run.
    first, second = _load(paths[0]), _load(both[0])
    assert set(first) == set(second)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    assert not np.array_equal(_load(paths[1])["physics"], _load(both[1])["physics"])
    arrays = exorl.exorl_source(os.path.join(tmp_path, "walker", "random"), "walker_walk").arrays
    assert len(arrays["rewards"]) == 3 * _STEPS


def test_an_existing_buffer_is_never_overwritten(random_walker):
    root, paths = random_walker
    before = {path: pathlib.Path(path).read_bytes() for path in paths}
    folder = os.path.join(root, "walker", "random", "buffer")
    with pytest.raises(
        errors.DatasetError, match=r"is not empty \(it holds 2 episode file\(s\)\)"
    ) as raised:
        _random(root, seed=1)
    assert folder in str(raised.value)
    after = {path: pathlib.Path(path).read_bytes() for path in glob.glob(f"{folder}/*")}
    assert after == before


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"domain": "hopper"}, "walker, quadruped, cheetah, jaco"),
        ({"algorithm": "apt"}, "random, rnd"),
        ({"episode_length": 1001}, "exceeds walker's time limit of 1000"),
        ({"domain": "jaco", "episode_length": 251}, "exceeds jaco's time limit of 250"),
        ({"num_transitions": 0}, "num_transitions must be an integer >= 1, got 0"),
        ({"num_workers": 0}, "num_workers must be an integer >= 1, got 0"),
        ({"seed": -1}, "seed must be an integer >= 0, got -1"),
        ({"rnd_learning_rate": 0.0}, "rnd_learning_rate must be a finite number > 0"),
    ],
)
def test_bad_input_is_a_user_error(tmp_path, kwargs, message):
    with pytest.raises(errors.UserError, match=message):
        _random(tmp_path, **kwargs)
    assert os.listdir(tmp_path) == []


def test_time_limits_are_the_environments():
    for domain, limit in exorl_generate.TIME_LIMIT_STEPS.items():
        env = dmc_tasks.make_dmc_env(domain, dmc_tasks.TASKS[domain][0], seed=0)
        env.reset()
        action = np.zeros(env.action_spec().shape, np.float32)
        steps = 1
        while not env.step(action).last():
            steps += 1
        env.close()
        assert steps == limit, domain


def test_every_pipeline_binds_its_domain_and_algorithm():
    names = {os.path.basename(path) for path in _PIPELINES}
    expected = {f"{d}-{a}.gin" for d in dmc_tasks.TASKS for a in exorl_generate.ALGORITHMS}
    assert names == expected
    for path in _PIPELINES:
        gin.clear_config()
        common.parse_gin([path], [], tree="pipelines")
        domain, algorithm = os.path.basename(path)[: -len(".gin")].split("-")
        assert gin.get_bindings("generate_exorl") == {
            "domain": domain,
            "algorithm": algorithm,
            "num_transitions": 1_000_000,
        }
        assert f"--gin_file=exorl/{domain}-{algorithm}.gin" in pathlib.Path(path).read_text()


@pytest.mark.parametrize("domain", ["quadruped", "cheetah", "jaco"])
def test_random_pipelines_of_the_other_domains_collect(domain, tmp_path):
    common.parse_gin(
        [f"exorl/{domain}-random.gin"],
        [
            "generate_exorl.num_transitions = 5",
            "generate_exorl.episode_length = 5",
            "generate_exorl.num_workers = 1",
            "generate_exorl.num_envs = 1",
            "generate_exorl.progress = False",
        ],
        tree="pipelines",
    )
    [path] = exorl_generate.generate_exorl(str(tmp_path))
    task = f"{domain}_{dmc_tasks.TASKS[domain][0]}"
    arrays = exorl.exorl_source(os.path.join(tmp_path, domain, "random"), task=task).arrays
    np.testing.assert_allclose(arrays["rewards"], _load(path)["reward"][1:, 0], rtol=1e-5)


def test_cli_generates(tmp_path):
    # Refusing to overwrite is tested above; the binary prints the DatasetError as OGBench's do.
    args = [
        "--gin_file=exorl/walker-random.gin",
        "--gin_bindings=generate_exorl.num_transitions = 60",
        "--gin_bindings=generate_exorl.episode_length = 30",
        "--gin_bindings=generate_exorl.num_workers = 1",
        "--gin_bindings=generate_exorl.threads_per_worker = 1",
        f"--output_dir={tmp_path}",
    ]
    result = run_cli("generate", *args, timeout=300)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "walker" / "random" / "buffer"
    assert f"wrote 2 files to {folder}: 60 transitions in 2 episodes" in result.stdout
    assert "2/2 episodes (100%)" in result.stdout
    assert "Traceback" not in result.stderr and "DISPLAY" not in result.stderr
    assert len(exorl.episode_files(str(folder))) == 2
