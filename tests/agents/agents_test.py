"""Tests of the agents: building, compiled train steps, the IQL critic, labels and samplers."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cfgrl_tf.agents import CFGRLAgent, FlowBCAgent, IQLAWRAgent, IQLCritic
from cfgrl_tf.generative import ClassifierFreeGuidance, FlowMatching
from cfgrl_tf.generative.noise import initial_noise
from cfgrl_tf.rng import split_seed

OBS, ACT = 1, 2
HIDDEN = (32, 32)
SEED = tf.constant([0, 1], tf.int64)


@pytest.fixture(autouse=True)
def _seed_initializers():
    # Keras draws initial weights from a global seed: fixing it makes every run check the same
    # networks (the margins below hold for other seeds too, this only removes run-to-run noise).
    keras.utils.set_random_seed(0)


def _bandit_batch(batch_size, seed=0, optimal=None, random_observations=False):
    """A one-step bandit: reward 1 when a[0] > 0, episodes end (masks 0).

    The observation is constant (zero) unless `random_observations`: with a zero input, the first
    layers of an MLP get no kernel gradient, which a test of "every weight moves" must avoid.
    """
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1.0, 1.0, size=(batch_size, ACT)).astype(np.float32)
    observations = np.zeros((batch_size, OBS), np.float32)
    if random_observations:
        observations = rng.normal(size=(batch_size, OBS)).astype(np.float32)
    if optimal is None:
        optimal = np.full(batch_size, -1)
    return {
        "observations": tf.constant(observations),
        "next_observations": tf.constant(observations),
        "actions": tf.constant(actions),
        "rewards": tf.constant((actions[:, 0] > 0).astype(np.float32)),
        "masks": tf.zeros([batch_size]),
        "terminals": tf.ones([batch_size]),
        "optimal": tf.constant(optimal, tf.int64),
    }


def _make(name, **kwargs):
    critic = IQLCritic(hidden_dims=HIDDEN)
    if name == "cfgrl":
        agent = CFGRLAgent(OBS, ACT, critic=critic, hidden_dims=HIDDEN, **kwargs)
    elif name == "flow_bc":
        agent = FlowBCAgent(OBS, ACT, hidden_dims=HIDDEN, **kwargs)
    else:
        agent = IQLAWRAgent(OBS, ACT, critic=critic, hidden_dims=HIDDEN, **kwargs)
    agent.build()
    return agent


CRITIC_KEYS = {
    "critic/value_loss",
    "critic/q_loss",
    "critic/v_mean",
    "critic/q_mean",
    "critic/value_grad_norm",
    "critic/q_grad_norm",
}
EXPECTED_KEYS = {
    "cfgrl": CRITIC_KEYS | {"actor/flow_loss", "actor/grad_norm", "actor/optimal_fraction"},
    "flow_bc": {"actor/flow_loss", "actor/grad_norm"},
    "iql_awr": CRITIC_KEYS
    | {"actor/advantage_mean"}
    | {f"actor/t_{t}/{m}" for t in ("1", "3", "10") for m in ("awr_loss", "log_prob")},
}


@pytest.mark.parametrize("name", ["cfgrl", "flow_bc", "iql_awr"])
def test_compiled_train_step_returns_finite_metrics_and_updates_weights(name):
    agent = _make(name)
    actor_vars = (
        [v for p in agent.policies for v in p.trainable_variables]
        if name == "iql_awr"
        # The online flow is what a gradient step trains (sampling reads its moving average).
        else agent.vector_field.trainable_variables
    )
    assert actor_vars
    before = [v.numpy().copy() for v in actor_vars]
    if name != "flow_bc":
        assert agent.critic.value.trainable_variables and agent.critic.q.trainable_variables
        # build() starts the target equal to the online Q.
        for target, source in zip(
            agent.critic.target_q.weights, agent.critic.q.weights, strict=True
        ):
            np.testing.assert_array_equal(target.numpy(), source.numpy())
    batch = _bandit_batch(64, random_observations=True)
    step = tf.function(lambda b, s: agent.train_step(b, s, 64))
    metrics = {k: v.numpy() for k, v in step(batch, SEED).items()}
    assert set(metrics) == EXPECTED_KEYS[name]
    for key, value in metrics.items():
        assert value.shape == () and np.isfinite(value), key
    assert metrics["actor/flow_loss" if name != "iql_awr" else "actor/t_1/awr_loss"] != 0.0
    changed = [not np.array_equal(b, v.numpy()) for b, v in zip(before, actor_vars, strict=True)]
    assert all(changed)


def test_iql_critic_on_a_one_step_bandit():
    critic = IQLCritic(
        hidden_dims=HIDDEN, expectile=0.9, learning_rate=1e-3, target_update_rate=0.05
    )
    critic.build(_bandit_batch(2))

    @tf.function
    def step(seed):
        actions = tf.random.stateless_uniform([128, ACT], seed=seed, minval=-1.0, maxval=1.0)
        batch = {
            "observations": tf.zeros([128, OBS]),
            "next_observations": tf.zeros([128, OBS]),
            "actions": actions,
            "rewards": tf.cast(actions[:, 0] > 0.0, tf.float32),
            "masks": tf.zeros([128]),
        }
        metrics, _ = critic.train_step(batch, 128)
        critic.update_targets()
        return metrics

    for i in range(300):
        step(tf.constant([i, 7], tf.int64))

    probe = _bandit_batch(512, seed=11)
    positive = probe["actions"].numpy()[:, 0] > 0.0
    q = tf.reduce_min(critic.q(probe), axis=0).numpy()
    v = critic.value(probe).numpy()
    q_high, q_low = q[positive].mean(), q[~positive].mean()
    # Q learns the reward (terminal transitions: Q = r).
    assert q_high > 0.8 and q_low < 0.2
    assert np.all(q[positive][np.abs(probe["actions"].numpy()[positive, 0]) > 0.2] > 0.5)
    # V of the single state: an upper expectile, between the two Q levels and above their mean
    # (the exact 0.9-expectile of {0, 1} at equal odds is 0.9).
    assert np.ptp(v) < 1e-5
    assert q_low < v[0] < q_high
    assert v[0] > 0.5 * (q_low + q_high) + 0.15
    # Advantages: about 1 - 0.9 for rewarded actions, about -0.9 for the others. Q is a smooth
    # fit of a step, so only actions away from the step at a[0] = 0 are held to the sign.
    advantages = critic.advantages(probe).numpy()
    clear = np.abs(probe["actions"].numpy()[:, 0]) > 0.3
    assert np.mean(advantages[positive & clear] > 0) > 0.9
    assert np.all(advantages[~positive & clear] < 0)
    assert advantages[positive].mean() > 0 > advantages[~positive].mean() + 0.5


def test_cfgrl_optimality_from_the_dataset_and_from_the_critic():
    agent = _make("cfgrl", label_source="dataset")
    batch = _bandit_batch(4, optimal=[1, 0, -1, 1])
    np.testing.assert_array_equal(agent.optimality(batch).numpy(), [True, False, False, True])
    # optimal_fraction is this replica's share of the global-batch mean.
    metrics = agent.train_step(batch, SEED, global_batch_size=4)
    np.testing.assert_allclose(metrics["actor/optimal_fraction"].numpy(), 0.5)
    metrics = agent.train_step(batch, SEED, global_batch_size=8)
    np.testing.assert_allclose(metrics["actor/optimal_fraction"].numpy(), 0.25)

    critic_agent = _make("cfgrl", optimality_threshold=0.05)
    batch = _bandit_batch(256)
    expected = critic_agent.critic.advantages(batch).numpy() >= 0.05
    assert 0 < expected.sum() < 256  # the threshold splits the batch, so the check is not vacuous
    np.testing.assert_array_equal(critic_agent.optimality(batch).numpy(), expected)


def _recorded_labels(monkeypatch, agent, batch, seed):
    """The labels the CFGRL train step hands to the flow loss (0 where the mask drops them)."""
    recorded = []
    original = FlowMatching.loss

    def recording_loss(self, network, context, *args, **kwargs):
        kept = context["condition_mask"].numpy() > 0.5
        recorded.append(np.where(kept, context["labels"].numpy(), 0))
        return original(self, network, context, *args, **kwargs)

    monkeypatch.setattr(FlowMatching, "loss", recording_loss)
    agent.train_step(batch, seed, global_batch_size=len(batch["actions"]))
    return recorded[-1]


@pytest.mark.parametrize("advantage_from", ["online", "target"])
def test_labels_and_awr_weights_come_from_the_critic_before_its_step(monkeypatch, advantage_from):
    """As in the reference agents, every loss of a step reads the same parameters: CFGRL's labels
    and AWR's advantages are the critic's before its update in that step, not after it."""
    batch = _bandit_batch(256)
    agent = _make("cfgrl", label_dropout=0.0, optimality_threshold=0.05)
    agent.critic.advantage_from = advantage_from
    before = agent.critic.advantages(batch).numpy()
    labels = _recorded_labels(monkeypatch, agent, batch, SEED)
    after = agent.critic.advantages(batch).numpy()
    assert np.any((before >= 0.05) != (after >= 0.05))  # the step moved some labels: not vacuous
    np.testing.assert_array_equal(labels, np.where(before >= 0.05, 2, 1))

    awr = _make("iql_awr")
    awr.critic.advantage_from = advantage_from
    before = awr.critic.advantages(batch).numpy()
    metrics = awr.train_step(batch, SEED, global_batch_size=256)
    np.testing.assert_allclose(metrics["actor/advantage_mean"].numpy(), before.mean(), rtol=1e-5)
    assert abs(awr.critic.advantages(batch).numpy().mean() - before.mean()) > 1e-4


def test_cfgrl_label_dropout(monkeypatch):
    n = 4000
    optimal = np.where(np.arange(n) % 4 == 0, 0, 1)  # 1/4 not optimal, 3/4 optimal
    batch = _bandit_batch(n, optimal=optimal)
    agent = _make("cfgrl", label_source="dataset", label_dropout=0.1)
    labels = _recorded_labels(monkeypatch, agent, batch, SEED)
    kept = labels != 0
    assert abs(np.mean(~kept) - 0.1) < 0.02  # 3 sigma of a Binomial(4000, 0.1) fraction is 0.014
    # Kept rows carry their optimality label: 2 = optimal, 1 = not optimal.
    np.testing.assert_array_equal(labels[kept], np.where(optimal[kept] == 1, 2, 1))
    # Dropout does not depend on the label.
    assert abs(np.mean(labels[optimal == 0] == 0) - np.mean(labels[optimal == 1] == 0)) < 0.04
    # The dropped rows are the stateless draw of the step's seed, so another seed drops others.
    drop_seed, _ = split_seed(SEED, 2)
    expected_dropped = tf.random.stateless_uniform([n], seed=drop_seed).numpy() < 0.1
    np.testing.assert_array_equal(~kept, expected_dropped)
    other = _recorded_labels(monkeypatch, agent, batch, tf.constant([5, 6], tf.int64))
    assert np.mean((other == 0) != (labels == 0)) > 0.1

    no_dropout = _make("cfgrl", label_source="dataset", label_dropout=0.0)
    labels = _recorded_labels(monkeypatch, no_dropout, batch, SEED)
    np.testing.assert_array_equal(labels, np.where(optimal == 1, 2, 1))


def test_cfgrl_paired_objective_is_the_exorl_loss():
    # 1[A > 0] |v - v(s, optimal)|^2 + 0.1 |v - v(s, null)|^2 on every sample, no dropout.
    optimal = np.array([1, 0, 1, 0, 0, 1, 1, 0])
    batch = _bandit_batch(8, optimal=optimal, random_observations=True)
    agent = _make("cfgrl", label_source="dataset", objective="paired", null_loss_weight=0.1)
    observations = batch["observations"]
    conditioned, null = agent.generative.losses(
        agent.flow.online,
        [
            {
                "observations": observations,
                "labels": tf.fill([8], 2),
                "condition_mask": tf.ones([8]),
            },
            {
                "observations": observations,
                "labels": tf.fill([8], 1),
                "condition_mask": tf.zeros([8]),
            },
        ],
        batch["actions"],
        split_seed(SEED, 2)[1],
    ).numpy()
    assert np.all(np.abs(conditioned - null) > 1e-6)  # the label changes the field's output
    expected = np.mean(optimal * conditioned + 0.1 * null)
    metrics = agent.train_step(batch, SEED, global_batch_size=8)
    np.testing.assert_allclose(metrics["actor/flow_loss"].numpy(), expected, rtol=1e-5)


def test_cfgrl_paired_labels_from_the_critic_are_strictly_positive_advantages():
    batch = _bandit_batch(64)
    dropout = _make("cfgrl")
    advantages = dropout.critic.advantages(batch).numpy()
    threshold = float(advantages[0])
    for objective, expected in (
        ("label_dropout", advantages >= threshold),
        ("paired", advantages > threshold),
    ):
        agent = _make("cfgrl", objective=objective, optimality_threshold=threshold)
        agent.critic = dropout.critic
        np.testing.assert_array_equal(agent.optimality(batch).numpy(), expected)
    assert (advantages >= threshold)[0] and not (advantages > threshold)[0]


def test_cfgrl_samples_with_a_guidance_weight_per_row():
    agent = _make("cfgrl", num_flow_steps=8)
    sample = tf.function(lambda obs, w, seed: agent.sample_actions({"observations": obs}, w, seed))
    n = 64
    observations = tf.zeros([n, OBS])
    weights = np.resize(np.array([0.0, 1.0, 3.0], np.float32), n)
    seed = tf.constant(3)
    mixed = sample(observations, tf.constant(weights), seed).numpy()
    assert mixed.shape == (n, ACT)
    assert mixed.min() >= -1.0 and mixed.max() <= 1.0
    for w in (0.0, 1.0, 3.0):
        alone = sample(observations, tf.fill([n], w), seed).numpy()
        rows = weights == w
        np.testing.assert_allclose(mixed[rows], alone[rows], atol=1e-5)
    # With the same noise, the rows' actions depend on w (the label embedding is not trivial).
    alone = {w: sample(observations, tf.fill([n], w), seed).numpy() for w in (0.0, 1.0)}
    assert np.max(np.abs(alone[0.0] - alone[1.0])) > 1e-3
    # w = 0 is the null-label flow, w = 1 the optimal-label flow.
    field, flow = agent.flow.sampling, FlowMatching(agent.num_flow_steps)

    def guided(labels, mask):
        context = {"observations": observations, "labels": labels, "condition_mask": mask}
        return flow.sample(
            field, context, seed=seed, guidance=ClassifierFreeGuidance(), knob=tf.ones([n])
        ).numpy()

    null_flow = guided(tf.fill([n], 2), tf.zeros([n]))
    np.testing.assert_allclose(alone[0.0], null_flow, atol=1e-5)
    optimal_flow = guided(tf.fill([n], 2), tf.ones([n]))
    np.testing.assert_allclose(alone[1.0], optimal_flow, atol=1e-5)


def test_flow_bc_ignores_sweep_values():
    agent = _make("flow_bc")
    observations = tf.zeros([32, OBS])
    inputs = {"observations": observations}
    a = agent.sample_actions(inputs, tf.zeros([32]), tf.constant(1)).numpy()
    b = agent.sample_actions(inputs, tf.fill([32], 5.0), tf.constant(1)).numpy()
    c = agent.sample_actions(inputs, tf.zeros([32]), tf.constant(2)).numpy()
    assert a.shape == (32, ACT)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert agent.eval_sweep().values == (0.0,)


def test_iql_awr_samples_from_the_head_of_the_nearest_temperature():
    agent = _make("iql_awr", temperatures=(1.0, 3.0, 10.0))
    for policy, log_std in zip(agent.policies, (-1.0, -2.0, -3.0), strict=True):
        policy.log_std.assign([log_std] * ACT)
    sweep = np.array([0.5, 1.0, 1.9, 2.1, 3.0, 6.0, 7.0, 10.0, 100.0], np.float32)
    expected_head = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    rng = np.random.default_rng(0)
    observations = tf.constant(rng.normal(size=(len(sweep), OBS)), tf.float32)
    seed = tf.constant(4)
    inputs = {"observations": observations}
    actions = agent.sample_actions(inputs, tf.constant(sweep), seed).numpy()

    noise = initial_noise(len(sweep), ACT, seed).numpy()
    per_head = []
    for policy in agent.policies:
        params = policy({"observations": observations})
        per_head.append(
            np.clip(params["mean"].numpy() + np.exp(params["log_std"].numpy()) * noise, -1, 1)
        )
    # The heads are distinguishable, so matching one head is evidence of choosing it.
    assert np.min(np.abs(per_head[0] - per_head[1])) > 1e-4
    assert np.min(np.abs(per_head[1] - per_head[2])) > 1e-4
    for row, head in enumerate(expected_head):
        np.testing.assert_allclose(actions[row], per_head[head][row], atol=1e-6, err_msg=str(row))
    # A scalar sweep value applies to every row.
    scalar = agent.sample_actions(inputs, tf.constant(10.0), seed).numpy()
    np.testing.assert_allclose(scalar, per_head[2], atol=1e-6)
    assert agent.eval_sweep().values == (1.0, 3.0, 10.0)


def test_iql_awr_at_the_mean_acts_with_the_heads_mean():
    agent = _make("iql_awr", temperatures=(1.0, 30.0), sample_at_mean=True)
    observations = tf.constant(np.random.default_rng(1).normal(size=(4, OBS)), tf.float32)
    inputs = {"observations": observations}
    sweep = tf.constant([1.0, 1.0, 30.0, 30.0])
    first = agent.sample_actions(inputs, sweep, tf.constant(1)).numpy()
    np.testing.assert_array_equal(first, agent.sample_actions(inputs, sweep, tf.constant(2)))
    means = [p({"observations": observations})["mean"].numpy() for p in agent.policies]
    np.testing.assert_allclose(first[:2], means[0][:2], atol=1e-6)
    np.testing.assert_allclose(first[2:], means[1][2:], atol=1e-6)


def test_iql_advantage_reads_the_q_it_is_told_to():
    batch = _bandit_batch(64, random_observations=True)
    advantages = {}
    for source in ("target", "online"):
        keras.utils.set_random_seed(0)
        critic = IQLCritic(hidden_dims=HIDDEN, advantage_from=source)
        critic.build(batch)
        critic.q.heads[0]._out.bias.assign([5.0])  # online Q moves; the target does not
        critic.q.heads[1]._out.bias.assign([5.0])
        advantages[source] = critic.advantages(batch).numpy()
    np.testing.assert_allclose(advantages["online"] - advantages["target"], 5.0, atol=1e-4)
    with pytest.raises(ValueError, match="advantage_from"):
        IQLCritic(advantage_from="ema")


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: CFGRLAgent(OBS, ACT, label_source="labels"), "label_source"),
        (lambda: CFGRLAgent(OBS, ACT, label_dropout=1.0), "label_dropout"),
        (lambda: CFGRLAgent(OBS, ACT, label_dropout=-0.1), "label_dropout"),
        (lambda: CFGRLAgent(OBS, ACT, objective="awr"), "objective"),
        (lambda: CFGRLAgent(OBS, ACT, objective="paired", null_loss_weight=0.0), "null_loss"),
        (lambda: IQLAWRAgent(OBS, ACT, temperatures=()), "temperatures"),
    ],
)
def test_invalid_constructor_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("name", ["cfgrl", "flow_bc"])
def test_sampling_uses_an_exponential_moving_average_of_the_flow(name):
    agent = _make(name)
    online, ema = agent.vector_field, agent.sampling_networks()["vector_field"]
    assert ema is not online and ema is agent.flow.ema
    for a, b in zip(ema.weights, online.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # build() starts them equal.
    before = [w.numpy().copy() for w in ema.weights]
    batch = _bandit_batch(64, random_observations=True)
    agent.train_step(batch, SEED, 64)
    agent.update_targets()
    decay = agent.flow.decay
    for old, new, live in zip(before, ema.weights, online.weights, strict=True):
        np.testing.assert_allclose(
            new.numpy(), decay * old + (1 - decay) * live.numpy(), rtol=1e-5, atol=1e-7
        )
    # ema_decay=0 samples the online network itself.
    plain = _make(name, ema_decay=0.0)
    assert plain.sampling_networks()["vector_field"] is plain.vector_field
