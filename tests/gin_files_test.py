"""Every experiment gin file under gin/ parses, builds its agent and trains a few steps."""

import glob
import os
import re

import gin
import numpy as np
import pytest
import tensorflow as tf

from cfgrl_tf import distribute, errors, training
from cfgrl_tf.cli import common
from cfgrl_tf.eval.report import read_csv

_GIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gin")
_ALL = sorted(glob.glob(os.path.join(_GIN, "**", "*.gin"), recursive=True))
# Files meant to be included after an agent's file, and fragments included by agent files.
_OVERLAYS = [p for p in _ALL if os.path.basename(p) == "paper_size.gin"]
_FRAGMENTS = [p for p in _ALL if os.path.basename(p).endswith("common.gin")]
_AGENT_FILES = [p for p in _ALL if p not in _OVERLAYS + _FRAGMENTS]
_BANDIT_FILES = [p for p in _AGENT_FILES if "/bandit/" in p]
_GOAL_FILES = [p for p in _AGENT_FILES if "/ogbench/" in p]
_TASK_FILES = [p for p in _AGENT_FILES if "/ogbench_singletask/" in p]
_GYM_FILES = [p for p in _AGENT_FILES if "/gym/" in p]
_EXORL_FILES = [p for p in _AGENT_FILES if "/exorl/" in p]

_TINY = [
    "train.num_steps = 4",
    "train.steps_per_loop = 2",
    "train.log_interval = 2",
    "train.batch_size = 16",
    "train.jit_compile = False",
    "IQLCritic.hidden_dims = (16,)",
    "CFGRLAgent.hidden_dims = (16,)",
    "FlowBCAgent.hidden_dims = (16,)",
    "IQLAWRAgent.hidden_dims = (16,)",
    "TDCritic.hidden_dims = (16,)",
    "DIFFUSION_HIDDEN = (16,)",
    "DIFFUSION_STEPS = 5",
    "BanditSuite.num_samples = 50",
    "BanditSuite.plot = False",
]
_TINY_GOAL = [
    "train.num_steps = 4",
    "train.steps_per_loop = 2",
    "train.log_interval = 2",
    "train.batch_size = 16",
    "train.jit_compile = False",
    "HIDDEN_DIMS = (16,)",
    "OGBenchGoalSuite.task_ids = (1,)",
    "OGBenchGoalSuite.episodes_per_task = 1",
    "OGBenchGoalSuite.max_episode_steps = 3",
    "OGBenchGoalSuite.plot = False",
]

_TINY_TASK = [
    "train.num_steps = 4",
    "train.steps_per_loop = 2",
    "train.log_interval = 2",
    "train.batch_size = 16",
    "train.jit_compile = False",
    "HIDDEN_DIMS = (16,)",
    "OGBenchTaskSuite.episodes = 2",
    "OGBenchTaskSuite.max_episode_steps = 3",
]

_TINY_GYM = [
    "train.num_steps = 4",
    "train.steps_per_loop = 2",
    "train.log_interval = 2",
    "train.batch_size = 16",
    "train.jit_compile = False",
    "HIDDEN_DIMS = (16,)",
    "GymSuite.episodes = 2",
    "GymSuite.max_episode_steps = 3",
]
_TINY_EXORL = [*_TINY_GYM[:-2], "DMCSuite.episodes = 2", "DMCSuite.max_episode_steps = 3"]


def _rel(path):
    return os.path.relpath(path, _GIN)


def test_every_bandit_agent_has_a_gin_file():
    names = {"cfgrl", "flow_bc", "iql_awr", "diffusion_bc", "diffusion_ql", "qgrad", "edp"}
    assert {f"bandit/{name}.gin" for name in names} <= set(map(_rel, _AGENT_FILES))


def test_every_goal_conditioned_agent_has_a_gin_file():
    expected = {"gcbc", "gcfbc", "cfgrl", "hgcbc", "hgcfbc", "hcfgrl"}
    assert {f"ogbench/{name}.gin" for name in expected} <= set(map(_rel, _GOAL_FILES))


@pytest.mark.parametrize("path", _GOAL_FILES, ids=_rel)
def test_goal_agent_file_trains_and_evaluates(path, tiny_goal_dir, tmp_path):
    common.parse_gin([_rel(path)], [f"train.dataset_dir = '{tiny_goal_dir}'", *_TINY_GOAL])
    root = str(tmp_path / "run")
    learner = training.train(root, tf.distribute.get_strategy())
    assert learner.current_step == 4
    rows = read_csv(os.path.join(root, "eval", "sweep.csv"))
    overall = [r for r in rows if r["task_id"] == "overall"]
    assert [r["sweep_value"] for r in overall] == list(learner.agent.eval_sweep().values)
    assert all(0.0 <= r["success"] <= 1.0 for r in rows)


@pytest.mark.parametrize("path", _GOAL_FILES, ids=_rel)
def test_goal_agent_files_are_cpu_scale(path):
    common.parse_gin([_rel(path)], ["train.dataset_dir = 'unused'"])
    assert gin.query_parameter("train.batch_size") == 256
    assert gin.query_parameter("train.num_steps") == 100_000
    agent_fn = gin.query_parameter("train.agent").scoped_configurable_fn
    agent = agent_fn(observation_dim=2, action_dim=2, goal_dim=2)
    sizes = {tuple(net.hidden_dims) for net in agent.networks().values()}
    assert sizes == {(256, 256, 256)}


def test_every_single_task_agent_has_a_gin_file():
    names = {"cfgrl", "iql_awr", "diffusion_bc", "diffusion_ql", "qgrad", "edp"}
    expected = {f"ogbench_singletask/{name}.gin" for name in names}
    assert expected <= set(map(_rel, _TASK_FILES))


@pytest.mark.parametrize("path", _TASK_FILES, ids=_rel)
def test_single_task_agent_file_trains_and_evaluates(path, tiny_task_dir, tmp_path):
    common.parse_gin([_rel(path)], [f"train.dataset_dir = '{tiny_task_dir}'", *_TINY_TASK])
    root = str(tmp_path / "run")
    learner = training.train(root, tf.distribute.get_strategy())
    assert learner.current_step == 4
    rows = read_csv(os.path.join(root, "eval", "sweep.csv"))
    assert [r["sweep_value"] for r in rows] == list(learner.agent.eval_sweep().values)
    # Three steps without reaching the goal: OGBench's reward is -1 per step.
    assert all(r["success"] == 0.0 and r["return"] == -3.0 for r in rows)
    assert os.path.isfile(os.path.join(root, "eval", "rollouts.png"))


@pytest.mark.parametrize("path", _TASK_FILES, ids=_rel)
def test_single_task_agent_files_are_cpu_scale_with_the_papers_critic(path):
    common.parse_gin([_rel(path)], ["train.dataset_dir = 'unused'"])
    assert gin.query_parameter("train.batch_size") == 256
    assert gin.query_parameter("train.num_steps") == 100_000
    assert gin.query_parameter("IQLCritic.expectile") == 0.9
    assert gin.query_parameter("IQLCritic.advantage_from") == "online"
    agent_fn = gin.query_parameter("train.agent").scoped_configurable_fn
    agent = agent_fn(observation_dim=2, action_dim=2)
    sizes = {tuple(net.hidden_dims) for net in agent.networks().values()}
    assert sizes == {(256, 256, 256)}


def test_every_gym_agent_has_a_gin_file():
    assert {"gym/cfgrl.gin", "gym/iql_awr.gin"} <= set(map(_rel, _GYM_FILES))


@pytest.mark.parametrize("path", _GYM_FILES, ids=_rel)
def test_gym_agent_file_trains_and_evaluates(path, tiny_gym_dir, tmp_path):
    common.parse_gin([_rel(path)], [f"train.dataset_dir = '{tiny_gym_dir}'", *_TINY_GYM])
    root = str(tmp_path / "run")
    learner = training.train(root, tf.distribute.get_strategy())
    assert learner.current_step == 4
    rows = read_csv(os.path.join(root, "eval", "sweep.csv"))
    assert [r["sweep_value"] for r in rows] == list(learner.agent.eval_sweep().values)
    # Hopper-v5 for 3 steps: a healthy hopper earns about 1 per step; D4RL's hopper scores.
    assert all(r["task_id"] == "Hopper-v5" and 0.0 < r["return"] < 3 * 5 for r in rows)
    assert all(np.isfinite(r["score"]) for r in rows)


@pytest.mark.parametrize("path", _GYM_FILES, ids=_rel)
def test_gym_agent_files_are_cpu_scale_with_iqls_locomotion_critic(path):
    common.parse_gin([_rel(path)], ["train.dataset_dir = 'unused'"])
    assert gin.query_parameter("train.batch_size") == 256
    assert gin.query_parameter("train.num_steps") == 100_000
    assert gin.query_parameter("IQLCritic.expectile") == 0.7
    agent_fn = gin.query_parameter("train.agent").scoped_configurable_fn
    agent = agent_fn(observation_dim=2, action_dim=2)
    sizes = {tuple(net.hidden_dims) for net in agent.networks().values()}
    assert sizes == {(256, 256, 256)}


def test_every_exorl_agent_has_a_gin_file():
    assert {"exorl/cfgrl.gin", "exorl/iql_awr.gin"} <= set(map(_rel, _EXORL_FILES))


@pytest.mark.parametrize("path", _EXORL_FILES, ids=_rel)
def test_exorl_agent_file_trains_and_evaluates(path, tiny_exorl_dir, tmp_path):
    common.parse_gin([_rel(path)], [f"train.dataset_dir = '{tiny_exorl_dir}'", *_TINY_EXORL])
    root = str(tmp_path / "run")
    learner = training.train(root, tf.distribute.get_strategy())
    assert learner.current_step == 4
    rows = read_csv(os.path.join(root, "eval", "sweep.csv"))
    assert [r["sweep_value"] for r in rows] == list(learner.agent.eval_sweep().values)
    # walker_walk's reward is in [0, 1] per step.
    assert all(r["task_id"] == "walker_walk" and 0.0 <= r["return"] <= 3.0 for r in rows)
    assert all(r["length"] == 3 for r in rows)


@pytest.mark.parametrize("path", _EXORL_FILES, ids=_rel)
def test_exorl_agent_files_are_cpu_scale_with_the_papers_exorl_critic(path):
    common.parse_gin([_rel(path)], ["train.dataset_dir = 'unused'"])
    assert gin.query_parameter("train.batch_size") == 256
    assert gin.query_parameter("train.num_steps") == 100_000
    assert gin.query_parameter("IQLCritic.advantage_from") == "target"
    assert gin.query_parameter("IQLCritic.activation") == "mish"
    agent_fn = gin.query_parameter("train.agent").scoped_configurable_fn
    agent = agent_fn(observation_dim=2, action_dim=2)
    sizes = {tuple(net.hidden_dims) for net in agent.networks().values()}
    assert sizes == {(256, 256, 256)}
    if agent.name == "cfgrl":
        assert agent.objective == "paired" and agent.num_flow_steps == 32
        assert agent.generative.discrete_times and agent.flow.online.layer_norm
        assert agent.eval_sweep().values == (1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 100.0)


@pytest.mark.parametrize("path", _BANDIT_FILES, ids=_rel)
def test_agent_file_trains_and_evaluates(path, tiny_bandit_dir, tmp_path):
    common.parse_gin([_rel(path)], [f"train.dataset_dir = '{tiny_bandit_dir}'", *_TINY])
    root = str(tmp_path / "run")
    learner = training.train(root, tf.distribute.get_strategy())
    assert learner.current_step == 4
    rows = read_csv(os.path.join(root, "eval", "sweep.csv"))
    assert [r["value"] for r in rows] == list(learner.agent.eval_sweep().values)
    assert all(np.isfinite(r["reward"]) and 0.0 <= r["near_data"] <= 1.0 for r in rows)


# Each overlay's scale; gin/paper_size.gin scales every agent file, a folder's own overlay (the
# ExORL agents' 3x512) the files of its folder.
_PAPER_SIZES = {"paper_size.gin": (512,) * 4, "exorl/paper_size.gin": (512,) * 3}


def test_every_overlay_has_its_scale():
    assert set(map(_rel, _OVERLAYS)) == set(_PAPER_SIZES)


@pytest.mark.parametrize("path", _OVERLAYS, ids=_rel)
def test_paper_size_overlay_scales_every_agent(path):
    folder = os.path.dirname(_rel(path))
    agent_files = [p for p in _AGENT_FILES if _rel(p).startswith(folder)]
    assert agent_files
    for agent_file in agent_files:
        gin.clear_config()
        common.parse_gin([_rel(agent_file), _rel(path)], ["train.dataset_dir = 'unused'"])
        assert gin.query_parameter("train.batch_size") == 1024
        assert gin.query_parameter("train.num_steps") == 1_000_000
        agent_fn = gin.query_parameter("train.agent").scoped_configurable_fn
        extra = {"goal_dim": 2} if "/ogbench/" in agent_file else {}
        agent = agent_fn(observation_dim=1, action_dim=2, **extra)
        sizes = {
            tuple(net.hidden_dims)
            for net in agent.networks().values()
            if hasattr(net, "hidden_dims")
        }
        assert sizes == {_PAPER_SIZES[_rel(path)]}, (agent_file, sizes)


def _agent_class(path):
    with open(path) as f:
        return re.search(r"^train\.agent = @(\w+)", f.read(), re.M).group(1)


# The families the mirrored test runs, cheapest data first.
_MIRRORED_FAMILIES = {
    "bandit": _BANDIT_FILES,
    "ogbench": _GOAL_FILES,
    "ogbench_singletask": _TASK_FILES,
    "gym": _GYM_FILES,
}


def _mirrored_files():
    """One shipped file per agent class (from its first family in _MIRRORED_FAMILIES), plus each
    family's IQL+AWR file (or its first) where that family would otherwise go unrun: every agent's
    step and every family's input pipeline run mirrored, without training the same agent on a
    second family's data."""
    picked, classes = [], set()
    for files in _MIRRORED_FAMILIES.values():
        for path in files:
            agent_class = _agent_class(path)
            if agent_class not in classes:
                classes.add(agent_class)
                picked.append(path)
        if not set(files) & set(picked):
            awr = [p for p in files if os.path.basename(p) == "iql_awr.gin"]
            picked.append((awr or files)[0])
    return picked


def test_the_mirrored_files_cover_every_agent_class_and_family():
    picked = _mirrored_files()
    every = [path for files in _MIRRORED_FAMILIES.values() for path in files]
    assert {_agent_class(p) for p in picked} == {_agent_class(p) for p in every}
    assert {os.path.dirname(_rel(p)) for p in picked} == set(_MIRRORED_FAMILIES)
    assert len(picked) < len(every)


@pytest.mark.parametrize("path", _mirrored_files(), ids=_rel)
def test_agent_file_trains_mirrored_with_its_own_settings(path, request, tmp_path, capsys):
    """Each shipped config under MirroredStrategy on 2 logical CPUs, keeping its own
    `train.jit_compile` (True in every shipped file: XLA cannot span logical CPUs, so the learner
    turns it off with a note instead of crashing)."""
    family = os.path.dirname(_rel(path))
    tiny, fixture = {
        "ogbench": (_TINY_GOAL, "tiny_goal_dir"),
        "ogbench_singletask": (_TINY_TASK, "tiny_task_dir"),
        "bandit": (_TINY, "tiny_bandit_dir"),
        "gym": (_TINY_GYM, "tiny_gym_dir"),
        "exorl": (_TINY_EXORL, "tiny_exorl_dir"),
    }[family]
    data = request.getfixturevalue(fixture)  # only the family's dataset is built
    tiny = [b for b in tiny if not b.startswith("train.jit_compile")]
    common.parse_gin([_rel(path)], [f"train.dataset_dir = '{data}'", *tiny])
    assert gin.query_parameter("train.jit_compile") is True
    gin.bind_parameter("train.evaluate_at_end", False)
    strategy = distribute.make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    learner = training.train(str(tmp_path / "run"), strategy)
    assert learner.current_step == 4
    assert "jit_compile is off for this run: 2 replicas" in capsys.readouterr().out
    assert all(np.all(np.isfinite(w.numpy())) for w in learner.agent.weights)


def test_a_misspelled_parameter_is_refused_naming_the_ones_that_exist():
    with pytest.raises(errors.ConfigError) as raised:
        common.parse_gin(["ogbench/cfgrl.gin"], ["GCCFGRLAgent.hiden_dims = (3,)"])
    message = str(raised.value)
    assert "GCCFGRLAgent.hiden_dims" in message
    assert "hidden_dims" in message.split("its parameters are:")[1]
    # Parameters a base class takes through **kwargs are accepted.
    gin.clear_config()
    common.parse_gin(["ogbench/cfgrl.gin"], ["GCCFGRLAgent.learning_rate = 1e-3"])


def test_every_gin_and_pipeline_folder_is_installed():
    """A non-editable install copies the gin trees by the folders setup.cfg lists: a new folder
    missing there would leave an installed cfgrl-train without its configs."""
    import configparser

    repo = os.path.dirname(_GIN)
    config = configparser.ConfigParser()
    config.read(os.path.join(repo, "setup.cfg"))
    installed = set(config["options.data_files"])
    for tree in ("gin", "pipelines"):
        for folder, _, files in os.walk(os.path.join(repo, tree)):
            if any(f.endswith(".gin") for f in files):
                rel = os.path.relpath(folder, repo)
                assert f"share/cfgrl_tf/{rel}" in installed, rel
