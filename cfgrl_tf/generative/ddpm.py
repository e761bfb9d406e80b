"""A DDPM (Ho et al., 2020) over actions: epsilon prediction on a discrete noise schedule, sampled
by the ancestral chain or by a deterministic DPM-Solver++(2M).

The schedule. Step t = 1..T (index t - 1 in every array here) adds noise of variance beta_t;
alpha_t = 1 - beta_t and abar_t = alpha_1 * ... * alpha_t, so x_t = sqrt(abar_t) x_0 +
sqrt(1 - abar_t) eps in one jump. Three schedules (`beta_schedule`):
  "vp"      Diffusion-QL's: the continuous VP SDE (beta from 0.1 to 10) discretised into T steps,
            so abar_T = exp(-5.05) for every T; made for small T (Diffusion-QL uses 5).
  "linear"  DDPM's, 1e-4 to 2e-2. Made for T = 1000: at T = 100 it stops at abar_T = 0.37,
            far from the N(0, I) the sampler starts from.
  "cosine"  Nichol & Dhariwal's, abar(u) = cos^2((u + 0.008) / 1.008 * pi / 2) at u = t / T,
            with the betas clipped at 0.999.

Training (`loss`) is Diffusion-BC's: t uniform in 1..T, eps ~ N(0, I), and the squared error of
the network's noise prediction at x_t. The network is a `ConditionalVectorField` whose output is
read as epsilon; its `times` input is t / T, in (0, 1] (1 = the noisiest step; flow matching's
time runs the other way, 1 = data, but the two never share a network).

Ancestral sampling ("ddpm"), as Diffusion-QL does it: x_T ~ N(0, I); for t = T..1 the (guided)
noise prediction gives x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t), clipped to [-1, 1]
when `clip`, and

  x_{t-1} = c1_t x0_hat + c2_t x_t + sigma_t z,
  c1_t = beta_t sqrt(abar_{t-1}) / (1 - abar_t),
  c2_t = (1 - abar_{t-1}) sqrt(alpha_t) / (1 - abar_t),
  sigma_t^2 = beta_t (1 - abar_{t-1}) / (1 - abar_t)   (abar_0 = 1),

the mean and variance of the posterior q(x_{t-1} | x_t, x_0 = x0_hat). DDPM takes sigma_t from a
log-variance whose t = 1 entry (a variance of 0) is replaced by t = 2's; that entry would only
scale the last step's noise, and the last step (t = 1) adds none, so sigma_1 = 0 here. The final
x_0 is clipped to [-1, 1] when `clip`. The posterior variance leaves out the uncertainty of x0_hat,
so a short chain samples narrower than the data even with a perfect network: with T = 5 ("vp") a
Gaussian of std 0.25 comes out at 0.10, with T = 100 ("cosine") 6% narrow, with T = 1000 exact.

DPM-Solver++(2M) ("dpm_solver", Lu et al., 2022), for large T in few network calls: with
alpha = sqrt(abar), sigma = sqrt(1 - abar) and lambda = log(alpha / sigma) at each discrete step,
it integrates the probability-flow ODE in lambda on the network's data prediction x0_hat (clipped
when `clip`): a first-order (DDIM) update, then second-order ones whose slope comes from the
previous x0_hat. The grid (`solver_grid`) is min(solver_steps, T) of the discrete steps, from
t = T down to t = 1, as evenly spaced in lambda as distinct steps allow (every step when
solver_steps >= T). Evenly spaced t, the other usual grid, crowds the points where the noise is
large and leaves a few wide steps where the action takes shape: at 15 points on DDPM's T = 1000
it samples a Gaussian's std 30% too wide, the lambda grid within 4%. Each grid point costs one
network call, and the sample is the x0_hat of the last point (t = 1): there is no step on to
abar = 1, where lambda is infinite. The solver adds no noise, so a sample is a deterministic
function of its starting noise.

Randomness. `sample` draws the starting noise and all T steps' noise from its scalar seed outside
XLA (see noise.py), then runs the deterministic chain (`reverse`), compiled with XLA when asked.
`sample_in_training` draws them from a [2] stateless seed inside the learner's compiled step and
keeps gradients through every step (Diffusion-QL's actor loss). Both chains are `tf.while_loop`s
over tables of their coefficients, not Python loops: a graph holds one copy of the network
whatever T is (an unrolled T = 50 chain took 30 s to compile with its gradient, the loop 2 s).
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import tensorflow as tf

from cfgrl_tf.generative.base import GenerativeModel
from cfgrl_tf.generative.guidance import Guidance, NoGuidance
from cfgrl_tf.generative.noise import initial_noise, step_noise
from cfgrl_tf.rng import split_seed

SCHEDULES = ("vp", "linear", "cosine")
SAMPLERS = ("ddpm", "dpm_solver")


def beta_schedule(name: str, num_steps: int) -> np.ndarray:
    """The betas [T] (float64) of a named schedule; index 0 is step t = 1.

    Raises:
      ValueError: for an unknown name or fewer than one step.
    """
    if num_steps < 1:
        raise ValueError(f"num_diffusion_steps={num_steps}: expected at least 1")
    steps = int(num_steps)
    if name == "vp":
        b_min, b_max = 0.1, 10.0
        t = np.arange(1, steps + 1, dtype=np.float64)
        return 1.0 - np.exp(-b_min / steps - (b_max - b_min) * (2.0 * t - 1.0) / (2.0 * steps**2))
    if name == "linear":
        return np.linspace(1e-4, 2e-2, steps, dtype=np.float64)
    if name == "cosine":
        u = np.arange(steps + 1, dtype=np.float64) / steps
        alpha_bar = np.cos((u + 0.008) / 1.008 * np.pi / 2.0) ** 2
        return np.minimum(1.0 - alpha_bar[1:] / alpha_bar[:-1], 0.999)
    raise ValueError(f"schedule={name!r}: expected one of {', '.join(SCHEDULES)}")


class DDPM(GenerativeModel):
    """A DDPM with `num_steps` diffusion steps, sampled by `sampler`.

    Args:
      num_steps: T (Diffusion-QL: 5 with "vp"; EDP: 100 to 1000 with the solver).
      schedule: the beta schedule, one of SCHEDULES.
      sampler: the default sampler, one of SAMPLERS: "ddpm" (T ancestral steps) or
        "dpm_solver" (min(solver_steps, T) network calls, deterministic).
      solver_steps: the DPM-solver's network calls (its grid's points).
      clip: clip x0 estimates and samples into [-1, 1] (actions).

    Raises:
      ValueError: for T < 1, an unknown schedule or sampler, or solver_steps < 1.
    """

    def __init__(
        self,
        num_steps: int = 5,
        schedule: str = "vp",
        sampler: str = "ddpm",
        solver_steps: int = 15,
        clip: bool = True,
    ):
        betas = beta_schedule(schedule, num_steps)
        self.sampler = _check_sampler(sampler)
        if solver_steps < 1:
            raise ValueError(f"solver_steps={solver_steps}: expected at least 1")
        self.num_steps = int(num_steps)
        self.schedule = schedule
        self.solver_steps = int(solver_steps)
        self.clip = bool(clip)

        # Everything is derived in float64 and only then cast: 1 - abar_t is tiny at small t.
        alphas = 1.0 - betas
        alpha_bars = np.cumprod(alphas)
        previous = np.concatenate([[1.0], alpha_bars[:-1]])
        posterior_variance = betas * (1.0 - previous) / (1.0 - alpha_bars)
        clipped = posterior_variance.copy()
        if self.num_steps > 1:
            clipped[0] = posterior_variance[1]
        log_variance = np.log(np.maximum(clipped, 1e-20))
        self._sqrt_alpha_bars = np.sqrt(alpha_bars)
        self._sqrt_one_minus = np.sqrt(1.0 - alpha_bars)
        self._c1 = betas * np.sqrt(previous) / (1.0 - alpha_bars)
        self._c2 = (1.0 - previous) * np.sqrt(alphas) / (1.0 - alpha_bars)
        self._sigmas = np.exp(0.5 * log_variance)
        self._sigmas[0] = 0.0  # the last step adds no noise
        self._log_snr = np.log(self._sqrt_alpha_bars) - np.log(self._sqrt_one_minus)

        def constant(values):
            return tf.constant(values, tf.float32)

        self.betas = constant(betas)
        self.alphas = constant(alphas)
        self.alpha_bars = constant(alpha_bars)
        self.posterior_variance = constant(posterior_variance)
        self.posterior_log_variance = constant(log_variance)
        self.sqrt_alpha_bars = constant(self._sqrt_alpha_bars)
        self.sqrt_one_minus_alpha_bars = constant(self._sqrt_one_minus)

    # -- the forward process and the network --------------------------------------------------

    def network_times(self, t_index: tf.Tensor) -> tf.Tensor:
        """The network's `times` input [B] for step indices [B] in 0..T-1: (t_index + 1) / T."""
        return tf.cast(t_index + 1, tf.float32) / float(self.num_steps)

    def draw(self, targets: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(t_index int32 [B] uniform in 0..T-1, eps [B, D] ~ N(0, I)) from a [2] seed."""
        step_seed, eps_seed = split_seed(seed, 2)
        t_index = tf.random.stateless_uniform(
            [tf.shape(targets)[0]], seed=step_seed, minval=0, maxval=self.num_steps, dtype=tf.int32
        )
        eps = tf.random.stateless_normal(tf.shape(targets), seed=eps_seed, dtype=targets.dtype)
        return t_index, eps

    def add_noise(self, targets: tf.Tensor, t_index: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, per row."""
        return _rows(self.sqrt_alpha_bars, t_index) * targets + (
            _rows(self.sqrt_one_minus_alpha_bars, t_index) * eps
        )

    def predict_x0(self, x_t: tf.Tensor, t_index: tf.Tensor, eps_pred: tf.Tensor) -> tf.Tensor:
        """The x_0 that `eps_pred` implies: (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t), per row
        (not clipped)."""
        return (x_t - _rows(self.sqrt_one_minus_alpha_bars, t_index) * eps_pred) / _rows(
            self.sqrt_alpha_bars, t_index
        )

    def predict_eps(
        self,
        network: keras.Model,
        context: dict[str, tf.Tensor],
        x_t: tf.Tensor,
        t_index: tf.Tensor,
    ) -> tf.Tensor:
        """The network's noise prediction [B, D] at x_t, step indices t_index [B]."""
        return network({**context, "noisy_actions": x_t, "times": self.network_times(t_index)})

    def loss(self, network, context, targets, seed):
        t_index, eps = self.draw(targets, seed)
        predicted = self.predict_eps(
            network, context, self.add_noise(targets, t_index, eps), t_index
        )
        return tf.reduce_mean(tf.square(predicted - eps), axis=-1)

    # -- sampling ---------------------------------------------------------------------------------

    def sample(
        self, network, context, *, seed, guidance=None, knob=None, jit_compile=False, sampler=None
    ):
        sampler = self.sampler if sampler is None else _check_sampler(sampler)
        context = {k: tf.convert_to_tensor(v) for k, v in context.items()}
        batch_size = tf.shape(context["observations"])[0]
        noise_start = initial_noise(batch_size, network.action_dim, seed)
        noise = None
        if sampler == "ddpm":
            noise = step_noise(self.num_steps, batch_size, network.action_dim, seed)
        if knob is not None:
            knob = tf.broadcast_to(tf.cast(knob, tf.float32), [batch_size])
        run = functools.partial(
            self.reverse, network, guidance=guidance or NoGuidance(), sampler=sampler
        )
        if jit_compile:
            run = tf.function(run, jit_compile=True)
        return run(context, noise_start, noise, knob)

    def sample_in_training(
        self, network: keras.Model, context: dict[str, tf.Tensor], seed: tf.Tensor
    ) -> tf.Tensor:
        """[B, network.action_dim] unguided samples of the ancestral chain from a [2] seed, for
        use inside a train step: differentiable in the network's weights through every step."""
        start_seed, noise_seed = split_seed(seed, 2)
        shape = [tf.shape(context["observations"])[0], network.action_dim]
        noise_start = tf.random.stateless_normal(shape, seed=start_seed)
        noise = tf.random.stateless_normal([self.num_steps, *shape], seed=noise_seed)
        return self.reverse(
            network, context, noise_start, noise, None, guidance=NoGuidance(), sampler="ddpm"
        )

    def reverse(
        self,
        network: keras.Model,
        context: dict[str, tf.Tensor],
        noise_start: tf.Tensor,
        step_noise: tf.Tensor | None,
        knob: tf.Tensor | None,
        *,
        guidance: Guidance,
        sampler: str,
    ) -> tf.Tensor:
        """The deterministic, differentiable part of sampling: the chain from noise_start.

        Args:
          network: the noise network.
          context: its inputs besides `noisy_actions` and `times`, each [B, ...].
          noise_start: [B, D] the starting noise.
          step_noise: [T, B, D], row t_index the noise added on leaving step t_index + 1 (row 0
            is never used: the last step adds none); ignored (may be None) by "dpm_solver".
          knob: [B] each row's guidance setting, or None.
          guidance: the hook applied to every noise prediction.
          sampler: one of SAMPLERS.

        Returns:
          [B, D] samples, clipped into [-1, 1] when `clip`.
        """
        _check_sampler(sampler)
        rows = guidance.copies * tf.shape(noise_start)[0]
        network_context = guidance.network_context(context)

        def guided_eps(x, t):
            inputs = tf.concat([x] * guidance.copies, axis=0)
            eps = self.predict_eps(network, network_context, inputs, tf.fill([rows], t))
            return guidance.combine(eps, knob)

        if sampler == "ddpm":
            if step_noise is None:
                raise ValueError("ancestral (ddpm) sampling needs step_noise [T, B, D]")
            x = self._ancestral(guided_eps, noise_start, step_noise)
        else:
            x = self._dpm_solver(guided_eps, noise_start)
        return tf.clip_by_value(x, -1.0, 1.0) if self.clip else x

    def solver_grid(self) -> np.ndarray:
        """The DPM-solver's step indices [min(solver_steps, T)], from T - 1 (t = T) down to 0."""
        points = min(self.solver_steps, self.num_steps)
        last = self.num_steps - 1
        if points == self.num_steps:
            return np.arange(last, -1, -1)
        if points == 1:
            return np.array([last])
        targets = np.linspace(self._log_snr[last], self._log_snr[0], points)
        grid = [last]
        for k, target in enumerate(targets[1:], start=1):
            nearest = int(np.argmin(np.abs(self._log_snr - target)))
            # Strictly decreasing, with room left for the points still to come (which also makes
            # the last point step 0).
            grid.append(min(max(nearest, points - 1 - k), grid[-1] - 1))
        return np.asarray(grid)

    def _x0(self, x, t_index, eps):
        x0 = self.predict_x0(x, t_index, eps)
        return tf.clip_by_value(x0, -1.0, 1.0) if self.clip else x0

    def _ancestral(self, guided_eps, noise_start, noise):
        c1, c2, sigmas = (tf.constant(v, tf.float32) for v in (self._c1, self._c2, self._sigmas))

        def step(t, x):
            x0 = self._x0(x, tf.fill([tf.shape(x)[0]], t), guided_eps(x, t))
            # sigma is 0 at the last step (t = 0): that step adds no noise.
            x = c1[t] * x0 + c2[t] * x + sigmas[t] * noise[t]
            return t - 1, x

        # A loop, not T unrolled copies of the network: XLA compiles it once whatever T is.
        _, x = tf.while_loop(
            lambda t, x: t >= 0,
            step,
            (tf.constant(self.num_steps - 1), noise_start),
            maximum_iterations=self.num_steps,
        )
        return x

    def _dpm_solver(self, guided_eps, noise_start):
        grid = self.solver_grid()
        alpha, sigma, lam = self._sqrt_alpha_bars, self._sqrt_one_minus, self._log_snr
        # Update k goes from grid[k] to grid[k + 1]: x <- scale x + shift (w_now x0 + w_prev x0'),
        # x0 and x0' the data predictions at grid[k] and grid[k - 1]. The first update is first
        # order (w_prev = 0), the rest second order.
        now, nxt = grid[:-1], grid[1:]
        h = lam[nxt] - lam[now]
        ratio = np.ones_like(h)
        ratio[1:] = h[:-1] / h[1:]
        w_prev = np.where(np.arange(len(h)) == 0, 0.0, -0.5 / ratio)
        tables = [
            tf.constant(v, dtype)
            for v, dtype in (
                (now, tf.int32),
                (sigma[nxt] / sigma[now], tf.float32),
                (-alpha[nxt] * np.expm1(-h), tf.float32),
                (1.0 - w_prev, tf.float32),
                (w_prev, tf.float32),
            )
        ]
        steps, scale, shift, w_now, w_prev = tables

        def predict(x, t):
            return self._x0(x, tf.fill([tf.shape(x)[0]], t), guided_eps(x, t))

        def update(k, x, previous):
            x0 = predict(x, steps[k])
            x = scale[k] * x + shift[k] * (w_now[k] * x0 + w_prev[k] * previous)
            return k + 1, x, x0

        _, x, _ = tf.while_loop(
            lambda k, x, previous: k < len(h),
            update,
            (tf.constant(0), noise_start, tf.zeros_like(noise_start)),
            maximum_iterations=len(h),
        )
        # The sample is the data prediction at t = 1; a step on to abar = 1 would need lambda = inf.
        return predict(x, int(grid[-1]))


def _rows(table: tf.Tensor, t_index: tf.Tensor) -> tf.Tensor:
    """table[t_index] as a [B, 1] column."""
    return tf.gather(table, t_index)[:, None]


def _check_sampler(sampler: str) -> str:
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler={sampler!r}: expected one of {', '.join(SAMPLERS)}")
    return sampler
