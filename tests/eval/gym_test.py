"""The Gymnasium suite: chosen for D4RL and Minari datasets, its env, return and normalised score;
and a Minari dataset end to end through the binaries."""

from __future__ import annotations

import glob
import json
import math
import os
import warnings

import gin
import gymnasium as gym
import numpy as np
import pytest
import tensorflow as tf
from testutil import run_cli

from cfgrl_tf.data import spec
from cfgrl_tf.envs import gym_eval
from cfgrl_tf.envs.rollout import make_rollouts
from cfgrl_tf.errors import UserError
from cfgrl_tf.eval import gym as gym_suite
from cfgrl_tf.eval import report, returns, suites
from cfgrl_tf.policy import Policy
from cfgrl_tf.sweep import Sweep

WEIGHTS = (0.0, 1.0)
EPISODES = 2
STEPS = 20
STEP = 7
# A fixed linear map from Hopper's 11 observations to its 3 actions.
GAIN = 0.3 * np.random.default_rng(0).normal(size=(11, 3)).astype(np.float32)
HOPPER_REFS = (-20.272305, 3234.3)  # D4RL's d4rl/infos.py


def _info(source: dict, obs_dim: int = 11, action_dim: int = 3, action_scale: float = 1.0):
    return spec.DatasetInfo(
        format_version=spec.FORMAT_VERSION,
        features=spec.transition_features(obs_dim, action_dim),
        shards=[],
        source=source,
        labels={},
        action_scale=action_scale,
    )


def _d4rl(env_name: str | None = "hopper-medium-v2", stem: str = "hopper_medium-v2") -> dict:
    """A source as `d4rl_source` describes it."""
    return {"name": f"d4rl/{env_name or stem}", "env_name": env_name}


def _minari(env_name: str = "Hopper-v5", refs=(None, None), **more) -> dict:
    """A source as `minari_source` describes it."""
    return {
        "name": "minari/mujoco/hopper/medium-v0",
        "dataset_id": "mujoco/hopper/medium-v0",
        "env_name": env_name,
        "eval_env_name": env_name,
        "max_episode_steps": 1000,
        "ref_min_score": refs[0],
        "ref_max_score": refs[1],
        **more,
    }


def _policy(sweep: Sweep, obs_dim: int = 11, action_dim: int = 3, sample=None) -> Policy:
    """Untrained: w times a fixed linear map, squashed (w = 0 gives zero actions)."""

    def linear(inputs, knob_values, seed):
        del seed
        return tf.tanh(knob_values[:, None] * tf.matmul(inputs["observations"], GAIN))

    return Policy(
        name="linear",
        inputs={"observations": obs_dim},
        action_dim=action_dim,
        sweep=sweep,
        sample_fn=sample or linear,
        networks={},
    )


def _scalars(directory: str) -> dict[str, tuple[int, float]]:
    out = {}
    for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                out[value.tag] = (event.step, float(tf.make_ndarray(value.tensor)))
    return out


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("run"))
    gin.clear_config()
    gin.parse_config([f"GymSuite.episodes = {EPISODES}", f"GymSuite.max_episode_steps = {STEPS}"])
    try:
        info = _info(_d4rl())
        suite = suites.suite_for(info)
        policy = _policy(Sweep("guidance_weight", WEIGHTS))
        rows = suites.evaluate(policy, suites.EvalData("unused", info), root, STEP)
    finally:
        gin.clear_config()
    return suite, rows, root


def test_d4rl_and_minari_datasets_get_the_gym_suite_with_its_gin_bindings(evaluated):
    suite, _, _ = evaluated
    assert type(suite) is gym_suite.GymSuite
    assert (suite.episodes, suite.max_episode_steps) == (EPISODES, STEPS)
    assert (suite.score_metric, suite.knob_column, suite.inputs) == (
        "return",
        "sweep_value",
        ("observations",),
    )
    assert type(suites.suite_for(_info(_minari()))) is gym_suite.GymSuite


def test_rows_hold_the_return_and_d4rls_normalised_score(evaluated):
    _, rows, root = evaluated
    out = report.eval_dir(root)
    assert report.read_csv(os.path.join(out, "sweep.csv")) == rows
    assert [(r["sweep_value"], r["task_id"], r["episodes"]) for r in rows] == [
        (w, "Hopper-v5", EPISODES) for w in WEIGHTS
    ]
    per_episode = report.read_csv(os.path.join(out, "episodes.csv"))
    assert list(per_episode[0]) == [
        "sweep_value",
        "task_id",
        "episode",
        "length",
        "return",
        "score",
    ]
    low, high = HOPPER_REFS
    for row in rows:
        episodes = [e for e in per_episode if e["sweep_value"] == row["sweep_value"]]
        rets = [e["return"] for e in episodes]
        assert row["return"] == pytest.approx(np.mean(rets))
        assert row["return_se"] == pytest.approx(np.std(rets, ddof=1) / math.sqrt(EPISODES))
        assert row["score"] == pytest.approx(100 * (row["return"] - low) / (high - low))
        assert row["score_se"] == pytest.approx(100 * row["return_se"] / (high - low))
        assert [e["score"] for e in episodes] == pytest.approx(
            [100 * (r - low) / (high - low) for r in rets]
        )
    assert rows[0]["return"] != rows[1]["return"]  # w changes the actions
    assert rows[0]["length"] == STEPS  # standing still lasts the time limit


def test_scalars_have_return_and_score(evaluated):
    _, rows, root = evaluated
    assert _scalars(report.eval_dir(root)) == {
        f"eval/w_{w:g}/{key}": (STEP, pytest.approx(r[key]))
        for w, r in zip(WEIGHTS, rows, strict=True)
        for key in ("return", "score")
    }
    with open(os.path.join(report.eval_dir(root), returns.RETURN_FILE), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_suites_return_is_the_hand_stepped_one(evaluated):
    _, rows, _ = evaluated
    total = 0.0
    for rollout in make_rollouts((0,), EPISODES, (0.0,), 0):
        env = gym.make("Hopper-v5", max_episode_steps=STEPS)
        env.reset(seed=rollout.reset_seed)
        for _ in range(STEPS):  # w = 0: zero actions
            total += env.step(np.zeros(3, np.float32))[1]
        env.close()
    assert rows[0]["return"] == pytest.approx(total / EPISODES, rel=1e-12)


def test_a_minari_dataset_without_reference_scores_has_no_score_and_says_so(tmp_path, capsys):
    suite = gym_suite.GymSuite(episodes=1, max_episode_steps=3, plot=False)
    data = suites.EvalData("unused", _info(_minari()))
    rows = suite.evaluate(_policy(Sweep("none", (0.0,))), data, str(tmp_path), 0)
    assert "score" not in rows[0] and rows[0]["length"] == 3
    assert list(_scalars(report.eval_dir(str(tmp_path)))) == ["eval/return"]
    printed = capsys.readouterr().out
    assert "linear on Hopper-v5 at step 0: 1 episodes" in printed
    assert ["-", "return", "se", "min", "max", "length", "episodes"] in [
        line.split() for line in printed.splitlines()
    ]
    assert "(no normalised score: no reference scores are known for minari/" in printed


def test_reference_scores_come_from_bindings_then_minari_then_d4rl():
    plain = gym_suite.GymSuite()
    assert plain.reference_scores(_minari(refs=(0.0, 50.0))) == (0.0, 50.0)
    assert plain.reference_scores(_minari()) is None
    assert plain.reference_scores(_d4rl("walker2d-medium-replay-v2")) == (1.629008, 4592.3)
    assert plain.reference_scores(_d4rl("halfcheetah_expert-v2")) == (-280.178953, 12135.0)
    assert plain.reference_scores(_d4rl("ant-medium-v2")) == (-325.6, 3879.7)
    assert plain.reference_scores(_d4rl("antmaze-umaze-v2")) is None
    # A D4RL file that names no environment, evaluated on Hopper: D4RL's scores are per env.
    assert plain.reference_scores(_d4rl(None), "Hopper-v5") == HOPPER_REFS
    bound = gym_suite.GymSuite(ref_min_score=-1, ref_max_score=1)
    assert bound.reference_scores(_d4rl()) == (-1.0, 1.0)
    with pytest.raises(UserError, match=r"ref_min_score and GymSuite.ref_max_score go together"):
        gym_suite.GymSuite(ref_min_score=0.0).reference_scores(_d4rl())
    with pytest.raises(UserError, match=r"of the Minari metadata of minari/mujoco/hopper.*> ref_"):
        plain.reference_scores(_minari(refs=(5.0, 5.0)))


def test_a_minari_score_uses_the_datasets_reference_scores(tmp_path):
    suite = gym_suite.GymSuite(episodes=1, max_episode_steps=3, plot=False)
    data = suites.EvalData("unused", _info(_minari(refs=(0.0, 2.0))))
    (row,) = suite.evaluate(_policy(Sweep("none", (0.0,))), data, str(tmp_path), 0)
    assert row["score"] == pytest.approx(50 * row["return"])


@pytest.mark.parametrize(
    ("env_name", "env_id"),
    [
        ("hopper-medium-v2", "Hopper-v5"),
        ("hopper_medium-v2", "Hopper-v5"),  # a file stem
        ("halfcheetah-medium-expert-v2", "HalfCheetah-v5"),
        ("walker2d-random-v0", "Walker2d-v5"),
        ("ant-expert-v2", "Ant-v5"),
        ("Hopper-v2", "Hopper-v5"),  # Gymnasium's mujoco-py id, from a file's metadata
        ("InvertedPendulum-v5", "InvertedPendulum-v5"),  # not a D4RL task, but a Gymnasium id
    ],
)
def test_d4rl_names_map_to_the_newest_gymnasium_mujoco_env(env_name, env_id):
    assert gym_suite.GymSuite().env_for(_d4rl(env_name))[0] == env_id


def test_the_env_comes_from_the_binding_then_minaris_eval_env():
    source = _minari(env_name="Hopper-v4", eval_env_name="Hopper-v5")
    assert gym_suite.GymSuite().env_for(source)[0] == "Hopper-v5"
    assert gym_suite.GymSuite(env_name="Hopper-v4").env_for(source)[0] == "Hopper-v4"
    assert gym_suite.GymSuite(env_name="Walker2d-v5").env_for(_d4rl(None))[0] == "Walker2d-v5"


def test_time_limit_is_the_binding_or_minaris_collection_limit_on_its_own_env():
    source = _minari(max_episode_steps=300)
    assert gym_suite.GymSuite().time_limit(source, "Hopper-v5") == 300
    assert gym_suite.GymSuite().time_limit(source, "Hopper-v4") is None
    assert gym_suite.GymSuite(max_episode_steps=9).time_limit(source, "Hopper-v5") == 9
    assert gym_suite.GymSuite().time_limit(_d4rl(), "Hopper-v5") is None


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (_d4rl(None), r"d4rl/hopper_medium-v2 names no environment .* set GymSuite.env_name"),
        (_d4rl("antmaze-umaze-v2"), r"'antmaze-umaze-v2' has no Gymnasium counterpart"),
        (_minari(env_name=None), r"minari/.* names no environment .* set GymSuite.env_name"),
        (
            _minari(env_name="Hoper-v5"),
            r"unknown Gymnasium environment 'Hoper-v5'; close matches: Hopper-v5.*; it is the "
            r"environment of Minari dataset mujoco/hopper/medium-v0; set GymSuite.env_name",
        ),
    ],
)
def test_a_dataset_without_a_known_env_is_refused_naming_it(source, message, tmp_path):
    data = suites.EvalData("unused", _info(source))
    with pytest.raises(UserError, match=message):
        suites.evaluate(_policy(Sweep("none", (0.0,))), data, str(tmp_path), 0)


def test_d4rls_ant_is_refused_by_its_observation_size_before_and_at_evaluation(tmp_path):
    data = suites.EvalData("unused", _info(_d4rl("ant-medium-v2"), obs_dim=111, action_dim=8))
    policy = _policy(Sweep("none", (0.0,)), obs_dim=111, action_dim=8)
    message = (
        r"'Ant-v5' gives observations of 105 features but the policy takes 111 .*"
        r"D4RL issue #143.*set GymSuite.env_name"
    )
    suite = gym_suite.GymSuite()
    with pytest.raises(gym_eval.ObservationSizeError, match=message):
        suite.check_policy(policy, data)  # what a training run with evaluations checks first
    with pytest.raises(gym_eval.ObservationSizeError, match=message):
        suite.evaluate(policy, data, str(tmp_path), 0)


def test_the_suite_steps_the_env_in_the_datasets_action_units(tmp_path):
    # A Minari InvertedPendulum dataset: force in [-3, 3], stored scaled by 1/3. The policy's
    # 0.3 must push with 0.9, which topples the pole sooner than 0.3 would.
    source = _minari(env_name="InvertedPendulum-v5", max_episode_steps=50)
    data = suites.EvalData("unused", _info(source, obs_dim=4, action_dim=1, action_scale=1 / 3))

    def constant(inputs, knob_values, seed):
        return tf.fill([tf.shape(knob_values)[0], 1], 0.3)

    policy = _policy(Sweep("none", (0.0,)), obs_dim=4, action_dim=1, sample=constant)
    suite = gym_suite.GymSuite(episodes=1, plot=False)
    (row,) = suite.evaluate(policy, data, str(tmp_path), 0)
    (rollout,) = make_rollouts((0,), 1, (0.0,), 0)

    def length(force):
        env = gym.make("InvertedPendulum-v5", max_episode_steps=50)
        env.reset(seed=rollout.reset_seed)
        steps, done = 0, False
        while not done:
            _, _, terminated, truncated, _ = env.step(np.array([force], np.float32))
            steps, done = steps + 1, terminated or truncated
        env.close()
        return steps

    assert row["length"] == length(0.9) < length(0.3)


def test_the_table_has_the_score_columns():
    rows = [
        {
            "sweep_value": 1.0,
            "return": 10.0,
            "return_se": 1.0,
            "return_min": 9.0,
            "return_max": 11.0,
            "score": 55.5,
            "score_se": 0.5,
            "length": 20.0,
            "episodes": 2,
        }
    ]
    header, _, line = returns.format_table(rows, "w").splitlines()
    assert header.split() == [
        "w",
        "return",
        "se",
        "min",
        "max",
        "score",
        "score_se",
        "length",
        "episodes",
    ]
    assert line.split() == ["1", "10.0", "1.0", "9.0", "11.0", "55.5", "0.5", "20", "2"]
    assert returns.normalized_score(3234.3, HOPPER_REFS) == pytest.approx(100.0)
    assert returns.normalized_score(-20.272305, HOPPER_REFS) == 0.0


# End to end: a Minari dataset written by Minari's own DataCollector from Hopper-v5, through the
# binaries as a user runs them.

_TINY = [
    "train.num_steps = 4",
    "train.steps_per_loop = 4",
    "train.log_interval = 4",
    "train.batch_size = 16",
    "train.jit_compile = False",
    "CFGRLAgent.jit_sampler = False",
    "HIDDEN_DIMS = (16,)",
    "GymSuite.episodes = 1",
    "GymSuite.max_episode_steps = 5",
]


def _ok(result):
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def _collect_hopper(root) -> str:
    """Three random-action Hopper-v5 episodes of at most 30 steps, written by Minari."""
    minari = pytest.importorskip("minari")
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        patch.setenv("MINARI_DATASETS_PATH", str(root))  # not ~/.minari
        warnings.simplefilter("ignore")  # Minari's warnings about missing authors and such
        collector = minari.DataCollector(gym.make("Hopper-v5", max_episode_steps=30))
        collector.action_space.seed(0)
        for seed in range(3):
            collector.reset(seed=seed)
            done = False
            while not done:
                _, _, terminated, truncated, _ = collector.step(collector.action_space.sample())
                done = terminated or truncated
        collector.create_dataset(
            dataset_id="cfgrl/hopper/random-v0",
            algorithm_name="random",
            ref_min_score=HOPPER_REFS[0],
            ref_max_score=HOPPER_REFS[1],
        )
        collector.close()
    return os.path.join(str(root), "cfgrl", "hopper", "random-v0")


def test_a_minari_hopper_dataset_converts_trains_evaluates_and_exports(tmp_path):
    path = _collect_hopper(tmp_path / "minari")
    data = str(tmp_path / "data")
    converted = _ok(
        run_cli(
            "convert",
            "--gin_file=minari/convert.gin",
            f"--output_dir={data}",
            f"--gin_bindings=minari_source.path='{path}'",
            "--gin_bindings=build_dataset.num_shards=2",
        )
    )
    assert "source minari/cfgrl/hopper/random-v0" in converted.stdout
    run = str(tmp_path / "cfgrl")
    stdout = _ok(
        run_cli(
            "train",
            "--gin_file=gym/cfgrl.gin",
            f"--root_dir={run}",
            f"--gin_bindings=train.dataset_dir='{data}'",
            *(f"--gin_bindings={b}" for b in _TINY),
        )
    ).stdout
    assert "cfgrl on Hopper-v5 at step 4: 1 episodes per w" in stdout
    assert ["w", "return", "se", "min", "max", "score", "score_se", "length", "episodes"] in [
        line.split() for line in stdout.splitlines()
    ]
    rows = report.read_csv(os.path.join(run, "eval", "sweep.csv"))
    assert [r["sweep_value"] for r in rows] == [0.5, 1.0, 1.25, 1.5, 2.0, 3.0]
    for row in rows:
        assert row["task_id"] == "Hopper-v5" and row["episodes"] == 1 and row["length"] <= 5
        assert row["score"] == pytest.approx(returns.normalized_score(row["return"], HOPPER_REFS))
    _ok(run_cli("export", f"--root_dir={run}"))
    export_dir = os.path.join(run, "export", "4")
    with open(os.path.join(export_dir, "cfgrl_export.json")) as f:
        meta = json.load(f)
    assert (meta["env_name"], meta["action_scale"], meta["observation_dim"]) == ("Hopper-v5", 1, 11)
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    actions = serve(
        observations=tf.zeros([2, 11]),
        guidance_weight=tf.constant([1.0, 3.0]),
        seed=tf.constant(1, tf.int64),
    )["actions"].numpy()
    assert actions.shape == (2, 3) and np.all(np.isfinite(actions))
