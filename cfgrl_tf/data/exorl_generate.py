"""ExORL-style reward-free data collection in DeepMind Control: random actions or RND.

ExORL (Yarats et al., 2022) collected its datasets with unsupervised agents that never see a
task reward; `exorl.py` reads them. This module collects such data locally, in ExORL's layout:

  <output_dir>/<domain>/<algorithm>/buffer/<YYYYmmddTHHMMSS>_<index>_<length>.npz

one episode per file, every array with `length + 1` rows (row 0 is the reset step: zero action,
reward 0, discount 1): `observation` [T+1, obs] float32, `action` [T+1, act] float32 (row t + 1
holds the action that led to step t + 1), `reward` and `discount` [T+1, 1] float32 and
`physics` [T+1, nphys] float64 (`physics.get_state()`). The stored reward is the task reward of
the domain's first task (`dmc_tasks.TASKS`) and the discount is 1 throughout; the reader ignores
both and relabels any task of the domain from `physics`. The time stamp is the wall-clock time
the episode was written, as in ExORL, and `index` numbers the episodes of the run from 0.

Algorithms:

* `random`: actions uniform in [-1, 1].
* `rnd`: DDPG trained on RND's intrinsic reward alone (ExORL's RND agent, from URLB). A fixed,
  randomly initialised target MLP and a trained predictor MLP read the next observation,
  normalised by the running mean and std of every observation collected so far and clipped to
  [-5, 5]; the intrinsic reward is the predictor's mean squared error, divided by the running
  std of those errors. A deterministic tanh actor and twin critics (LayerNorm MLPs) learn it by
  1-step TD with clipped double Q and target policy smoothing (noise std 0.2 clipped at 0.3),
  a Polyak-averaged target critic (rate 0.01) and discount 0.99; no episode end is a
  termination (time limits only). The actor explores with N(0, 0.2^2) noise, clipped into
  [-1, 1] (ExORL's fixed std 0.2); the first `num_seed_frames` transitions of each worker are
  uniform random. Every `update_every` transitions, one gradient update of the predictor,
  critics and actor on a uniform batch of everything the worker collected so far (ExORL's replay
  holds the whole dataset too). ExORL trains 1024-wide networks on batches of 1024 every 2 steps,
  far beyond a CPU's budget; the defaults here (256 wide, batches of 128, an update every 4
  transitions, updates compiled with XLA) are sized so that a million walker transitions take
  well under an hour on two cores (`benchmarks/exorl_collect_speed.py` measures it).

Parallelism: `num_workers` spawned processes, each with its own agent (for `rnd`), its own
replay and its own share of the episodes, and no communication besides progress messages: two
independent explorers, each on half the data, rather than one learner fed by stepping workers,
which on two cores would leave the learner as the bottleneck and need a weight broadcast. Each
worker steps `num_envs` environments in lockstep, one batched policy call per step, so the
per-call TensorFlow overhead is shared; its gradient updates for a step run as one compiled
call. TensorFlow in a worker gets `threads_per_worker` threads (default: the machine's cores
divided by the workers, so two workers on two cores do not oversubscribe them); MuJoCo runs on
one thread anyway. The parent process only waits for messages and prints progress.

Determinism: the same (seed, num_workers, num_envs, episode_length and RND settings) give the
same episode contents, index by index. Every generator is seeded from the seed: each worker's
env slots (their environments' initial states and their action noise), its replay sampling and
its agent's initialisation; the target-policy noise is stateless and TensorFlow's op
determinism is on (checked on CPU; XLA on another CPU type may round differently). A `random`
episode depends on (seed, worker, slot, round) alone, so e.g. worker 0's episodes do not change
with num_workers; `rnd` data does change with num_workers and num_envs, since each worker's
agent learns from its own share. File names carry wall-clock time stamps, as ExORL's do, so
they differ from run to run (the reader sorts by name, i.e. by time).

Memory: a `rnd` worker keeps its whole share of observations and actions as its replay, about
4 * (obs + act) bytes per transition (walker: 120 MB per million; quadruped: 360 MB per million).
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import multiprocessing
import numbers
import os
import queue
import time
import traceback
import warnings

import gin
import numpy as np

from cfgrl_tf import errors, fileio
from cfgrl_tf.data.generate_common import check_count, duration
from cfgrl_tf.envs import dmc_tasks

ALGORITHMS = ("random", "rnd")
# dm_control's time limit of each domain, in control steps: walker 25 s of 0.025 s steps,
# quadruped 20 s of 0.02 s, cheetah 10 s of 0.01 s, jaco (ExORL's) 10 s of 0.04 s.
TIME_LIMIT_STEPS = {"walker": 1000, "quadruped": 1000, "cheetah": 1000, "jaco": 250}
# How often a progress line appears, as a fraction of all episodes.
_REPORT_FRACTION = 0.1


@dataclasses.dataclass(frozen=True)
class RNDConfig:
    """The RND agent's settings (see the module docstring; ExORL's values in brackets).

    Attributes:
      hidden_size: width of the two hidden layers of every network [1024].
      rnd_output_size: width of the RND target's and predictor's output [512].
      batch_size: transitions per gradient update [1024].
      update_every: transitions collected (per worker) per gradient update [2].
      num_seed_frames: uniform random transitions (per worker) before learning starts [4000].
      actor_learning_rate, critic_learning_rate, rnd_learning_rate: Adam's [all 1e-4].
      exploration_std: std of the actor's Gaussian exploration noise [0.2].
      target_noise_std, target_noise_clip: target policy smoothing [0.2, 0.3].
      discount: TD discount [0.99].
      target_update_rate: Polyak rate of the target critic [0.01].
      jit_compile: compile the gradient updates with XLA.
    """

    hidden_size: int = 256
    rnd_output_size: int = 128
    batch_size: int = 128
    update_every: int = 4
    num_seed_frames: int = 4000
    actor_learning_rate: float = 3e-4
    critic_learning_rate: float = 3e-4
    rnd_learning_rate: float = 3e-4
    exploration_std: float = 0.2
    target_noise_std: float = 0.2
    target_noise_clip: float = 0.3
    discount: float = 0.99
    target_update_rate: float = 0.01
    jit_compile: bool = True


@dataclasses.dataclass(frozen=True)
class _Job:
    """What every worker needs to collect its share."""

    domain: str
    task: str
    algorithm: str
    num_episodes: int
    episode_length: int
    num_workers: int
    num_envs: int
    seed: int
    folder: str
    threads: int
    rnd: RNDConfig

    def worker_episodes(self, worker: int) -> int:
        return self.num_episodes // self.num_workers + (
            worker < self.num_episodes % self.num_workers
        )

    def episode_index(self, worker: int, k: int) -> int:
        """The run-wide index of a worker's k-th episode: workers interleave, so sorting by
        index is (nearly) sorting by collection time."""
        return k * self.num_workers + worker


@gin.configurable("generate_exorl")
def generate_exorl(
    output_dir: str,
    domain: str = "walker",
    algorithm: str = "rnd",
    num_transitions: int = 1_000_000,
    episode_length: int | None = None,
    num_workers: int = 2,
    num_envs: int = 8,
    seed: int = 0,
    hidden_size: int = RNDConfig.hidden_size,
    rnd_output_size: int = RNDConfig.rnd_output_size,
    batch_size: int = RNDConfig.batch_size,
    update_every: int = RNDConfig.update_every,
    num_seed_frames: int = RNDConfig.num_seed_frames,
    actor_learning_rate: float = RNDConfig.actor_learning_rate,
    critic_learning_rate: float = RNDConfig.critic_learning_rate,
    rnd_learning_rate: float = RNDConfig.rnd_learning_rate,
    exploration_std: float = RNDConfig.exploration_std,
    jit_compile: bool = RNDConfig.jit_compile,
    threads_per_worker: int | None = None,
    progress: bool = True,
) -> list[str]:
    """Collects reward-free episodes of a dm_control domain in ExORL's layout.

    Args:
      output_dir: the root; episodes go to `<output_dir>/<domain>/<algorithm>/buffer/`.
      domain: 'walker', 'quadruped', 'cheetah' or 'jaco'.
      algorithm: 'random' or 'rnd' (module docstring).
      num_transitions: rounded up to whole episodes of `episode_length` steps.
      episode_length: steps per episode (one file each); None for the domain's time limit
        (`TIME_LIMIT_STEPS`: 1000, jaco 250), which it may not exceed.
      num_workers: processes, each collecting its share with its own agent.
      num_envs: environments each worker steps in lockstep.
      seed: a non-negative integer (module docstring: what it fixes).
      hidden_size, rnd_output_size, batch_size, update_every, num_seed_frames,
        actor_learning_rate, critic_learning_rate, rnd_learning_rate, exploration_std,
        jit_compile: the RND agent's (`RNDConfig`); ignored by 'random'.
      threads_per_worker: TensorFlow threads per worker; None for cores // num_workers (>= 1).
      progress: print a line about every 10% of the episodes and a final summary.

    Returns:
      The episode files written, sorted by index.

    Raises:
      UserError: an unknown domain or algorithm, or a bad count, length or rate.
      DatasetError: the buffer folder already holds files (they are left untouched).
      RuntimeError: a worker failed or died; the episodes it wrote before are kept.
    """
    if domain not in dmc_tasks.TASKS:
        raise errors.UserError(
            f"generate_exorl.domain {domain!r} is not a DeepMind Control domain of ExORL's; "
            f"expected one of {', '.join(dmc_tasks.TASKS)}"
        )
    if algorithm not in ALGORITHMS:
        raise errors.UserError(
            f"generate_exorl.algorithm {algorithm!r} is not supported; expected one of "
            f"{', '.join(ALGORITHMS)}"
        )
    limit = TIME_LIMIT_STEPS[domain]
    episode_length = limit if episode_length is None else episode_length
    for name, value, minimum in [
        ("num_transitions", num_transitions, 1),
        ("episode_length", episode_length, 1),
        ("num_workers", num_workers, 1),
        ("num_envs", num_envs, 1),
        ("seed", seed, 0),
        ("hidden_size", hidden_size, 1),
        ("rnd_output_size", rnd_output_size, 1),
        ("batch_size", batch_size, 1),
        ("update_every", update_every, 1),
        ("num_seed_frames", num_seed_frames, 0),
    ]:
        check_count(f"generate_exorl.{name}", value, minimum)
    if threads_per_worker is not None:
        check_count("generate_exorl.threads_per_worker", threads_per_worker, 1)
    if episode_length > limit:
        raise errors.UserError(
            f"generate_exorl.episode_length {episode_length} exceeds {domain}'s time limit of "
            f"{limit} steps, after which dm_control starts a new episode"
        )
    rates = {
        "actor_learning_rate": actor_learning_rate,
        "critic_learning_rate": critic_learning_rate,
        "rnd_learning_rate": rnd_learning_rate,
        "exploration_std": exploration_std,
    }
    for name, value in rates.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not 0 < value < math.inf
        ):
            raise errors.UserError(
                f"generate_exorl.{name} must be a finite number > 0, got {value!r}"
            )

    folder = os.path.join(os.path.abspath(output_dir), domain, algorithm, "buffer")
    _refuse_non_empty(folder)
    num_episodes = math.ceil(num_transitions / episode_length)
    num_workers = min(num_workers, num_episodes)
    threads = threads_per_worker or max(1, (os.cpu_count() or 1) // num_workers)
    job = _Job(
        domain=domain,
        task=dmc_tasks.TASKS[domain][0],
        algorithm=algorithm,
        num_episodes=num_episodes,
        episode_length=int(episode_length),
        num_workers=int(num_workers),
        num_envs=int(num_envs),
        seed=int(seed),
        folder=folder,
        threads=int(threads),
        rnd=RNDConfig(
            hidden_size=int(hidden_size),
            rnd_output_size=int(rnd_output_size),
            batch_size=int(batch_size),
            update_every=int(update_every),
            num_seed_frames=int(num_seed_frames),
            jit_compile=bool(jit_compile),
            **{name: float(value) for name, value in rates.items()},
        ),
    )
    os.makedirs(folder, exist_ok=True)
    return _run_workers(job, _Progress(job, progress))


def _refuse_non_empty(folder: str) -> None:
    if os.path.isdir(folder) and os.listdir(folder):
        num = len([name for name in os.listdir(folder) if name.endswith(".npz")])
        raise errors.DatasetError(
            f"{folder} is not empty (it holds {num} episode file(s)): remove it or choose "
            "another output_dir (an existing buffer is never added to or overwritten)"
        )


# ---------------------------------------------------------------------------------------------
# The parent's side: start the workers, relay their progress, notice a failure.


def _run_workers(job: _Job, reporter: _Progress) -> list[str]:
    # "spawn": a fresh interpreter per worker, so it sets its own TensorFlow threads before
    # importing TensorFlow, and inherits nothing the caller imported or seeded.
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    workers = [
        context.Process(
            target=_worker_main, args=(job, w, messages), name=f"exorl-{w}", daemon=True
        )
        for w in range(job.num_workers)
    ]
    for process in workers:
        process.start()
    finished: set[int] = set()
    paths: list[str] = []

    def handle(message) -> None:
        kind, worker, payload = message
        if kind == "episodes":
            paths.extend(payload["paths"])
            reporter.episodes_done(len(payload["paths"]), payload["metrics"])
        elif kind == "done":
            finished.add(worker)
        elif kind == "user_error":
            raise errors.UserError(payload)
        else:
            raise RuntimeError(
                f"ExORL collection worker {worker} failed ({len(paths)} episodes written so far "
                f"are kept in {job.folder}):\n{payload}"
            )

    try:
        while len(finished) < len(workers):
            try:
                handle(messages.get(timeout=1.0))
                continue
            except queue.Empty:
                pass
            exited = [w for w, p in enumerate(workers) if p.exitcode is not None]
            if not set(exited) - finished:
                continue
            # A worker's messages are all in the queue once it has exited: read them first.
            try:
                while True:
                    handle(messages.get(timeout=1.0))
            except queue.Empty:
                pass
            for w in set(exited) - finished:
                raise RuntimeError(
                    f"ExORL collection worker {w} died with exit code {workers[w].exitcode} "
                    f"(killed, or out of memory?); the {len(paths)} episodes written so far are "
                    f"kept in {job.folder}"
                )
    finally:
        for process in workers:
            if process.is_alive():
                process.terminate()
        for process in workers:
            process.join()
    reporter.summary()
    return sorted(paths, key=_index_of)


def _index_of(path: str) -> int:
    return int(os.path.basename(path).split("_")[1])


class _Progress:
    """Prints "episodes done / total, transitions/s, ETA" about every 10% of the episodes, with
    the latest RND metrics, and a summary at the end."""

    def __init__(self, job: _Job, enabled: bool):
        self._job = job
        self._enabled = enabled
        self._name = f"{job.domain}/{job.algorithm}"
        self._done = 0
        self._next_report = 1
        self._start = time.monotonic()
        if enabled:
            per = f"{job.num_workers} worker(s) x {job.num_envs} env(s)"
            print(
                f"collecting {self._name}: {job.num_episodes} episodes x {job.episode_length} "
                f"steps = {job.num_episodes * job.episode_length:,} transitions, {per}, "
                f"into {job.folder}",
                flush=True,
            )

    def episodes_done(self, num: int, metrics: dict[str, float]) -> None:
        self._done += num
        total = self._job.num_episodes
        if not self._enabled or self._done < self._next_report * _REPORT_FRACTION * total:
            return
        while self._done >= self._next_report * _REPORT_FRACTION * total:
            self._next_report += 1
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = self._done * self._job.episode_length / elapsed
        eta = elapsed / self._done * (total - self._done)
        extra = "".join(f", {key} {value:.3g}" for key, value in metrics.items())
        print(
            f"{self._name}: {self._done}/{total} episodes ({100 * self._done // total}%), "
            f"{rate:,.0f} transitions/s, ETA {duration(eta)}{extra}",
            flush=True,
        )

    def summary(self) -> None:
        if not self._enabled:
            return
        elapsed = max(time.monotonic() - self._start, 1e-9)
        transitions = self._done * self._job.episode_length
        print(
            f"{self._name}: wrote {self._done} episodes ({transitions:,} transitions) to "
            f"{self._job.folder} in {duration(elapsed)} ({transitions / elapsed:,.0f} "
            "transitions/s)",
            flush=True,
        )


# ---------------------------------------------------------------------------------------------
# The worker's side: runs in a spawned process, collects its share, writes its files.


def _worker_main(job: _Job, worker: int, messages) -> None:
    """A worker process: collects, and reports progress, completion or failure on `messages`."""
    try:
        _limit_threads(job.threads)
        warnings.filterwarnings("ignore", message=r".*DISPLAY environment variable is missing")
        _Collector(job, worker, messages).run()
        messages.put(("done", worker, None))
    except errors.UserError as e:
        messages.put(("user_error", worker, str(e)))
    except BaseException:  # Reported to the parent, which raises it.
        messages.put(("error", worker, traceback.format_exc()))


def _limit_threads(threads: int) -> None:
    """Caps TensorFlow's (and OpenMP's) threads; must run before TensorFlow is imported."""
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class _Collector:
    """One worker's share: rounds of `num_envs` episodes stepped in lockstep.

    For `rnd` the observation and action arrays of every episode of the share are kept, in
    ExORL's row layout, as the replay the agent samples from.
    """

    def __init__(self, job: _Job, worker: int, messages):
        self._job = job
        self._worker = worker
        self._messages = messages
        seeds = np.random.SeedSequence([job.seed, worker])
        slot_seeds, replay_seed, agent_seed = seeds.spawn(3)
        # Each env slot has its own environment seed and action generator, so a random
        # episode depends on (seed, worker, slot, round) alone.
        self._envs, self._action_rngs = [], []
        for slot_seed in slot_seeds.spawn(job.num_envs):
            env_seed, action_seed = slot_seed.spawn(2)
            env = dmc_tasks.make_dmc_env(job.domain, job.task, int(env_seed.generate_state(1)[0]))
            self._envs.append(env)
            self._action_rngs.append(np.random.default_rng(action_seed))
        self._replay_rng = np.random.default_rng(replay_seed)
        env = self._envs[0]
        self._obs_size = env.observation_spec().shape[0]
        self._action_size = env.action_spec().shape[0]
        self._physics_size = dmc_tasks.physics_size(env)
        self._num_episodes = job.worker_episodes(worker)
        rows = job.episode_length + 1
        learns = job.algorithm == "rnd"
        capacity = self._num_episodes if learns else job.num_envs
        self._observations = np.zeros((capacity, rows, self._obs_size), np.float32)
        self._actions = np.zeros((capacity, rows, self._action_size), np.float32)
        self._agent = None
        if learns:
            # TensorFlow only where it is used, and after its threads are set (see _limit_threads).
            import keras  # noqa: PLC0415
            import tensorflow as tf  # noqa: PLC0415

            tf.config.threading.set_intra_op_parallelism_threads(job.threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
            tf.config.experimental.enable_op_determinism()
            init_seed, noise_seed = (int(s) for s in agent_seed.generate_state(2) >> 1)
            keras.utils.set_random_seed(init_seed)
            self._agent = RNDAgent(self._obs_size, self._action_size, job.rnd, noise_seed)
            self._observation_stats = _RunningMoments(self._obs_size)
            self._steps = 0  # transitions collected by this worker
            self._updates_due = 0.0

    def run(self) -> None:
        job = self._job
        for first in range(0, self._num_episodes, job.num_envs):
            num = min(job.num_envs, self._num_episodes - first)
            slot = first if self._agent is not None else 0
            rewards, physics = self._run_round(slot, num)
            paths = []
            for e in range(num):
                index = job.episode_index(self._worker, first + e)
                paths.append(self._write(index, slot + e, rewards[e], physics[e]))
            metrics = self._agent.last_metrics() if self._agent is not None else {}
            self._messages.put(("episodes", self._worker, {"paths": paths, "metrics": metrics}))

    def _run_round(self, slot: int, num: int) -> tuple[np.ndarray, np.ndarray]:
        """Steps `num` episodes into replay slots slot..slot+num-1; returns their rewards and
        physics rows."""
        length = self._job.episode_length
        envs = self._envs[:num]
        observations = self._observations[slot : slot + num]
        actions = self._actions[slot : slot + num]
        rewards = np.zeros((num, length + 1, 1), np.float32)
        physics = np.zeros((num, length + 1, self._physics_size), np.float64)
        for e, env in enumerate(envs):
            observations[e, 0] = env.reset().observation
            actions[e, 0] = 0.0
            physics[e, 0] = env.physics.get_state()
        if self._agent is not None:
            self._observation_stats.add(observations[:, 0])
        for t in range(length):
            action = self._act(observations[:, t])
            for e, env in enumerate(envs):
                time_step = env.step(action[e])
                if time_step.last() and t + 1 < length:
                    raise RuntimeError(
                        f"{env.name} ended its episode after {t + 1} steps, before "
                        f"episode_length {length}"
                    )
                observations[e, t + 1] = time_step.observation
                rewards[e, t + 1, 0] = time_step.reward
                physics[e, t + 1] = env.physics.get_state()
            actions[:, t + 1] = action
            if self._agent is not None:
                self._learn(slot, num, t + 1)
        return rewards, physics

    def _act(self, observations: np.ndarray) -> np.ndarray:
        rngs, size = self._action_rngs[: len(observations)], self._action_size
        if self._agent is None or self._steps < self._job.rnd.num_seed_frames:
            return np.stack([rng.uniform(-1.0, 1.0, size) for rng in rngs]).astype(np.float32)
        noise = self._job.rnd.exploration_std * np.stack(
            [rng.standard_normal(size) for rng in rngs]
        )
        return np.clip(self._agent.act(observations) + noise, -1.0, 1.0).astype(np.float32)

    def _learn(self, slot: int, num: int, steps: int) -> None:
        """Counts the step's transitions and runs the gradient updates they are due."""
        config = self._job.rnd
        self._observation_stats.add(self._observations[slot : slot + num, steps])
        self._steps += num
        if self._steps < config.num_seed_frames:
            return
        self._updates_due += num / config.update_every
        count = int(self._updates_due)
        if count == 0:
            return
        self._updates_due -= count
        batch = self._sample(count * config.batch_size, slot, num, steps)
        batch = {k: v.reshape(count, config.batch_size, -1) for k, v in batch.items()}
        mean, std = self._observation_stats.mean_std()
        self._agent.update(batch, mean, std)

    def _sample(self, size: int, slot: int, num: int, steps: int) -> dict[str, np.ndarray]:
        """Uniform transitions of the finished episodes (slots < `slot`) and of the first
        `steps` steps of the `num` running ones."""
        length = self._job.episode_length
        finished = slot * length
        index = self._replay_rng.integers(0, finished + num * steps, size)
        running = index >= finished
        rest = np.maximum(index - finished, 0)
        episode = np.where(running, slot + rest // steps, index // length)
        t = np.where(running, rest % steps, index % length)
        return {
            "observations": self._observations[episode, t],
            "actions": self._actions[episode, t + 1],
            "next_observations": self._observations[episode, t + 1],
        }

    def _write(self, index: int, slot: int, rewards: np.ndarray, physics: np.ndarray) -> str:
        length = self._job.episode_length
        stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
        path = os.path.join(self._job.folder, f"{stamp}_{index}_{length}.npz")
        if os.path.exists(path):
            raise errors.DatasetError(f"{path} already exists: another run writes into this folder")
        with fileio.atomic_open(path) as f:
            np.savez_compressed(
                f,
                observation=self._observations[slot],
                action=self._actions[slot],
                reward=rewards,
                discount=np.ones((length + 1, 1), np.float32),
                physics=physics,
            )
        return path


class _RunningMoments:
    """The running mean and std of vectors, from float64 sums."""

    def __init__(self, size: int):
        self._count = 0
        self._sum = np.zeros(size, np.float64)
        self._sum_squares = np.zeros(size, np.float64)

    def add(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, np.float64)
        self._count += len(rows)
        self._sum += rows.sum(axis=0)
        self._sum_squares += np.square(rows).sum(axis=0)

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        mean = self._sum / max(self._count, 1)
        variance = np.maximum(self._sum_squares / max(self._count, 1) - np.square(mean), 0.0)
        # A constant feature (e.g. a fixed joint) keeps std 1 rather than dividing by ~0.
        std = np.where(variance > 1e-8, np.sqrt(variance), 1.0)
        return mean.astype(np.float32), std.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The RND agent. TensorFlow is imported in its methods, so that importing this module (the
# parent, `random` workers) never loads it.


class RNDAgent:
    """DDPG on RND's intrinsic reward (module docstring), for one worker.

    Args:
      observation_size: the flat observation's length.
      action_size: the action's length (actions in [-1, 1]).
      config: the settings.
      seed: seeds the target policy's (stateless) smoothing noise. The weights are initialised
        from Keras' global seed (`keras.utils.set_random_seed`), which the worker sets.
    """

    def __init__(self, observation_size: int, action_size: int, config: RNDConfig, seed: int = 0):
        import keras  # noqa: PLC0415
        import tensorflow as tf  # noqa: PLC0415

        from cfgrl_tf.networks.critics import TwinQNetwork  # noqa: PLC0415
        from cfgrl_tf.networks.mlp import MLP  # noqa: PLC0415

        self.config = config
        hidden = (config.hidden_size, config.hidden_size)
        self.actor = MLP(hidden, action_size, activation="relu", layer_norm=True, name="actor")
        self.critic = TwinQNetwork(hidden, activation="relu", name="critic")
        self.target_critic = TwinQNetwork(hidden, activation="relu", name="target_critic")
        out = config.rnd_output_size
        self.rnd_target = MLP(hidden, out, activation="relu", name="rnd_target")
        self.rnd_predictor = MLP(hidden, out, activation="relu", name="rnd_predictor")
        observations = tf.zeros([1, observation_size])
        for net in (self.actor, self.rnd_target, self.rnd_predictor):
            net(observations)
        for net in (self.critic, self.target_critic):
            net({"observations": observations, "actions": tf.zeros([1, action_size])})
        for target, source in zip(self.target_critic.weights, self.critic.weights, strict=True):
            target.assign(source)
        self.actor_optimizer = keras.optimizers.Adam(config.actor_learning_rate)
        self.critic_optimizer = keras.optimizers.Adam(config.critic_learning_rate)
        self.rnd_optimizer = keras.optimizers.Adam(config.rnd_learning_rate)
        self.actor_optimizer.build(self.actor.trainable_variables)
        self.critic_optimizer.build(self.critic.trainable_variables)
        self.rnd_optimizer.build(self.rnd_predictor.trainable_variables)
        # Running moments of the prediction errors (float64: the count reaches ~1e8).
        self._error_count = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self._error_mean = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self._error_m2 = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self._num_updates = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._noise_seed = tf.constant(seed, tf.int64)
        self._metrics: dict = {}

        obs_spec = tf.TensorSpec([None, observation_size], tf.float32)
        # The policy call stays a plain graph: XLA's launch costs more than it saves at batch 8.
        self._act = tf.function(self.actor.__call__, input_signature=[obs_spec])
        batch = {
            "observations": tf.TensorSpec([None, None, observation_size], tf.float32),
            "actions": tf.TensorSpec([None, None, action_size], tf.float32),
            "next_observations": tf.TensorSpec([None, None, observation_size], tf.float32),
        }
        moments = tf.TensorSpec([observation_size], tf.float32)
        self._update = tf.function(self._update_all, input_signature=[batch, moments, moments])
        # XLA fuses the many small ops of an update (2-3x faster at these sizes); the outer loop
        # stays a plain graph so that K, the updates per call, may vary without a recompile.
        self._update_one_compiled = tf.function(self._update_one, jit_compile=config.jit_compile)
        self._errors = tf.function(
            self._prediction_errors, input_signature=[obs_spec] + [moments] * 2
        )

    def act(self, observations: np.ndarray) -> np.ndarray:
        """The actor's deterministic actions [N, act] (the caller adds exploration noise)."""
        return np.tanh(self._act(np.asarray(observations, np.float32)).numpy())

    def update(self, batch: dict[str, np.ndarray], obs_mean: np.ndarray, obs_std: np.ndarray):
        """Gradient updates, one per leading row of the batch's [K, B, ...] arrays.

        Args:
          batch: `observations`, `actions`, `next_observations`, each [K, B, size].
          obs_mean, obs_std: the running moments RND normalises observations with.
        """
        self._metrics = self._update(batch, obs_mean, obs_std)

    def prediction_errors(
        self, observations: np.ndarray, obs_mean: np.ndarray, obs_std: np.ndarray
    ) -> np.ndarray:
        """RND's raw prediction error [N] of each observation (before the reward's scaling)."""
        return self._errors(np.asarray(observations, np.float32), obs_mean, obs_std).numpy()

    def last_metrics(self) -> dict[str, float]:
        """The last update's metrics (empty before the first)."""
        return {key: float(value) for key, value in self._metrics.items()}

    def _prediction_errors(self, observations, obs_mean, obs_std):
        import tensorflow as tf  # noqa: PLC0415

        normalised = tf.clip_by_value((observations - obs_mean) / obs_std, -5.0, 5.0)
        difference = self.rnd_predictor(normalised) - tf.stop_gradient(self.rnd_target(normalised))
        return tf.reduce_mean(tf.square(difference), axis=-1)

    def _update_all(self, batch, obs_mean, obs_std):
        import tensorflow as tf  # noqa: PLC0415

        metrics = {
            key: tf.constant(0.0)
            for key in ("rnd/loss", "rnd/intrinsic_reward", "critic/loss", "critic/q", "actor/loss")
        }
        for k in tf.range(tf.shape(batch["observations"])[0]):
            metrics = self._update_one_compiled(
                {key: value[k] for key, value in batch.items()}, obs_mean, obs_std
            )
        return metrics

    def _update_one(self, batch, obs_mean, obs_std):
        import tensorflow as tf  # noqa: PLC0415

        from cfgrl_tf.agents.updates import apply_gradients, polyak_update  # noqa: PLC0415

        config = self.config
        observations, actions = batch["observations"], batch["actions"]
        next_observations = batch["next_observations"]

        # RND: the predictor chases the fixed target on the next observation; the error before
        # this update, over the running std of errors, is the reward.
        with tf.GradientTape() as tape:
            errors_ = self._prediction_errors(next_observations, obs_mean, obs_std)
            rnd_loss = tf.reduce_mean(errors_)
        apply_gradients(self.rnd_optimizer, tape, rnd_loss, self.rnd_predictor.trainable_variables)
        rewards = tf.stop_gradient(errors_) / tf.cast(
            tf.sqrt(self._add_errors(errors_)), tf.float32
        )

        # Critics: 1-step TD to the smoothed target policy's clipped double Q; no terminations.
        seed = tf.stack([self._noise_seed, self._num_updates])
        noise = tf.random.stateless_normal(tf.shape(actions), seed) * config.target_noise_std
        noise = tf.clip_by_value(noise, -config.target_noise_clip, config.target_noise_clip)
        next_actions = tf.clip_by_value(tf.tanh(self.actor(next_observations)) + noise, -1.0, 1.0)
        next_q = self.target_critic({"observations": next_observations, "actions": next_actions})
        targets = tf.stop_gradient(rewards + config.discount * tf.reduce_min(next_q, axis=0))
        with tf.GradientTape() as tape:
            q = self.critic({"observations": observations, "actions": actions})
            critic_loss = tf.reduce_mean(tf.reduce_sum(tf.square(q - targets), axis=0))
        apply_gradients(self.critic_optimizer, tape, critic_loss, self.critic.trainable_variables)

        # Actor: deterministic policy gradient through the smaller of the two critics.
        with tf.GradientTape() as tape:
            policy_actions = tf.tanh(self.actor(observations))
            policy_q = self.critic({"observations": observations, "actions": policy_actions})
            actor_loss = -tf.reduce_mean(tf.reduce_min(policy_q, axis=0))
        apply_gradients(self.actor_optimizer, tape, actor_loss, self.actor.trainable_variables)

        polyak_update(self.target_critic, self.critic, config.target_update_rate)
        self._num_updates.assign_add(1)
        return {
            "rnd/loss": rnd_loss,
            "rnd/intrinsic_reward": tf.reduce_mean(rewards),
            "critic/loss": critic_loss,
            "critic/q": tf.reduce_mean(q),
            "actor/loss": actor_loss,
        }

    def _add_errors(self, errors_):
        """Adds a batch of errors to the running moments (Chan et al.'s parallel update);
        returns their variance (plus 1e-8)."""
        import tensorflow as tf  # noqa: PLC0415

        values = tf.cast(errors_, tf.float64)
        count = tf.cast(tf.size(values), tf.float64)
        mean, variance = tf.nn.moments(values, axes=[0])
        total = self._error_count + count
        delta = mean - self._error_mean
        self._error_m2.assign_add(variance * count + delta**2 * self._error_count * count / total)
        self._error_mean.assign_add(delta * count / total)
        self._error_count.assign(total)
        return self._error_m2 / total + 1e-8
