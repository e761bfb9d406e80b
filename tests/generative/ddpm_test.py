"""Tests of the DDPM: its schedules, its samplers against the exact noise predictor of a Gaussian,
guidance, gradients through the chain, and training.

For data x0 ~ N(mu, s^2 I) and x_t = sqrt(abar) x0 + sqrt(1 - abar) eps, the best noise predictor
is known in closed form, eps*(x_t) = sqrt(1 - abar) (x_t - sqrt(abar) mu) / (abar s^2 + 1 - abar),
so the samplers can be checked with no training. The ancestral chain is then linear-Gaussian too:
its samples' exact mean and variance follow from the posterior q(x_{t-1} | x_t, x0), derived here
by conjugacy (a different route than the module's coefficients), at a T small enough for the
chain to be far from the data distribution.
"""

import math
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from cfgrl_tf.generative import DDPM, ClassifierFreeGuidance, NoGuidance
from cfgrl_tf.generative.ddpm import SAMPLERS, SCHEDULES, beta_schedule
from cfgrl_tf.generative.noise import initial_noise, step_noise
from cfgrl_tf.networks import ConditionalVectorField

MU = np.array([0.3, -0.2], np.float32)
STD = 0.25
NUM_SAMPLES = 4000


class GaussianEps(keras.Model):
    """The exact noise predictor of N(MU, STD^2 I) data under `ddpm`'s schedule."""

    def __init__(self, ddpm):
        super().__init__()
        self.action_dim = 2
        self.num_steps = ddpm.num_steps
        self.alpha_bars = ddpm.alpha_bars

    def call(self, inputs):
        x = inputs["noisy_actions"]
        times = tf.reshape(inputs["times"], [-1])
        t_index = tf.cast(tf.round(times * self.num_steps), tf.int32) - 1
        abar = tf.gather(self.alpha_bars, t_index)[:, None]
        return tf.sqrt(1.0 - abar) * (x - tf.sqrt(abar) * MU) / (abar * STD**2 + 1.0 - abar)


class Recording:
    """Wraps a network and records the inputs of every call (run eagerly)."""

    def __init__(self, network):
        self.network = network
        self.action_dim = network.action_dim
        self.calls = []

    def __call__(self, inputs):
        self.calls.append({k: np.asarray(v) for k, v in inputs.items()})
        return self.network(inputs)


def gaussian_samples(ddpm, sampler=None, seed=0):
    return ddpm.sample(
        GaussianEps(ddpm),
        {"observations": tf.zeros([NUM_SAMPLES, 1])},
        seed=tf.constant(seed),
        jit_compile=True,
        sampler=sampler,
    ).numpy()


def exact_ancestral_moments(betas):
    """Mean and std of the ancestral chain's samples under the exact predictor, per dimension."""
    alphas = 1.0 - betas
    alpha_bars = np.cumprod(alphas)
    mean, var = np.zeros(2), np.ones(2)
    for t in reversed(range(len(betas))):
        abar = alpha_bars[t]
        # x0_hat = E[x0 | x_t] = MU + gain (x_t - sqrt(abar) MU).
        gain = math.sqrt(abar) * STD**2 / (abar * STD**2 + 1.0 - abar)
        if t == 0:  # the last step returns x0_hat
            mean, var = MU + gain * (mean - math.sqrt(abar) * MU), gain**2 * var
            continue
        previous = alpha_bars[t - 1]
        # x_{t-1} | x0 ~ N(sqrt(previous) x0, 1 - previous), x_t | x_{t-1} ~ N(sqrt(alpha) ., beta).
        post_var = 1.0 / (1.0 / (1.0 - previous) + alphas[t] / betas[t])
        on_x0 = post_var * math.sqrt(previous) / (1.0 - previous)
        on_xt = post_var * math.sqrt(alphas[t]) / betas[t]
        slope = on_x0 * gain + on_xt
        mean = slope * mean + on_x0 * (MU - gain * math.sqrt(abar) * MU)
        var = slope**2 * var + post_var
    return mean, np.sqrt(var)


def small_network(num_labels=None, seed=0):
    keras.utils.set_random_seed(seed)
    network = ConditionalVectorField(2, (32, 32), num_labels=num_labels, activation="mish")
    network(context_with_actions(context(4, labeled=num_labels is not None)))
    return network


def context(batch, labeled=False, mask=1.0):
    observations = tf.reshape(tf.linspace(-1.0, 1.0, batch * 3), [batch, 3])
    out = {"observations": observations}
    if labeled:
        out["labels"] = tf.fill([batch], 2)
        out["condition_mask"] = tf.fill([batch], mask)
    return out


def context_with_actions(ctx):
    batch = tf.shape(ctx["observations"])[0]
    return {**ctx, "noisy_actions": tf.zeros([batch, 2]), "times": tf.ones([batch])}


# -- schedules ------------------------------------------------------------------------------------


def test_vp_schedule_is_diffusion_ql_formula():
    # beta_t = 1 - exp(-0.1 / 5 - 9.9 (2t - 1) / 50), worked out by hand for t = 1..5.
    expected = [1.0 - math.exp(-0.02 - 0.198 * (2 * t - 1)) for t in range(1, 6)]
    np.testing.assert_allclose(beta_schedule("vp", 5), expected, rtol=1e-12)
    np.testing.assert_allclose(expected[0], 0.1958745583, rtol=1e-9)
    np.testing.assert_allclose(expected[4], 0.8350313792, rtol=1e-9)
    # The continuous VP integral: abar_T = exp(-(0.1 + 9.9 / 2)) whatever T is.
    for steps in (5, 50, 1000):
        abar_last = np.prod(1.0 - beta_schedule("vp", steps))
        np.testing.assert_allclose(abar_last, math.exp(-5.05), rtol=1e-9)


def test_linear_and_cosine_schedules():
    linear = beta_schedule("linear", 1000)
    assert linear.shape == (1000,) and linear.dtype == np.float64
    np.testing.assert_allclose([linear[0], linear[-1]], [1e-4, 2e-2], rtol=1e-12)
    np.testing.assert_allclose(np.diff(linear), (2e-2 - 1e-4) / 999, rtol=1e-9)
    cosine = beta_schedule("cosine", 100)
    abar = np.cumprod(1.0 - cosine)
    f = np.cos((np.arange(101) / 100 + 0.008) / 1.008 * np.pi / 2) ** 2
    np.testing.assert_allclose(abar[:-1], (f[1:] / f[0])[:-1], rtol=1e-9)
    assert cosine.max() == 0.999 and cosine[-1] == 0.999  # only the last beta is clipped
    assert np.all(cosine[:-1] < 0.999)


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("steps", [1, 5, 100])
def test_alpha_bars_decrease_inside_0_1(schedule, steps):
    ddpm = DDPM(steps, schedule)
    alpha_bars = ddpm.alpha_bars.numpy()
    assert ddpm.betas.dtype == tf.float32 and alpha_bars.shape == (steps,)
    assert np.all(alpha_bars > 0) and np.all(alpha_bars < 1)
    assert np.all(np.diff(alpha_bars) < 0)
    np.testing.assert_allclose(ddpm.alphas.numpy(), 1.0 - ddpm.betas.numpy(), atol=1e-7)
    np.testing.assert_allclose(alpha_bars, np.cumprod(ddpm.alphas.numpy()), rtol=1e-5)


def test_posterior_log_variance_replaces_the_first_entry_as_ddpm():
    ddpm = DDPM(5, "vp")
    variance = ddpm.posterior_variance.numpy()
    assert variance[0] == 0.0
    np.testing.assert_allclose(np.exp(ddpm.posterior_log_variance.numpy()[0]), variance[1])
    np.testing.assert_allclose(np.exp(ddpm.posterior_log_variance.numpy()[1:]), variance[1:])


# -- the forward process, the network's inputs, the loss ---------------------------------------


def test_network_times_add_noise_and_predict_x0():
    ddpm = DDPM(10, "cosine")
    np.testing.assert_allclose(ddpm.network_times(tf.constant([0, 4, 9])), [0.1, 0.5, 1.0])
    x0 = tf.constant([[0.5, -0.5], [0.2, 0.9], [-1.0, 0.0]])
    eps = tf.constant([[1.0, 2.0], [-1.0, 0.5], [0.3, -0.3]])
    t_index = tf.constant([0, 5, 9])
    x_t = ddpm.add_noise(x0, t_index, eps).numpy()
    abar = ddpm.alpha_bars.numpy()[[0, 5, 9]][:, None]
    np.testing.assert_allclose(x_t, np.sqrt(abar) * x0 + np.sqrt(1 - abar) * eps, rtol=1e-5)
    # predict_x0 inverts add_noise and does not clip (the last row's x0 is at the boundary; a
    # wrong noise makes it leave [-1, 1]).
    np.testing.assert_allclose(ddpm.predict_x0(x_t, t_index, eps), x0, atol=1e-4)
    assert np.abs(ddpm.predict_x0(x_t, t_index, eps - 1.0).numpy()).max() > 1.5


def test_draw_is_seeded_and_uniform():
    ddpm = DDPM(5)
    targets = tf.zeros([20000, 3])
    t_index, eps = ddpm.draw(targets, tf.constant([1, 2]))
    again, _ = ddpm.draw(targets, tf.constant([1, 2]))
    other, _ = ddpm.draw(targets, tf.constant([1, 3]))
    assert t_index.dtype == tf.int32 and eps.shape == (20000, 3)
    np.testing.assert_array_equal(t_index, again)
    assert np.mean(t_index.numpy() != other.numpy()) > 0.7
    np.testing.assert_allclose(np.bincount(t_index.numpy(), minlength=5) / 20000, 0.2, atol=0.015)
    np.testing.assert_allclose([eps.numpy().mean(), eps.numpy().std()], [0.0, 1.0], atol=0.02)


def test_loss_is_the_per_example_epsilon_error():
    ddpm = DDPM(5)
    network = small_network()
    targets = tf.constant(np.random.default_rng(0).uniform(-1, 1, (8, 2)), tf.float32)
    seed = tf.constant([3, 4])
    loss = ddpm.loss(network, context(8), targets, seed).numpy()
    t_index, eps = ddpm.draw(targets, seed)
    predicted = ddpm.predict_eps(
        network, context(8), ddpm.add_noise(targets, t_index, eps), t_index
    )
    assert loss.shape == (8,) and np.all(np.isfinite(loss)) and np.all(loss >= 0)
    np.testing.assert_allclose(loss, np.mean((predicted.numpy() - eps.numpy()) ** 2, -1), rtol=1e-5)


def test_training_lowers_the_loss():
    ddpm = DDPM(5, "vp")
    network = small_network()
    optimizer = keras.optimizers.Adam(3e-3)
    optimizer.build(network.trainable_variables)
    batch = 256
    # Two clusters of actions, the cluster given by the sign of the first observation.
    observations = context(batch)["observations"]
    sign = tf.where(observations[:, :1] > 0, 1.0, -1.0)
    targets = tf.concat([0.6 * sign, -0.4 * sign], axis=1)
    seeds = tf.stack([tf.range(300), tf.zeros([300], tf.int32)], axis=1)

    def mean_loss(seed_base):
        losses = [
            ddpm.loss(network, {"observations": observations}, targets, tf.constant([s, 7]))
            for s in range(seed_base, seed_base + 8)
        ]
        return float(tf.reduce_mean(losses))

    @tf.function(jit_compile=True)
    def train(seeds):
        for i in tf.range(tf.shape(seeds)[0]):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(
                    ddpm.loss(network, {"observations": observations}, targets, seeds[i])
                )
            grads = tape.gradient(loss, network.trainable_variables)
            optimizer.apply_gradients(zip(grads, network.trainable_variables, strict=True))

    before = mean_loss(1000)
    start = time.time()
    train(seeds)
    after = mean_loss(1000)
    assert time.time() - start < 30
    # 0.92 -> 0.04 in 300 steps on this machine.
    assert after < 0.25 * before, (before, after)


# -- the samplers against the exact predictor --------------------------------------------------


@pytest.mark.parametrize("steps, schedule, shrink", [(5, "vp", 0.6), (100, "cosine", 0.96)])
def test_ancestral_chain_matches_its_exact_moments(steps, schedule, shrink):
    # At T = 5 the chain shrinks the data (std 0.10 for 0.25), at T = 100 still by 6%: a strong
    # check of the posterior's coefficients and variances, which a wrong one moves off these
    # moments.
    ddpm = DDPM(steps, schedule, clip=False)
    samples = gaussian_samples(ddpm)
    mean, std = exact_ancestral_moments(beta_schedule(schedule, steps))
    assert std[0] < shrink * STD
    np.testing.assert_allclose(samples.mean(0), mean, atol=0.006)
    np.testing.assert_allclose(samples.std(0), std, rtol=0.04)


@pytest.mark.parametrize(
    "steps, schedule, sampler",
    [
        (1000, "linear", "ddpm"),
        (1000, "linear", "dpm_solver"),
        (100, "cosine", "dpm_solver"),
        (1000, "cosine", "dpm_solver"),
    ],
)
def test_samplers_reach_the_data_distribution_at_large_t(steps, schedule, sampler):
    # 15 solver points sample the std 2-5% wide; first order alone (DDIM) 16-24% narrow.
    ddpm = DDPM(steps, schedule, sampler=sampler, solver_steps=15, clip=False)
    samples = gaussian_samples(ddpm)
    np.testing.assert_allclose(samples.mean(0), MU, atol=0.015)
    np.testing.assert_allclose(samples.std(0), STD, rtol=0.06)


def test_dpm_solver_at_15_points_tracks_the_every_step_solver():
    fine = gaussian_samples(DDPM(1000, "linear", sampler="dpm_solver", solver_steps=1000))
    coarse = gaussian_samples(DDPM(1000, "linear", sampler="dpm_solver", solver_steps=15))
    # The same starting noise: the solvers differ only by their discretisation error.
    np.testing.assert_allclose(coarse, fine, atol=0.05)
    np.testing.assert_allclose(coarse.std(0), fine.std(0), rtol=0.04)


def test_dpm_solver_first_step_is_ddim():
    # Two grid points: one first-order update, from t = T to t = 1, then x0_hat at t = 1.
    ddpm = DDPM(10, "cosine", sampler="dpm_solver", solver_steps=2, clip=False)
    np.testing.assert_array_equal(ddpm.solver_grid(), [9, 0])
    network = GaussianEps(ddpm)
    abar = ddpm.alpha_bars.numpy().astype(np.float64)
    x = initial_noise(64, 2, tf.constant(4)).numpy().astype(np.float64)

    def eps(x, t):
        return (
            math.sqrt(1 - abar[t])
            * (x - math.sqrt(abar[t]) * MU)
            / (abar[t] * STD**2 + 1 - abar[t])
        )

    def x0(x, t):
        return (x - math.sqrt(1 - abar[t]) * eps(x, t)) / math.sqrt(abar[t])

    # DDIM (eta = 0): x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s) eps_hat.
    x1 = math.sqrt(abar[0]) * x0(x, 9) + math.sqrt(1 - abar[0]) * eps(x, 9)
    samples = ddpm.sample(network, {"observations": tf.zeros([64, 1])}, seed=tf.constant(4))
    np.testing.assert_allclose(samples.numpy(), x0(x1, 0), atol=1e-4)


@pytest.mark.parametrize(
    "steps, points", [(5, 15), (16, 15), (100, 15), (1000, 15), (50, 2), (7, 1)]
)
def test_solver_grid_is_strictly_decreasing_from_t_to_1(steps, points):
    ddpm = DDPM(steps, "linear" if steps >= 100 else "vp", solver_steps=points)
    grid = ddpm.solver_grid()
    assert len(grid) == min(points, steps) and grid[0] == steps - 1
    if points > 1:
        assert grid[-1] == 0
    assert np.all(np.diff(grid) < 0)
    if points >= steps:
        np.testing.assert_array_equal(grid, np.arange(steps - 1, -1, -1))
    elif steps >= 100:
        # Roughly even in log-SNR: no gap more than twice the mean.
        log_snr = np.log(ddpm.alpha_bars.numpy() / (1 - ddpm.alpha_bars.numpy()))[grid]
        gaps = np.diff(log_snr)
        assert gaps.max() < 2.0 * gaps.mean()


@pytest.mark.parametrize("sampler, calls", [("ddpm", 6), ("dpm_solver", 4)])
def test_network_calls_and_their_times(sampler, calls):
    ddpm = DDPM(6, "vp", sampler=sampler, solver_steps=4)
    network = Recording(small_network())
    ddpm.sample(network, context(3), seed=tf.constant(0))
    assert len(network.calls) == calls
    times = [call["times"] for call in network.calls]
    expected = np.arange(6, 0, -1) if sampler == "ddpm" else ddpm.solver_grid() + 1
    np.testing.assert_allclose([t[0] for t in times], expected / 6, rtol=1e-6)
    assert all(t.shape == (3,) for t in times)


def test_clipping():
    ddpm = DDPM(5, "vp")
    pushed = Recording(small_network())
    pushed.network = lambda inputs: -10.0 * tf.ones_like(inputs["noisy_actions"])
    for sampler in SAMPLERS:
        samples = ddpm.sample(pushed, context(64), seed=tf.constant(1), sampler=sampler).numpy()
        assert samples.min() >= -1.0 and samples.max() <= 1.0
        assert np.mean(samples == 1.0) > 0.9
    unclipped = DDPM(5, "vp", clip=False)
    assert unclipped.sample(pushed, context(64), seed=tf.constant(1)).numpy().min() > 1.0


# -- seeds and XLA --------------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_same_seed_same_samples_eager_and_compiled(sampler):
    ddpm = DDPM(20, "cosine", sampler=sampler, solver_steps=8, clip=False)
    network = small_network()
    run = lambda seed, jit: ddpm.sample(  # noqa: E731
        network, context(64), seed=tf.constant(seed), jit_compile=jit
    ).numpy()
    eager, again, compiled, other = run(5, False), run(5, False), run(5, True), run(6, False)
    np.testing.assert_array_equal(eager, again)
    np.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-5)
    assert np.mean(np.any(eager != other, axis=1)) > 0.99


def test_ancestral_sample_uses_the_seeds_noise():
    ddpm = DDPM(4, "vp", clip=False)
    network = small_network()
    ctx = context(16)
    seed = tf.constant(9)
    start, noise = initial_noise(16, 2, seed), step_noise(4, 16, 2, seed)
    expected = ddpm.reverse(network, ctx, start, noise, None, guidance=NoGuidance(), sampler="ddpm")
    np.testing.assert_array_equal(ddpm.sample(network, ctx, seed=seed).numpy(), expected.numpy())
    # The step noise is not the starting noise again, and it matters (except its row 0).
    assert not np.allclose(noise[1].numpy(), start.numpy())
    zeroed = tf.concat([noise[:1], tf.zeros_like(noise[1:])], axis=0)
    quiet = ddpm.reverse(network, ctx, start, zeroed, None, guidance=NoGuidance(), sampler="ddpm")
    assert not np.allclose(quiet.numpy(), expected.numpy(), atol=1e-3)
    first_row_only = tf.concat([tf.zeros_like(noise[:1]), noise[1:]], axis=0)
    same = ddpm.reverse(
        network, ctx, start, first_row_only, None, guidance=NoGuidance(), sampler="ddpm"
    )
    np.testing.assert_array_equal(same.numpy(), expected.numpy())


# -- gradients through the chain -----------------------------------------------------------------


def test_sample_in_training_gradients_reach_every_weight():
    ddpm = DDPM(5, "vp")
    network = small_network()
    variables = network.trainable_variables
    ctx, seed = context(32), tf.constant([1, 2])

    def grads(sample):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(sample() - 0.3))
        return tape.gradient(loss, variables)

    in_training = [
        grads(lambda: ddpm.sample_in_training(network, ctx, seed)),
        # As in the learner's step. XLA draws other numbers from the same seed, so these
        # gradients differ from the eager ones; the chain itself is compared below.
        tf.function(
            lambda: grads(lambda: ddpm.sample_in_training(network, ctx, seed)), jit_compile=True
        )(),
    ]
    assert len(variables) >= 6
    for gradients in in_training:
        for variable, grad in zip(variables, gradients, strict=True):
            assert grad is not None, variable.path
            grad = grad.numpy()
            assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0, variable.path
    # Given the noise, the compiled chain's gradients are the eager chain's.
    start, noise = initial_noise(32, 2, tf.constant(3)), step_noise(5, 32, 2, tf.constant(3))

    def chain():
        return ddpm.reverse(network, ctx, start, noise, None, guidance=NoGuidance(), sampler="ddpm")

    eager, compiled = grads(chain), tf.function(lambda: grads(chain), jit_compile=True)()
    for grad, grad_xla in zip(eager, compiled, strict=True):
        np.testing.assert_allclose(grad_xla.numpy(), grad.numpy(), rtol=1e-3, atol=1e-5)


def test_sample_in_training_gradient_is_the_whole_chains():
    # The tape's directional derivative equals a finite difference of the samples: no step of
    # the chain is cut off from the gradient.
    ddpm = DDPM(5, "vp", clip=False)
    network = small_network()
    ctx, seed = context(32), tf.constant([3, 4])
    variables = network.trainable_variables
    rng = np.random.default_rng(0)
    direction = [tf.constant(rng.normal(size=v.shape), tf.float32) for v in variables]

    def objective():
        return float(tf.reduce_sum(tf.sin(3.0 * ddpm.sample_in_training(network, ctx, seed))))

    with tf.GradientTape() as tape:
        value = tf.reduce_sum(tf.sin(3.0 * ddpm.sample_in_training(network, ctx, seed)))
    grads = tape.gradient(value, variables)
    analytic = sum(float(tf.reduce_sum(g * d)) for g, d in zip(grads, direction, strict=True))
    original = [v.numpy() for v in variables]
    step = 1e-3
    values = []
    for sign in (1.0, -1.0):
        for v, w, d in zip(variables, original, direction, strict=True):
            v.assign(w + sign * step * d.numpy())
        values.append(objective())
    for v, w in zip(variables, original, strict=True):
        v.assign(w)
    numeric = (values[0] - values[1]) / (2 * step)
    np.testing.assert_allclose(analytic, numeric, rtol=0.03)


# -- guidance -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_classifier_free_guidance_endpoints(sampler):
    ddpm = DDPM(8, "vp", sampler=sampler, solver_steps=4)
    network = small_network(num_labels=2)
    seed = tf.constant(11)

    def plain(mask):
        return ddpm.sample(network, context(16, labeled=True, mask=mask), seed=seed).numpy()

    def guided(weight):
        return ddpm.sample(
            network,
            context(16, labeled=True),
            seed=seed,
            guidance=ClassifierFreeGuidance(),
            knob=weight,
        ).numpy()

    conditional, null = plain(1.0), plain(0.0)
    assert not np.allclose(conditional, null, atol=1e-2)  # the condition matters
    np.testing.assert_allclose(guided(1.0), conditional, atol=1e-5)
    np.testing.assert_allclose(guided(0.0), null, atol=1e-5)
    # Each row reads its own weight.
    weights = np.where(np.arange(16) % 2 == 0, 0.0, 1.0).astype(np.float32)
    mixed = guided(tf.constant(weights))
    np.testing.assert_allclose(mixed[weights == 0], null[weights == 0], atol=1e-5)
    np.testing.assert_allclose(mixed[weights == 1], conditional[weights == 1], atol=1e-5)
    assert not np.allclose(guided(3.0), conditional, atol=1e-2)


def test_guided_network_sees_both_halves_in_one_call():
    ddpm = DDPM(3, "vp")
    network = Recording(small_network(num_labels=2))
    ddpm.sample(
        network,
        context(5, labeled=True),
        seed=tf.constant(0),
        guidance=ClassifierFreeGuidance(),
        knob=2.0,
    )
    assert len(network.calls) == 3
    for call in network.calls:
        assert call["noisy_actions"].shape == (10, 2)
        np.testing.assert_array_equal(call["condition_mask"], [1] * 5 + [0] * 5)
        np.testing.assert_array_equal(call["noisy_actions"][:5], call["noisy_actions"][5:])


# -- bad input ------------------------------------------------------------------------------------


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match=r"^num_diffusion_steps=0: expected at least 1$"):
        DDPM(0)
    with pytest.raises(ValueError, match=r"^num_diffusion_steps=0: expected at least 1$"):
        beta_schedule("vp", 0)
    with pytest.raises(ValueError, match=r"schedule='sigmoid': expected one of vp, linear, cosine"):
        DDPM(5, "sigmoid")
    with pytest.raises(ValueError, match=r"schedule='quad': expected one of vp, linear, cosine"):
        beta_schedule("quad", 5)
    with pytest.raises(ValueError, match=r"sampler='ddim': expected one of ddpm, dpm_solver"):
        DDPM(5, sampler="ddim")
    with pytest.raises(ValueError, match=r"solver_steps=0: expected at least 1"):
        DDPM(5, solver_steps=0)
    ddpm, network = DDPM(5), small_network()
    with pytest.raises(ValueError, match=r"sampler='euler': expected one of ddpm, dpm_solver"):
        ddpm.sample(network, context(2), seed=tf.constant(0), sampler="euler")
    with pytest.raises(ValueError, match=r"needs step_noise"):
        ddpm.reverse(
            network, context(2), tf.zeros([2, 2]), None, None, guidance=NoGuidance(), sampler="ddpm"
        )
    with pytest.raises(ValueError, match="guidance weight"):
        DDPM(5).sample(
            small_network(num_labels=2),
            context(2, labeled=True),
            seed=tf.constant(0),
            guidance=ClassifierFreeGuidance(),
        )
