"""The environments of a lockstep evaluation, stepped in this process or in worker processes.

The lockstep loop (`cfgrl_tf.envs.lockstep`) keeps one environment per slot and one policy call per
step for every running slot. Between two policy calls the slots' environments step one after the
other, and in physics-heavy suites (dm_control, OGBench manipulation) that stepping, not the
policy, is most of an evaluation's time. `WorkerSlots` splits the slots over worker processes,
each stepping its share of the envs at once, so an evaluation uses every core; `LocalSlots` steps
them here. Both answer the loop the same way, and the loop decides which rollout goes into which
slot, so results do not depend on the number of workers.

A worker is a plain subprocess running `serve` with the parent's import path: it imports neither
TensorFlow nor the parent's main script, only what the adapter it is sent needs. The two sides
exchange length-prefixed pickles over the worker's stdin and stdout.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import struct
import subprocess
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import numpy as np

from cfgrl_tf import errors
from cfgrl_tf.envs.episodes import EpisodeResult
from cfgrl_tf.envs.rollout import EnvAdapter, Live, Recording, Rollout

# Automatic worker count: an evaluation of fewer env steps than this (rollouts x horizon) stays
# in this process, where starting a worker (about a second of imports) would cost more than it
# saves; a larger one gets a worker per core, up to MAX_AUTO_WORKERS.
AUTO_MIN_ENV_STEPS = 50_000
MAX_AUTO_WORKERS = 8
# Fewer envs than this per worker and the round trips outweigh the stepping they spread.
MIN_ENVS_PER_WORKER = 4

_HEADER = struct.Struct("<Q")


@dataclasses.dataclass(frozen=True)
class Stepped:
    """One slot after one env step.

    Attributes:
        observation: the new observation.
        done: the episode ended (terminated or truncated).
        result: the finished rollout's result when done, else None.
        recording: the finished rollout's recording when done and filmed, else None.
    """

    observation: np.ndarray
    done: bool
    result: EpisodeResult | None = None
    recording: Recording | None = None


class LocalSlots:
    """Slots whose envs step in this process, one after the other.

    Args:
        adapter: the suite's environments.
        envs: one env per slot (made by `adapter.make_env`); closed by `close`.
    """

    def __init__(self, adapter: EnvAdapter, envs: Sequence[Any]):
        self.adapter = adapter
        self.envs = list(envs)
        self.lives: list[Live | None] = [None] * len(self.envs)

    def __len__(self) -> int:
        return len(self.envs)

    def reset(self, assignments: Sequence[tuple[int, Rollout]]) -> list[tuple[np.ndarray, dict]]:
        """Starts rollout r in slot s for every (s, r); returns each one's (observation, inputs)."""
        out = []
        for slot, rollout in assignments:
            live = Live(self.envs[slot], rollout, self.adapter)
            self.lives[slot] = live
            out.append((live.observation, dict(live.inputs)))
        return out

    def step(self, slots: Sequence[int], actions: np.ndarray) -> list[Stepped]:
        """Steps slot slots[j] with actions[j]; a finished slot is free until its next reset."""
        out = []
        for slot, action in zip(slots, actions, strict=True):
            live = self.lives[slot]
            done, success = live.step(action)
            if not done:
                out.append(Stepped(live.observation, False))
                continue
            self.lives[slot] = None
            finished = (live.result(success), live.recording(success))
            out.append(Stepped(live.observation, True, *finished))
        return out

    def close(self) -> None:
        envs, self.envs = self.envs, []
        for env in envs:
            self.adapter.close_env(env)


class WorkerSlots:
    """Slots split over worker processes, which step their envs at the same time.

    Slot s belongs to worker s * workers // num_slots (contiguous shares). Every call goes to the
    workers concerned first and is then collected, so they work in parallel.

    Args:
        adapter: the suite's environments; must pickle (the workers rebuild it).
        num_slots: envs in all.
        workers: worker processes, at least 2 and at most `num_slots`.

    Raises:
        UserError: the adapter does not pickle.
        RuntimeError: a worker failed to start or to make its envs.
    """

    def __init__(self, adapter: EnvAdapter, num_slots: int, workers: int):
        if not 2 <= workers <= num_slots:
            raise ValueError(f"workers={workers}: expected 2..{num_slots} for {num_slots} slots")
        try:
            blob = pickle.dumps(adapter)
        except Exception as e:  # noqa: BLE001 - any pickling failure means the same thing
            raise errors.UserError(
                f"the {adapter.name} environments cannot run in worker processes: their adapter "
                f"{type(adapter).__name__} does not pickle ({e}); evaluate with env_workers=1"
            ) from None
        self.name = adapter.name
        self.owner = [slot * workers // num_slots for slot in range(num_slots)]
        self.local = [self.owner[:slot].count(self.owner[slot]) for slot in range(num_slots)]
        self.procs: list[subprocess.Popen] = []
        try:
            for worker in range(workers):
                proc = subprocess.Popen(
                    [sys.executable, "-c", _WORKER_MAIN],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=_worker_environment(),
                )
                self.procs.append(proc)
                _write(proc.stdin, (blob, self.owner.count(worker)))
            for worker in range(workers):
                self._receive(worker)  # its envs are made
        except BaseException:
            self.close()
            raise

    def __len__(self) -> int:
        return len(self.owner)

    def reset(self, assignments: Sequence[tuple[int, Rollout]]) -> list[tuple[np.ndarray, dict]]:
        shares = self._split([slot for slot, _ in assignments], list(assignments))
        replies = self._call("reset", {w: [(self.local[s], r) for s, r in a] for w, a in shares})
        return self._merge(shares, replies)

    def step(self, slots: Sequence[int], actions: np.ndarray) -> list[Stepped]:
        shares = self._split(list(slots), list(range(len(slots))))
        payloads = {w: ([self.local[slots[j]] for j in js], actions[js]) for w, js in shares}
        return self._merge(shares, self._call("step", payloads))

    def close(self) -> None:
        procs, self.procs = self.procs, []
        for proc in procs:
            try:
                if proc.poll() is None:
                    _write(proc.stdin, ("close", None))
                proc.stdin.close()
            except OSError:
                pass  # already gone
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()

    # -- plumbing ------------------------------------------------------------------------------

    def _split(self, slots: list[int], items: list) -> list[tuple[int, list]]:
        """[(worker, its items in order)] for the workers owning some of `slots`."""
        if any(b <= a for a, b in zip(slots, slots[1:], strict=False)):
            raise ValueError(f"slots of a call must ascend, got {slots}")
        shares: dict[int, list] = {}
        for slot, item in zip(slots, items, strict=True):
            shares.setdefault(self.owner[slot], []).append(item)
        return sorted(shares.items())

    @staticmethod
    def _merge(shares: list[tuple[int, list]], replies: dict[int, list]) -> list:
        """The workers' replies back in the order of the call's slots: the slots of a call
        ascend (`_split` checks) and each worker owns a contiguous range of them, so the
        replies of the workers in turn are that order."""
        out: list = []
        for worker, _ in shares:
            out.extend(replies[worker])
        return out

    def _call(self, command: str, payloads: dict[int, Any]) -> dict[int, list]:
        for worker, payload in payloads.items():
            _write(self.procs[worker].stdin, (command, payload))
        return {worker: self._receive(worker) for worker in payloads}

    def _receive(self, worker: int) -> Any:
        proc = self.procs[worker]
        try:
            status, value = _read(proc.stdout)
        except EOFError:
            code = proc.wait()
            raise RuntimeError(
                f"env worker {worker} of {self.name} died (exit {code}); its stderr is above"
            ) from None
        if status == "ok":
            return value
        exc, text = value
        if isinstance(exc, errors.UserError):
            raise exc
        raise RuntimeError(f"env worker {worker} of {self.name} failed:\n{text}")


def make_slots(
    adapter: EnvAdapter, first_env: Any, num_slots: int, workers: int
) -> LocalSlots | WorkerSlots:
    """`num_slots` slots: in this process (workers 1, reusing `first_env`) or split over
    `workers` processes (`first_env` is then closed: the workers make their own)."""
    if workers <= 1:
        envs = [first_env]
        try:
            envs.extend(adapter.make_env() for _ in range(num_slots - 1))
        except BaseException:
            for env in envs:
                adapter.close_env(env)
            raise
        return LocalSlots(adapter, envs)
    adapter.close_env(first_env)
    return WorkerSlots(adapter, num_slots, workers)


def auto_workers(num_slots: int, env_steps: int, cores: int | None = None) -> int:
    """The worker count when none is given: one per core for an evaluation of at least
    AUTO_MIN_ENV_STEPS env steps (up to MAX_AUTO_WORKERS, with MIN_ENVS_PER_WORKER envs each),
    else 1 (in this process)."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if env_steps < AUTO_MIN_ENV_STEPS:
        return 1
    return max(1, min(cores or 1, MAX_AUTO_WORKERS, num_slots // MIN_ENVS_PER_WORKER))


# -- the wire and the worker ----------------------------------------------------------------------

_WORKER_MAIN = "from cfgrl_tf.envs import env_slots; env_slots.serve()"


def _worker_environment() -> dict[str, str]:
    """The parent's environment, its import path (so the worker finds cfgrl_tf and the
    adapter's module wherever the parent did) and one BLAS thread: a worker takes one core."""
    path = os.pathsep.join(p or os.getcwd() for p in sys.path)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _write(stream, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read(stream) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    size = _HEADER.unpack(header)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def serve() -> None:
    """A worker's life: make its envs, then answer reset and step calls until told to close."""
    # Frames go to the parent on the original stdout; anything a library prints goes to stderr.
    wire_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    wire_in = sys.stdin.buffer
    slots = None
    try:
        blob, count = _read(wire_in)
        adapter = pickle.loads(blob)
        envs = []
        try:
            for _ in range(count):
                envs.append(adapter.make_env())
        except BaseException:
            for env in envs:
                adapter.close_env(env)
            raise
        slots = LocalSlots(adapter, envs)
        _write(wire_out, ("ok", None))
    except Exception as e:  # noqa: BLE001 - reported to the parent, which raises it
        _reply_error(wire_out, e)
        return
    try:
        while True:
            try:
                command, payload = _read(wire_in)
            except EOFError:
                return  # the parent is gone
            if command == "close":
                return
            try:
                reply = slots.reset(payload) if command == "reset" else slots.step(*payload)
            except Exception as e:  # noqa: BLE001 - reported to the parent, which raises it
                _reply_error(wire_out, e)
                return
            _write(wire_out, ("ok", reply))
    finally:
        slots.close()


def _reply_error(wire_out, e: Exception) -> None:
    text = traceback.format_exc()
    try:
        pickle.dumps(e)
        value = (e, text)
    except Exception:  # noqa: BLE001 - an exception that does not pickle goes as text alone
        value = (None, text)
    _write(wire_out, ("error", value))
