"""Tests of the guided flow sampler, against the exact velocity field of a Gaussian mixture.

For the straight path x_t = (1 - t) x0 + t x1 with x0 ~ N(0, I) and x1 ~ sum_k pi_k N(mu_k, s^2 I),
the marginal velocity is known in closed form, so the sampler can be checked against ground truth
with no training: w = 0 must reproduce the null mixture, w = 1 the conditional one, and w > 1 must
stay on the conditional mode. At 0 < w < 1 guidance mixes two fields that disagree, and samples
land between modes even though both fields are exact (a documented property of CFG, not a bug).
"""

import numpy as np
import pytest
import tensorflow as tf

from cfgrl_tf.generative import ClassifierFreeGuidance, FlowMatching
from cfgrl_tf.generative.guidance import NoGuidance, guided_velocity
from cfgrl_tf.generative.noise import initial_noise
from cfgrl_tf.networks.exact import GaussianMixtureField

MODES = np.array([[0.8, 0.8], [0.8, -0.8], [-0.8, 0.8], [-0.8, -0.8]], np.float32)
BEST = 1  # the mode at (0.8, -0.8)
MODE_STD = 0.05
NULL_WEIGHTS = np.full(4, 0.25, np.float32)
OPTIMAL_WEIGHTS = np.array([1e-4, 1.0 - 3e-4, 1e-4, 1e-4], np.float32)
NUM_SAMPLES = 4000
NUM_FLOW_STEPS = 100
NEAR = 0.15


def sample_actions(field, observations, *, seed, num_flow_steps, labels=None, guidance_weight=None):
    """Flow matching's sampler on a label-conditioned field, guided when given labels."""
    context = {"observations": observations}
    guidance = None
    if labels is not None:
        context["labels"] = labels
        context["condition_mask"] = tf.ones(tf.shape(labels))
        guidance = ClassifierFreeGuidance()
    return FlowMatching(num_flow_steps).sample(
        field, context, seed=seed, guidance=guidance, knob=guidance_weight
    )


def mixture_field():
    """The exact field of the 4-mode mixture; label 0 = null, 2 = optimal."""
    return GaussianMixtureField(
        MODES, MODE_STD, {0: np.asarray(NULL_WEIGHTS), 2: np.asarray(OPTIMAL_WEIGHTS)}
    )


class RecordingField:
    """Wraps a field and records the inputs of every call."""

    def __init__(self, field):
        self.field = field
        self.action_dim = field.action_dim
        self.conditional = field.conditional
        self.calls = []

    def __call__(self, inputs):
        self.calls.append({k: np.asarray(v) for k, v in inputs.items()})
        return self.field(inputs)


class FunctionField:
    """An unconditional field v = fn(x, t)."""

    action_dim = 2
    conditional = False

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, inputs):
        return self.fn(inputs["noisy_actions"], tf.reshape(inputs["times"], [-1, 1]))


@pytest.fixture(scope="module")
def sample():
    field = mixture_field()

    @tf.function(reduce_retracing=True)
    def run(guidance_weight, seed):
        observations = tf.zeros([tf.shape(guidance_weight)[0], 1])
        labels = tf.fill([tf.shape(guidance_weight)[0]], 2)
        return sample_actions(
            field,
            observations,
            seed=seed,
            num_flow_steps=NUM_FLOW_STEPS,
            labels=labels,
            guidance_weight=guidance_weight,
        )

    def sample_fn(weights, seed=0):
        weights = tf.constant(np.broadcast_to(np.float32(weights), [NUM_SAMPLES]))
        return run(weights, tf.constant(seed, tf.int64)).numpy()

    return sample_fn


def _distances(actions):
    return np.linalg.norm(actions[:, None, :] - MODES[None, :, :], axis=-1)  # [N, K]


def _near_fraction(actions):
    return float(np.mean(np.min(_distances(actions), axis=1) < NEAR))


def _mode_fractions(actions):
    distances = _distances(actions)
    near = np.min(distances, axis=1) < NEAR
    return np.bincount(np.argmin(distances, axis=1)[near], minlength=4) / len(actions)


def test_guided_velocity_formula():
    rng = np.random.default_rng(0)
    v_cond = rng.normal(size=(4, 3)).astype(np.float32)
    v_null = rng.normal(size=(4, 3)).astype(np.float32)
    w = np.array([0.0, 1.0, 3.0, -0.5], np.float32)
    out = guided_velocity(tf.constant(v_cond), tf.constant(v_null), tf.constant(w)).numpy()
    np.testing.assert_allclose(out, v_null + w[:, None] * (v_cond - v_null), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[0], v_null[0], rtol=1e-6)  # w = 0: unconditional
    np.testing.assert_allclose(out[1], v_cond[1], rtol=1e-6)  # w = 1: conditional


def test_initial_noise_is_seeded_standard_normal():
    a = initial_noise(20000, 2, tf.constant(7)).numpy()
    b = initial_noise(20000, 2, tf.constant(7, tf.int64)).numpy()
    c = initial_noise(20000, 2, tf.constant(8)).numpy()
    assert a.shape == (20000, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    np.testing.assert_allclose(a.mean(axis=0), 0.0, atol=0.03)
    np.testing.assert_allclose(a.std(axis=0), 1.0, atol=0.03)


def test_the_analytic_field_at_t0_points_to_the_target_mean():
    # At t = 0, x_t is pure noise, so v(x, 0) = E[x1] - x: -x for the symmetric null mixture
    # and (almost) mu_best - x for the optimal one.
    field = mixture_field()
    x = tf.constant([[0.3, -0.2], [0.3, -0.2]])
    v = field({"noisy_actions": x, "times": tf.zeros([2]), "labels": tf.constant([0, 2])})
    np.testing.assert_allclose(v.numpy()[0], [-0.3, 0.2], atol=1e-5)
    np.testing.assert_allclose(v.numpy()[1], MODES[BEST] - [0.3, -0.2], atol=1e-3)


def test_w0_samples_the_behaviour_mixture(sample):
    actions = sample(0.0)
    assert _near_fraction(actions) >= 0.97
    np.testing.assert_allclose(_mode_fractions(actions), 0.25, atol=0.03)


def test_w1_samples_the_optimal_mode(sample):
    actions = sample(1.0)
    assert _mode_fractions(actions)[BEST] >= 0.97


def test_w3_sharpens_onto_the_optimal_mode(sample):
    actions = sample(3.0)
    assert _mode_fractions(actions)[BEST] >= 0.95


def test_w_between_0_and_1_interpolates_and_leaves_the_data(sample):
    fractions = {w: _mode_fractions(sample(w))[BEST] for w in (0.0, 0.5, 1.0)}
    assert _near_fraction(sample(0.5)) <= 0.9
    # The best mode's share still grows with w.
    assert fractions[0.0] < fractions[0.5] < fractions[1.0]


def test_each_row_gets_its_own_guidance_weight(sample):
    weights = np.where(np.arange(NUM_SAMPLES) % 2 == 0, 0.0, 1.0).astype(np.float32)
    mixed = sample(weights)
    behaviour, conditional = mixed[weights == 0.0], mixed[weights == 1.0]
    assert _near_fraction(behaviour) >= 0.97
    np.testing.assert_allclose(_mode_fractions(behaviour), 0.25, atol=0.04)
    assert _mode_fractions(conditional)[BEST] >= 0.97
    # The field is row-wise, so each row equals the same row of a batch at its weight alone.
    np.testing.assert_allclose(behaviour, sample(0.0)[weights == 0.0], atol=1e-5)
    np.testing.assert_allclose(conditional, sample(1.0)[weights == 1.0], atol=1e-5)


def test_same_seed_same_actions_different_seed_different(sample):
    first, again, other = sample(1.5, seed=3), sample(1.5, seed=3), sample(1.5, seed=4)
    np.testing.assert_array_equal(first, again)
    assert np.mean(np.any(first != other, axis=1)) > 0.99


def test_a_scalar_guidance_weight_is_broadcast():
    field = mixture_field()
    observations = tf.zeros([64, 1])
    labels = tf.fill([64], 2)
    kwargs = dict(seed=tf.constant(1), num_flow_steps=10, labels=labels)
    scalar = sample_actions(field, observations, guidance_weight=2.0, **kwargs)
    rows = sample_actions(field, observations, guidance_weight=tf.fill([64], 2.0), **kwargs)
    np.testing.assert_array_equal(scalar.numpy(), rows.numpy())


def test_conditional_field_is_called_once_per_step_with_both_halves():
    batch, steps = 6, 7
    field = RecordingField(mixture_field())
    observations = tf.reshape(tf.range(batch, dtype=tf.float32), [batch, 1])
    labels = tf.constant([2, 1, 2, 1, 2, 2])
    sample_actions(
        field,
        observations,
        seed=tf.constant(0),
        num_flow_steps=steps,
        labels=labels,
        guidance_weight=tf.fill([batch], 2.0),
    )
    assert len(field.calls) == steps
    for step, call in enumerate(field.calls):
        assert call["observations"].shape == (2 * batch, 1)
        assert call["noisy_actions"].shape == (2 * batch, 2)
        assert call["times"].shape == (2 * batch,) and call["labels"].shape == (2 * batch,)
        # First half: the given condition; second half: the null condition on the same rows.
        np.testing.assert_array_equal(call["labels"], np.concatenate([labels.numpy()] * 2))
        np.testing.assert_array_equal(call["condition_mask"], [1] * batch + [0] * batch)
        np.testing.assert_array_equal(call["observations"][:batch], call["observations"][batch:])
        np.testing.assert_array_equal(call["observations"][:batch], observations.numpy())
        np.testing.assert_array_equal(call["noisy_actions"][:batch], call["noisy_actions"][batch:])
        np.testing.assert_allclose(call["times"], step / steps, rtol=1e-6)


def test_unconditional_field_is_called_once_per_step_with_the_batch():
    batch, steps = 5, 4
    field = RecordingField(FunctionField(lambda x, t: tf.zeros_like(x)))
    sample_actions(field, tf.zeros([batch, 3]), seed=tf.constant(0), num_flow_steps=steps)
    assert len(field.calls) == steps
    for step, call in enumerate(field.calls):
        assert "labels" not in call
        assert call["observations"].shape == (batch, 3)
        assert call["noisy_actions"].shape == (batch, 2)
        np.testing.assert_allclose(call["times"], np.full(batch, step / steps), rtol=1e-6)


def test_guidance_without_a_condition_or_a_weight_raises():
    field, flow = mixture_field(), FlowMatching(2)
    guided = {"guidance": ClassifierFreeGuidance(), "seed": tf.constant(0)}
    with pytest.raises(ValueError, match="no condition to drop"):
        flow.sample(field, {"observations": tf.zeros([2, 1])}, knob=tf.ones([2]), **guided)
    context = {
        "observations": tf.zeros([2, 1]),
        "labels": tf.fill([2], 2),
        "condition_mask": tf.ones([2]),
    }
    with pytest.raises(ValueError, match="guidance weight"):
        flow.sample(field, context, **guided)


def test_euler_integration_and_clipping():
    batch, steps = 256, 8
    noise = initial_noise(batch, 2, tf.constant(5)).numpy()
    # v = t integrates (left Euler, t_k = k / N) to sum_k k / N^2 = (N - 1) / (2N), not 1/2.
    actions = sample_actions(
        FunctionField(lambda x, t: tf.broadcast_to(t, tf.shape(x))),
        tf.zeros([batch, 1]),
        seed=tf.constant(5),
        num_flow_steps=steps,
    ).numpy()
    expected = np.clip(noise + (steps - 1) / (2 * steps), -1.0, 1.0)
    np.testing.assert_allclose(actions, expected, atol=1e-5)
    # A constant velocity of 3 carries everything past the action range: clipped to [-1, 1].
    pushed = sample_actions(
        FunctionField(lambda x, t: tf.fill(tf.shape(x), 3.0)),
        tf.zeros([batch, 1]),
        seed=tf.constant(5),
        num_flow_steps=steps,
    ).numpy()
    assert pushed.min() >= -1.0 and pushed.max() <= 1.0
    np.testing.assert_allclose(pushed, np.clip(noise + 3.0, -1.0, 1.0), atol=1e-5)
    assert np.mean(pushed == 1.0) > 0.9


class _RecordingField:
    """A stand-in network: records its inputs and predicts a zero velocity."""

    action_dim = 2

    def __init__(self):
        self.calls = []

    def __call__(self, inputs):
        self.calls.append({k: np.asarray(v) for k, v in inputs.items()})
        return tf.zeros_like(inputs["noisy_actions"])


def test_losses_under_several_contexts_share_one_noisy_path_and_one_call():
    field = _RecordingField()
    targets = tf.constant(np.random.default_rng(0).uniform(-1, 1, (5, 2)), tf.float32)
    contexts = [
        {"observations": tf.zeros([5, 1]), "condition_mask": tf.ones([5])},
        {"observations": tf.zeros([5, 1]), "condition_mask": tf.zeros([5])},
    ]
    seed = tf.constant([3, 4], tf.int64)
    losses = FlowMatching(8).losses(field, contexts, targets, seed).numpy()
    assert losses.shape == (2, 5) and len(field.calls) == 1
    (inputs,) = field.calls
    np.testing.assert_array_equal(inputs["condition_mask"], [1] * 5 + [0] * 5)
    np.testing.assert_array_equal(inputs["noisy_actions"][:5], inputs["noisy_actions"][5:])
    np.testing.assert_array_equal(inputs["times"][:5], inputs["times"][5:])
    # A zero velocity's loss is |target - noise|^2, the same under both contexts...
    np.testing.assert_array_equal(losses[0], losses[1])
    # ...and `loss` is the one-context case, with the same path for the same seed.
    single = FlowMatching(8).loss(field, contexts[0], targets, seed).numpy()
    np.testing.assert_allclose(single, losses[0], rtol=1e-6)
    assert np.all(losses > 0)


def test_discrete_times_train_on_the_euler_grid():
    targets = tf.zeros([4000, 2])
    context = {"observations": tf.zeros([4000, 1])}
    seed = tf.constant([1, 2], tf.int64)
    grid, uniform = _RecordingField(), _RecordingField()
    FlowMatching(4, discrete_times=True).loss(grid, context, targets, seed)
    FlowMatching(4).loss(uniform, context, targets, seed)
    times = grid.calls[0]["times"]
    np.testing.assert_array_equal(np.unique(times), [0.0, 0.25, 0.5, 0.75])
    # Each grid point equally often (4000 draws: 3 sigma of a count is about 82).
    assert np.all(np.abs(np.bincount((times * 4).astype(int)) - 1000) < 100)
    # The grid time is the uniform draw's floor: the same draw, quantised.
    np.testing.assert_allclose(times, np.floor(uniform.calls[0]["times"] * 4) / 4)


def test_noise_scale_scales_the_starting_noise_and_zero_makes_sampling_deterministic():
    field = mixture_field()
    context = {
        "observations": tf.zeros([6, 1]),
        "labels": tf.zeros([6], tf.int32),
        "condition_mask": tf.zeros([6]),
    }
    noise = initial_noise(6, 2, tf.constant(4))
    for scale in (0.0, 0.5):
        sampled = FlowMatching(8, noise_scale=scale).sample(field, context, seed=tf.constant(4))
        expected = FlowMatching(8).integrate(
            field, context, scale * noise, None, guidance=NoGuidance()
        )
        np.testing.assert_allclose(sampled.numpy(), expected.numpy(), atol=1e-6)
    # From the origin alone: every seed gives the same actions.
    still = FlowMatching(8, noise_scale=0.0)
    a = still.sample(field, context, seed=tf.constant(1)).numpy()
    b = still.sample(field, context, seed=tf.constant(2)).numpy()
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="noise_scale=-1.0: expected a number >= 0"):
        FlowMatching(8, noise_scale=-1.0)
