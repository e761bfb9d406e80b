"""Learner: exact resume, total-step semantics, distribution, logging, non-finite losses, the
evaluation hook."""

import csv
import functools
import os

import numpy as np
import pytest
import tensorflow as tf
from testutil import tiny_arrays

from cfgrl_tf import distribute
from cfgrl_tf.agents import CFGRLAgent, FlowBCAgent, IQLCritic
from cfgrl_tf.data import reader, spec, writer
from cfgrl_tf.errors import TrainingError
from cfgrl_tf.learner import Learner, read_metrics


def _agent_fn(**dims):
    return CFGRLAgent(
        critic=IQLCritic(hidden_dims=(32, 32)), hidden_dims=(32, 32), num_flow_steps=4, **dims
    )


def _dataset(tmp_path, name="data", **kwargs) -> reader.Dataset:
    path = str(tmp_path / name)
    writer.write_dataset(
        tiny_arrays(**kwargs),
        path,
        features=spec.transition_features(1, 2),
        num_shards=2,
        source={"name": "test/tiny", "seed": 0},
        labels={"optimal": {"rule": "none"}},
        action_scale=1.0,
    )
    return reader.load_dataset(path)


def _learner(dataset, root_dir, strategy=None, **kwargs) -> Learner:
    defaults = dict(batch_size=32, seed=3, steps_per_loop=10, checkpoint_interval=10)
    defaults.update(kwargs)
    return Learner(
        _agent_fn, dataset, str(root_dir), strategy or tf.distribute.get_strategy(), **defaults
    )


def _weights(learner: Learner) -> list[np.ndarray]:
    weights = [v.numpy() for v in learner.agent.weights]
    assert len(weights) > 20  # Guards against comparing empty lists.
    return weights


def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(tmp_path):
    dataset = _dataset(tmp_path)
    straight = _learner(dataset, tmp_path / "straight")
    straight.train(40, log_interval=20)

    first = _learner(dataset, tmp_path / "resumed")
    first.train(20, log_interval=20)
    second = _learner(dataset, tmp_path / "resumed")  # A new process would do just this.
    assert second.current_step == 20
    second.train(40, log_interval=20)

    assert second.current_step == straight.current_step == 40
    for a, b in zip(_weights(straight), _weights(second), strict=True):
        np.testing.assert_array_equal(a, b)
    # The optimizer state was restored too (Adam's step counter).
    assert int(second.agent.actor_optimizer.iterations.numpy()) == 40


def test_a_different_seed_gives_different_weights(tmp_path):
    dataset = _dataset(tmp_path)
    a = _learner(dataset, tmp_path / "a", seed=1)
    b = _learner(dataset, tmp_path / "b", seed=2)
    a.train(10, log_interval=10)
    b.train(10, log_interval=10)
    assert any(not np.array_equal(x, y) for x, y in zip(_weights(a), _weights(b), strict=True))


def test_num_steps_is_a_total_across_restarts(tmp_path, capsys):
    dataset = _dataset(tmp_path)
    _learner(dataset, tmp_path / "run").train(20, log_interval=10)
    again = _learner(dataset, tmp_path / "run")
    before = _weights(again)
    assert again.train(20) == {}
    assert "nothing to train" in capsys.readouterr().out
    for a, b in zip(before, _weights(again), strict=True):
        np.testing.assert_array_equal(a, b)
    again.train(30, log_interval=10)
    assert again.current_step == 30
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith("ckpt-30")


def test_logs_csv_and_tensorboard_events(tmp_path):
    dataset = _dataset(tmp_path)
    learner = _learner(dataset, tmp_path / "run")
    last = learner.train(30, log_interval=10)
    assert np.isfinite(last["actor/flow_loss"]) and last["perf/steps_per_second"] > 0
    with open(tmp_path / "run" / "train" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [10, 20, 30]
    assert {"critic/q_loss", "critic/value_loss", "actor/flow_loss"} <= set(rows[0])
    events = [f for f in os.listdir(tmp_path / "run" / "train") if f.startswith("events.out")]
    assert events


def test_on_eval_lands_on_exact_multiples_and_leaves_training_unchanged(tmp_path):
    dataset = _dataset(tmp_path)
    straight = _learner(dataset, tmp_path / "straight")
    straight.train(50, log_interval=10)

    evaluated = []

    def on_eval(step):
        # The checkpoint of a step that is also a checkpoint step is saved before its evaluation.
        evaluated.append((step, learner.manager.latest_checkpoint.rsplit("-", 1)[1]))

    learner = _learner(dataset, tmp_path / "evaluated")
    # Loops of 10 steps that would run past 15, 30 and 45 stop there; the next ends at 20, 50.
    learner.train(50, log_interval=10, eval_interval=15, on_eval=on_eval)
    assert evaluated == [(15, "10"), (30, "30"), (45, "40")]
    for a, b in zip(_weights(straight), _weights(learner), strict=True):
        np.testing.assert_array_equal(a, b)
    # Logs and checkpoints keep their steps (loops still end on every multiple of 10).
    assert sorted(read_metrics(str(tmp_path / "evaluated"))) == [10, 20, 30, 40, 50]
    with pytest.raises(TrainingError, match="eval_interval=-1 must be >= 0"):
        learner.train(60, eval_interval=-1)


def test_read_metrics_takes_the_last_row_of_a_step_under_each_header(tmp_path):
    path = tmp_path / "train" / "metrics.csv"
    path.parent.mkdir()
    path.write_text("step,a,b\n10,1.0,2.0\n20,3.0,4.0\nstep,a\n20,5.0\n30,6.0\n")
    assert read_metrics(str(tmp_path)) == {
        10: {"a": 1.0, "b": 2.0},
        20: {"a": 5.0},  # A resumed run logged step 20 again, with other metrics.
        30: {"a": 6.0},
    }
    assert read_metrics(str(tmp_path / "no_run")) == {}


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    strategy = distribute.make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    dataset = _dataset(tmp_path, reward_scale=1.0)
    learner = _learner(dataset, tmp_path / "mirrored", strategy=strategy, batch_size=64)
    first = learner.train(10, log_interval=10)
    last = learner.train(200, log_interval=190)
    assert learner.current_step == 200
    assert last["actor/flow_loss"] < first["actor/flow_loss"]
    # The critic learned the reward (1 for a0 > 0, else 0): its mean Q is near the data mean 0.5.
    assert abs(last["critic/q_mean"] - 0.5) < 0.15
    # Every variable is mirrored on both devices and the copies agree.
    for v in learner.agent.weights:
        copies = strategy.experimental_local_results(v.value)  # The tf.Variable under Keras.
        assert type(v.value).__name__ == "MirroredVariable"
        assert len(copies) == 2
        np.testing.assert_array_equal(copies[0].numpy(), copies[1].numpy())

    # The checkpoint restores into an undistributed learner.
    plain = _learner(dataset, tmp_path / "mirrored")
    assert plain.current_step == 200
    for a, b in zip(_weights(learner), _weights(plain), strict=True):
        np.testing.assert_array_equal(a, b)


def test_batch_that_does_not_split_over_replicas_is_refused(tmp_path):
    strategy = distribute.make_strategy("mirrored")
    with pytest.raises(TrainingError, match="batch_size=33 does not split over 2 replicas"):
        _learner(_dataset(tmp_path), tmp_path / "run", strategy=strategy, batch_size=33)


def test_non_finite_loss_stops_and_names_the_metric_without_saving(tmp_path):
    good = _dataset(tmp_path, name="good")
    run = tmp_path / "run"
    _learner(good, run).train(10, log_interval=10)
    ckpt_dir = run / "checkpoints"
    saved = sorted(os.listdir(ckpt_dir))

    # Rewards of 1e30 are finite on disk but square to infinity in the Q loss.
    bad = _dataset(tmp_path, name="bad", reward_scale=1e30)
    learner = _learner(bad, run)
    with pytest.raises(TrainingError, match=r"non-finite .*critic/q_loss.* at step 11") as info:
        learner.train(30, log_interval=10)
    assert "ckpt-10" in str(info.value)
    assert sorted(os.listdir(ckpt_dir)) == saved


@pytest.mark.parametrize(
    "other",
    [
        # Same agent, other architecture: shapes differ.
        lambda **d: CFGRLAgent(critic=IQLCritic((32, 32)), hidden_dims=(64, 64), **d),
        # Another agent: its variables are not in the checkpoint at all.
        lambda **d: FlowBCAgent(hidden_dims=(32, 32), **d),
    ],
    ids=["other_shapes", "other_agent"],
)
def test_resuming_with_another_configuration_is_refused(tmp_path, other):
    dataset = _dataset(tmp_path)
    _learner(dataset, tmp_path / "run").train(10, log_interval=10)
    with pytest.raises(TrainingError, match=r"ckpt-10 was written by a different configuration"):
        Learner(
            other,
            dataset,
            str(tmp_path / "run"),
            tf.distribute.get_strategy(),
            batch_size=32,
            seed=3,
        )


def _goal_learner(dataset_dir, root_dir, strategy=None, **kwargs):
    from cfgrl_tf.agents import HCFGRLAgent
    from cfgrl_tf.data.goals import GoalSampler

    agent_fn = functools.partial(HCFGRLAgent, hidden_dims=(32, 32), num_flow_steps=4)
    defaults = dict(batch_size=32, seed=5, steps_per_loop=10, checkpoint_interval=10)
    defaults.update(kwargs)
    return Learner(
        agent_fn,
        reader.load_dataset(dataset_dir),
        str(root_dir),
        strategy or tf.distribute.get_strategy(),
        goal_sampler=GoalSampler(subgoal_steps=4),
        **defaults,
    )


def test_goal_conditioned_run_resumes_exactly_and_runs_mirrored(tiny_goal_dir, tmp_path):
    """Goal draws are part of the stateless batch, so a resumed goal-conditioned run ends with
    the weights of an uninterrupted one; the same run also trains under MirroredStrategy."""
    straight = _goal_learner(tiny_goal_dir, tmp_path / "straight")
    straight.train(30, log_interval=10)
    first = _goal_learner(tiny_goal_dir, tmp_path / "resumed")
    first.train(10, log_interval=10)
    second = _goal_learner(tiny_goal_dir, tmp_path / "resumed")
    second.train(30, log_interval=10)
    for a, b in zip(_weights(straight), _weights(second), strict=True):
        np.testing.assert_array_equal(a, b)

    strategy = distribute.make_strategy("mirrored")
    mirrored = _goal_learner(tiny_goal_dir, tmp_path / "mirrored", strategy, batch_size=64)
    metrics = mirrored.train(20, log_interval=20)
    assert mirrored.current_step == 20
    assert {"actor/flow_loss", "high_actor/flow_loss"} <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())


def test_single_task_run_resumes_exactly_and_runs_mirrored(tiny_task_dir, tmp_path):
    """CFGRL with the single-task settings (online-Q advantage) on OGBench single-task data: a
    resumed run ends with the weights of an uninterrupted one, and it trains mirrored."""

    def agent_fn(**dims):
        critic = IQLCritic(hidden_dims=(32, 32), advantage_from="online")
        return CFGRLAgent(critic=critic, hidden_dims=(32, 32), num_flow_steps=4, **dims)

    def learner(root, strategy=None, **kwargs):
        defaults = dict(batch_size=32, seed=3, steps_per_loop=10, checkpoint_interval=10)
        defaults.update(kwargs)
        return Learner(
            agent_fn,
            reader.load_dataset(tiny_task_dir),
            str(root),
            strategy or tf.distribute.get_strategy(),
            **defaults,
        )

    straight = learner(tmp_path / "straight")
    straight.train(30, log_interval=10)
    learner(tmp_path / "resumed").train(10, log_interval=10)
    second = learner(tmp_path / "resumed")
    second.train(30, log_interval=10)
    for a, b in zip(_weights(straight), _weights(second), strict=True):
        np.testing.assert_array_equal(a, b)

    mirrored = learner(tmp_path / "mirrored", distribute.make_strategy("mirrored"), batch_size=64)
    metrics = mirrored.train(20, log_interval=20)
    assert mirrored.current_step == 20
    assert all(np.isfinite(v) for v in metrics.values())


def test_in_graph_and_tf_data_pipelines_train_on_the_same_batches(tiny_goal_dir, tmp_path):
    """Batches drawn inside the compiled loop from the dataset held on each device (goal draws
    included) are the tf.data pipeline's, replica by replica (mirrored on two logical CPUs): the
    weights end equal, also when the step is XLA-compiled (the draw stays outside XLA)."""
    mirrored = {}
    for pipeline in ("in_graph", "tf_data"):
        strategy = distribute.make_strategy("mirrored")
        learner = _goal_learner(
            tiny_goal_dir, tmp_path / pipeline, strategy, batch_size=64, input_pipeline=pipeline
        )
        learner.train(20, log_interval=20)
        mirrored[pipeline] = _weights(learner)
    for a, b in zip(mirrored["in_graph"], mirrored["tf_data"], strict=True):
        np.testing.assert_array_equal(a, b)

    dataset = _dataset(tmp_path)
    jitted = {
        pipeline: _learner(
            dataset, tmp_path / f"jit_{pipeline}", jit_compile=True, input_pipeline=pipeline
        )
        for pipeline in ("in_graph", "tf_data")
    }
    for learner in jitted.values():
        learner.train(20, log_interval=20)
    for a, b in zip(*(_weights(learner) for learner in jitted.values()), strict=True):
        np.testing.assert_array_equal(a, b)


def test_input_pipeline_auto_is_tf_data_on_cpus_and_unknown_ones_are_refused(tmp_path):
    dataset = _dataset(tmp_path)
    assert _learner(dataset, tmp_path / "auto").input_pipeline == "tf_data"  # this CPU
    mirrored = distribute.make_strategy("mirrored")
    assert _learner(dataset, tmp_path / "m", mirrored, batch_size=64).input_pipeline == "tf_data"
    with pytest.raises(TrainingError, match="input_pipeline='gpu': expected one of auto"):
        _learner(dataset, tmp_path / "run", input_pipeline="gpu")
