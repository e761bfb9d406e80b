"""Tests of the Diffusion-QL family: Diffusion-BC, Diffusion-QL, Q-gradient guidance and EDP."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cfgrl_tf.agents import (
    DiffusionBCAgent,
    DiffusionQLAgent,
    EDPAgent,
    QGradAgent,
    TDCritic,
)
from cfgrl_tf.agents.updates import EMANetwork
from cfgrl_tf.networks import ConditionalVectorField

OBS, ACT = 1, 2
HIDDEN = (32, 32)
SEED = tf.constant([0, 1], tf.int64)
CLASSES = {
    "diffusion_bc": DiffusionBCAgent,
    "diffusion_ql": DiffusionQLAgent,
    "qgrad": QGradAgent,
    "edp": EDPAgent,
}
Q_METHODS = ("diffusion_ql", "qgrad", "edp")


@pytest.fixture(autouse=True)
def _seed_initializers():
    keras.utils.set_random_seed(0)


def _make(name, hidden=HIDDEN, **kwargs):
    if name != "diffusion_bc":
        kwargs.setdefault("critic", TDCritic(hidden_dims=hidden))
    agent = CLASSES[name](OBS, ACT, hidden_dims=hidden, **kwargs)
    agent.build()
    return agent


def _two_mode_batch(batch_size, seed):
    """A one-step bandit with two equally common modes, a[0] = -0.5 (reward 0) and a[0] = +0.5
    (reward 1): behaviour cloning keeps both, a Q term should favour the right one."""
    rng = np.random.default_rng(seed)
    mode = rng.integers(0, 2, size=batch_size)
    actions = np.stack([np.where(mode, 0.5, -0.5), np.zeros(batch_size)], axis=1)
    actions = (actions + rng.normal(0, 0.05, size=actions.shape)).astype(np.float32)
    observations = np.zeros((batch_size, OBS), np.float32)
    return {
        "observations": tf.constant(observations),
        "next_observations": tf.constant(observations),
        "actions": tf.constant(actions),
        "rewards": tf.constant(mode.astype(np.float32)),
        "masks": tf.zeros([batch_size]),
        "terminals": tf.ones([batch_size]),
    }


@pytest.mark.parametrize("name", list(CLASSES))
def test_compiled_train_step_is_finite_and_trains_the_online_network(name):
    agent = _make(name)
    online = agent.policy_net.online.trainable_variables
    before = [v.numpy().copy() for v in online]
    batch = _two_mode_batch(64, 0)
    batch["observations"] = tf.random.normal([64, OBS])  # so first-layer kernels get gradients
    step = tf.function(lambda b, s: agent.train_step(b, s, 64), jit_compile=True)
    metrics = {k: float(v) for k, v in step(batch, SEED).items()}
    assert {"actor/loss", "actor/bc_loss", "actor/grad_norm"} <= set(metrics)
    if name != "diffusion_bc":
        assert {"critic/q_loss", "critic/q_mean", "critic/target_mean"} <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values()), metrics
    assert all(not np.array_equal(b, v.numpy()) for b, v in zip(before, online, strict=True))


@pytest.mark.parametrize("name", Q_METHODS)
def test_the_q_term_moves_the_policy_to_the_better_mode(name):
    """After the same short training, a Q method's samples sit on the rewarded side far more
    often than Diffusion-BC's, which keeps both modes. (Staying on the data takes longer
    training: the bandit benchmark measures it.)"""

    def right_fraction(method):
        keras.utils.set_random_seed(0)
        agent = _make(method, hidden=(64, 64), learning_rate=3e-3, ema_decay=0.0)
        step = tf.function(lambda b, s: agent.train_step(b, s, 128), jit_compile=True)
        for i in range(400):
            step(_two_mode_batch(128, i), tf.constant([i, 7], tf.int64))
            agent.update_targets()
        actions = agent.sample_actions(
            {"observations": tf.zeros([400, OBS])}, tf.ones([400]), tf.constant(3, tf.int64)
        ).numpy()
        assert np.all(np.abs(actions) <= 1.0)
        return float(np.mean(actions[:, 0] > 0))

    bc_right = right_fraction("diffusion_bc")
    right = right_fraction(name)
    assert 0.3 < bc_right < 0.7, bc_right
    assert right > 0.85 and right > bc_right + 0.25, (right, bc_right)


def test_candidate_selection_one_is_a_plain_sample_and_many_follow_the_critic():
    agent = _make("diffusion_ql", candidates=(1, 50))
    assert agent.eval_sweep().name == "candidates"
    assert agent.eval_sweep().values == (1.0, 50.0)
    # A critic whose target Q is 200 * mish(mish(a[0])) (identity layers): increasing in a[0]
    # above -0.3, and so steep that softmax over 50 candidates picks one of the largest.
    for head in agent.critic.target_q.heads:
        for layer in head._hidden:
            w = layer.kernel
            w.assign(tf.eye(w.shape[0], w.shape[1]))
            layer.bias.assign(tf.zeros_like(layer.bias))
        head._out.kernel.assign(tf.one_hot([1], head._out.kernel.shape[0])[0][:, None] * 200.0)
        head._out.bias.assign(tf.zeros_like(head._out.bias))
    observations = tf.zeros([8, OBS])
    seed = tf.constant(5, tf.int64)
    plain = agent._sample(tf.repeat(observations, 50, axis=0), seed).numpy()[::50]
    picked_one = agent.sample_actions({"observations": observations}, tf.ones([8]), seed).numpy()
    np.testing.assert_array_equal(picked_one, plain)
    mixed = agent.sample_actions(
        {"observations": observations}, tf.constant([1.0, 50.0] * 4), seed
    ).numpy()
    np.testing.assert_array_equal(mixed[::2], plain[::2])
    candidates = agent._sample(tf.repeat(observations, 50, axis=0), seed).numpy()
    first = np.sort(candidates.reshape(8, 50, ACT)[1::2, :, 0], axis=1)
    assert np.all(mixed[1::2, 0] >= first[:, -5]), (mixed[1::2, 0], first[:, -5:])
    assert "target_q" in agent.sampling_networks()


def test_diffusion_bc_has_no_knob_and_refuses_candidates():
    agent = _make("diffusion_bc")
    assert agent.eval_sweep().name == "none"
    assert agent.critic is None
    with pytest.raises(ValueError, match="needs a critic"):
        DiffusionBCAgent(OBS, ACT, candidates=(1, 50))


def test_max_q_backup_takes_the_max_over_samples_then_the_min_over_heads():
    critic = TDCritic(hidden_dims=(8,), max_q_backup=3, discount=0.5)
    batch = {
        "observations": tf.zeros([2, OBS]),
        "next_observations": tf.zeros([2, OBS]),
        "actions": tf.zeros([2, ACT]),
        "rewards": tf.constant([1.0, 2.0]),
        "masks": tf.constant([1.0, 0.0]),
    }
    critic.build(batch)
    next_actions = tf.random.uniform([6, ACT], -1, 1, seed=1)
    q = critic.target_q({"observations": tf.zeros([6, OBS]), "actions": next_actions}).numpy()
    expected_next = q.reshape(2, 3, 2).max(axis=1).min(axis=0)
    target = critic.target(batch, next_actions).numpy()
    np.testing.assert_allclose(target, [1.0 + 0.5 * expected_next[0], 2.0], rtol=1e-6)


def test_the_ema_copies_until_its_start_then_moves_every_few_steps():
    ema = EMANetwork(
        lambda name: ConditionalVectorField(ACT, (4,), name=name), 0.5, start=3, every=2
    )
    ema.build(
        {
            "observations": tf.zeros([1, OBS]),
            "noisy_actions": tf.zeros([1, ACT]),
            "times": tf.zeros([1]),
        }
    )
    weight = ema.online.weights[0]
    history = []
    for step in range(1, 7):
        weight.assign(tf.fill(weight.shape, float(step)))
        ema.update(tf.constant(step, tf.int64))
        history.append(float(ema.ema.weights[0].numpy().flat[0]))
    # Steps 1, 2: copies; 3: odd, no move; 4: halfway to 4; 5: none; 6: halfway to 6.
    assert history == [1.0, 2.0, 2.0, 3.0, 3.0, 4.5]


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: DiffusionQLAgent(OBS, ACT, eta=-1.0), "eta=-1.0"),
        (lambda: QGradAgent(OBS, ACT, eta=-0.5), "eta=-0.5"),
        (lambda: EDPAgent(OBS, ACT, alpha=-2.0), "alpha=-2.0"),
        (lambda: DiffusionBCAgent(OBS, ACT, learning_rate=-1e-3), "learning_rate=-0.001"),
        (lambda: TDCritic(learning_rate=0.0), "learning_rate=0.0"),
        (lambda: TDCritic(max_q_backup=0), "max_q_backup=0"),
        (lambda: DiffusionBCAgent(OBS, ACT, num_diffusion_steps=0), "num_diffusion_steps=0"),
        (lambda: DiffusionBCAgent(OBS, ACT, schedule="cosin"), "cosin"),
        (lambda: DiffusionQLAgent(OBS, ACT, grad_norm_clip=-1.0), "grad_norm_clip=-1.0"),
    ],
)
def test_bad_settings_are_refused_naming_them(make, match):
    with pytest.raises(ValueError, match=match):
        make()
