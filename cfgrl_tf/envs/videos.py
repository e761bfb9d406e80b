"""Videos of evaluation episodes, rendered by replay in a subprocess without TensorFlow.

MuJoCo's EGL backend and TensorFlow segfault in one process, so the evaluating process never
renders: its filmed rollouts only record their actions and observations (`rollout.Recording`),
and after the evaluation one `python -m cfgrl_tf.envs.video_replay` process replays and renders
them. `prepare_videos` checks, before any rollout runs, that such a process can render and that
the video folder can be made.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cfgrl_tf import errors
from cfgrl_tf.envs.rollout import Recording, Rollout

DEFAULT_VIDEO_FRAME_SKIP = 3
# The renderer probe imports MuJoCo and renders one tiny frame: ~2 s, far more on a loaded machine.
PROBE_TIMEOUT_SECONDS = 300

_VIDEO_HELPER = "cfgrl_tf.envs.video_replay"
_RENDERER_HINT = (
    "videos need an offscreen renderer: set MUJOCO_GL=egl or MUJOCO_GL=osmesa before starting "
    "Python (or run with a DISPLAY), or leave video_dir unset"
)


def prepare_videos(video_dir: str | None, env_name: str, rollouts: Sequence[Rollout]) -> None:
    """Checks, before any rollout, that videos can be rendered and written; says what is filmed.

    Does nothing when `video_dir` is None.

    Raises:
        UserError: no working renderer, or video_dir cannot be made.
    """
    if video_dir is None:
        return
    probe_renderer(env_name)
    try:
        os.makedirs(video_dir, exist_ok=True)
    except OSError as e:
        raise errors.UserError(f"cannot create video_dir {video_dir!r}: {e}") from e
    recorded = [r for r in rollouts if r.record_video]
    values = sorted({r.sweep_value for r in recorded})
    print(
        f"videos: {len(recorded)} episode(s) at sweep value {', '.join(f'{v:g}' for v in values)} "
        f"(video_sweep_value; the largest by default) into {video_dir}. The rollouts "
        "only record their actions; each video is then replayed and rendered in its own "
        "TensorFlow-free process after the evaluation, one replay at a time.",
        flush=True,
    )


def probe_renderer(env_name: str) -> None:
    """Raises a UserError unless a process like the video replay can render `env_name`.

    The probe renders in a subprocess: this process may have TensorFlow loaded, and an EGL context
    beside TensorFlow segfaults (that is why videos are replayed elsewhere in the first place).
    """
    backend = os.environ.get("MUJOCO_GL", "").lower()
    # Without a backend MuJoCo tries GLFW, which needs a display: no need to start a process.
    if backend not in ("egl", "osmesa") and not os.environ.get("DISPLAY"):
        raise errors.UserError(f"{_RENDERER_HINT} (MUJOCO_GL={backend!r}, no DISPLAY)")
    try:
        proc = run_video_helper(["probe", env_name], timeout=PROBE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as e:
        raise errors.UserError(
            f"{_RENDERER_HINT} (MUJOCO_GL={backend!r}: the renderer probe process did not render "
            f"a frame of {env_name} within {PROBE_TIMEOUT_SECONDS} s)"
        ) from e
    if proc.returncode != 0:
        raise errors.UserError(
            f"{_RENDERER_HINT} (MUJOCO_GL={backend!r}: the renderer probe process, rendering one "
            f"frame of {env_name}, {_describe_failure(proc)})"
        )


def write_videos(
    video_dir: str | None, settings: Mapping[str, Any], recordings: Sequence[Recording]
) -> list[str]:
    """Renders the recorded rollouts' videos by replay in a subprocess; prints and returns paths.

    A replay that fails (or does not reproduce its episode) prints a warning and writes nothing:
    the evaluation's results stand all the same.

    Args:
        video_dir: where the videos go; None writes none.
        settings: what the replay needs to rebuild the env
            (`ogbench_run.Settings.replay_settings()`; see `cfgrl_tf.envs.video_replay`).
        recordings: the filmed rollouts.

    Returns:
        The paths written.
    """
    recordings = sorted(recordings, key=lambda r: r.rollout.index)
    if video_dir is None or not recordings:
        return []
    manifest = {
        **settings,
        "video_dir": video_dir,
        "episodes": [
            {
                "task_id": r.rollout.task_id,
                "episode": r.rollout.episode,
                "sweep_value": r.rollout.sweep_value,
                "reset_seed": r.rollout.reset_seed,
                "success": r.success,
            }
            for r in recordings
        ],
    }
    arrays = {}
    for i, r in enumerate(recordings):
        arrays[f"actions_{i}"] = r.actions
        arrays[f"observations_{i}"] = r.observations
        for name, value in r.inputs.items():
            arrays[f"{name}_{i}"] = value
    with tempfile.TemporaryDirectory(prefix="cfgrl_videos_") as tmp:
        recordings_path = os.path.join(tmp, "recordings.npz")
        result_path = os.path.join(tmp, "videos.json")
        np.savez(recordings_path, manifest=np.array(json.dumps(manifest)), **arrays)
        proc = run_video_helper(["replay", recordings_path, result_path], timeout=None)
        if proc.returncode != 0:
            # The evaluation itself is done and valid: report the videos' failure, keep results.
            print(
                f"warning: no videos written: rendering {len(recordings)} episodes by replay "
                f"({sys.executable} -m {_VIDEO_HELPER}) {_describe_failure(proc)}",
                flush=True,
            )
            return []
        with open(result_path) as f:
            paths = json.load(f)
    if proc.stderr.strip():
        sys.stderr.write(proc.stderr)
    for path in paths:
        print(f"Wrote video {path} ({os.path.getsize(path)} bytes)", flush=True)
    return paths


def run_video_helper(args: list[str], timeout: float | None) -> subprocess.CompletedProcess:
    """Runs `python -m cfgrl_tf.envs.video_replay ARGS` with this environment (MUJOCO_GL)."""
    env = dict(os.environ)
    # The helper must import this very cfgrl_tf, whether installed or run from a source tree.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", _VIDEO_HELPER, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def _describe_failure(proc: subprocess.CompletedProcess) -> str:
    """'crashed with SIGSEGV' or 'failed (exit status 1): <its last stderr line>'."""
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        return f"crashed with {name}"
    lines = [line.strip() for line in (proc.stderr or "").splitlines() if line.strip()]
    last = lines[-1] if lines else "no error message"
    return f"failed (exit status {proc.returncode}): {last}"
