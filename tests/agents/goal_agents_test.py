"""Goal-conditioned agents: every agent trains and samples; CFGRL's goal dropout and guidance."""

import numpy as np
import pytest
import tensorflow as tf

from cfgrl_tf import agents as gc
from cfgrl_tf.agents.base import agent_arguments
from cfgrl_tf.data.goals import GoalSampler
from cfgrl_tf.data.reader import load_dataset, make_batch_dataset
from cfgrl_tf.errors import DatasetError, UserError
from cfgrl_tf.generative import FlowMatching

ALL = [gc.GCBCAgent, gc.GCFBCAgent, gc.GCCFGRLAgent, gc.HGCBCAgent, gc.HGCFBCAgent, gc.HCFGRLAgent]
SEED = tf.constant([7, 8], tf.int64)


def _batch(path, size=64):
    arrays = load_dataset(path).arrays
    return next(
        iter(make_batch_dataset(arrays, size, seed=0, goal_sampler=GoalSampler(subgoal_steps=3)))
    )


def _make(cls, path, **kwargs):
    info = load_dataset(path).info
    agent = cls(**agent_arguments(cls, info), hidden_dims=(32, 32), **kwargs)
    agent.build()
    return agent


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_agent_trains_and_samples(cls, tiny_goal_dir):
    agent = _make(cls, tiny_goal_dir)
    batch = _batch(tiny_goal_dir)
    before = [w.numpy().copy() for w in agent.weights]
    metrics = agent.train_step(batch, SEED, 64)
    assert metrics and all(np.isfinite(float(v)) for v in metrics.values())
    heads = {"actor", "high_actor"} if cls.hierarchical else {"actor"}
    assert {k.split("/")[0] for k in metrics} == heads
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, agent.weights, strict=True)]
    assert any(changed)
    obs, goals = batch["observations"][:16], batch["goals"][:16]
    actions = agent.sample_actions(
        {"observations": obs, "goals": goals}, tf.ones([16]), tf.constant(5)
    ).numpy()
    assert actions.shape == (16, 2) and np.all(np.abs(actions) <= 1.0)
    again = agent.sample_actions(
        {"observations": obs, "goals": goals}, tf.ones([16]), tf.constant(5)
    ).numpy()
    np.testing.assert_array_equal(actions, again)  # a seed fixes the sample
    sweep = agent.eval_sweep()
    assert sweep.name == ("guidance_weight" if "cfgrl" in cls.name else "none")
    with pytest.raises(UserError, match=r"missing \['goals'\]"):
        agent.policy().sample({"observations": obs}, tf.ones([16]), tf.constant(5))


def test_guided_agents_take_a_per_row_weight(tiny_goal_dir):
    agent = _make(gc.HCFGRLAgent, tiny_goal_dir)
    batch = _batch(tiny_goal_dir)
    for _ in range(3):
        agent.train_step(batch, SEED, 64)
    agent.update_targets()
    obs = tf.repeat(batch["observations"][:1], 4, axis=0)
    goals = tf.repeat(batch["goals"][:1], 4, axis=0)
    w = tf.constant([1.0, 3.0, 1.0, 3.0])
    rows = agent.sample_actions({"observations": obs, "goals": goals}, w, tf.constant(2)).numpy()
    # The noise depends on the row, so compare each row with a batch of that row's w alone.
    for value in (1.0, 3.0):
        alone = agent.sample_actions(
            {"observations": obs, "goals": goals}, tf.fill([4], value), tf.constant(2)
        ).numpy()
        picked = np.flatnonzero(w.numpy() == value)
        np.testing.assert_allclose(rows[picked], alone[picked], atol=1e-5)
    assert not np.allclose(rows[0], rows[1])


def test_unguided_flow_ignores_w(tiny_goal_dir):
    agent = _make(gc.GCFBCAgent, tiny_goal_dir)
    batch = _batch(tiny_goal_dir)
    obs, goals = batch["observations"][:8], batch["goals"][:8]
    a = agent.sample_actions(
        {"observations": obs, "goals": goals}, tf.fill([8], 1.0), tf.constant(1)
    ).numpy()
    b = agent.sample_actions(
        {"observations": obs, "goals": goals}, tf.fill([8], 3.0), tf.constant(1)
    ).numpy()
    np.testing.assert_array_equal(a, b)


def test_cfgrl_drops_ten_percent_of_goals_to_the_null_goal(tiny_goal_dir, monkeypatch):
    agent = _make(gc.GCCFGRLAgent, tiny_goal_dir)
    assert agent.goal_dropout == 0.1
    masks = []
    original = FlowMatching.loss

    def recording(self, network, context, *args, **kwargs):
        masks.append(context["condition_mask"].numpy())
        return original(self, network, context, *args, **kwargs)

    monkeypatch.setattr(FlowMatching, "loss", recording)
    agent.train_step(_batch(tiny_goal_dir, size=4000), SEED, 4000)
    assert abs(np.mean(masks[-1] == 0) - 0.1) < 0.02
    # GCFBC never drops its goal.
    fbc = _make(gc.GCFBCAgent, tiny_goal_dir)
    fbc.train_step(_batch(tiny_goal_dir, size=500), SEED, 500)
    assert np.all(masks[-1] == 1)


def test_null_goal_is_learned(tiny_goal_dir):
    agent = _make(gc.GCCFGRLAgent, tiny_goal_dir)
    field = agent.levels["actor"].flow.online
    before = field.null_goal.numpy().copy()
    batch = _batch(tiny_goal_dir, size=512)
    for _ in range(3):
        agent.train_step(batch, SEED, 512)
    assert not np.array_equal(before, field.null_goal.numpy())


def test_goal_agents_refuse_datasets_without_goals(tiny_bandit_dir):
    info = load_dataset(tiny_bandit_dir).info
    with pytest.raises(DatasetError, match="GCCFGRLAgent trains on goals, but the dataset"):
        agent_arguments(gc.GCCFGRLAgent, info)


def test_bandit_agents_refuse_goal_datasets(tiny_goal_dir):
    from cfgrl_tf.agents import CFGRLAgent

    with pytest.raises(
        DatasetError,
        match="agent CFGRLAgent trains on rewards, but the dataset .* is goal-conditioned",
    ):
        agent_arguments(CFGRLAgent, load_dataset(tiny_goal_dir).info)


def test_normalisation_uses_dataset_statistics(tiny_goal_dir):
    agent = _make(gc.GCFBCAgent, tiny_goal_dir)
    obs = load_dataset(tiny_goal_dir).arrays["observations"]
    normalised = agent.normalize_observations(obs).numpy()
    np.testing.assert_allclose(normalised.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(normalised.std(0), 1.0, atol=1e-3)
