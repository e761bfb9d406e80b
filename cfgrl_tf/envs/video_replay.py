"""Videos of OGBench evaluation episodes, rendered by replay in a process without TensorFlow.

MuJoCo's EGL backend (Mesa software rendering) and TensorFlow cannot share a process on this
repository's machine: creating an EGL context after TensorFlow is imported (or the reverse)
segfaults. So the evaluation (`cfgrl_tf.envs.ogbench_goal`) never renders. It records each filmed
episode's reset (task and reset seed) and the clipped actions it executed; this module, run as a
program, rebuilds the env the same way (the family's adapter), resets it identically
(`ogbench_env.seeded_reset` makes resets deterministic), steps the same actions and renders the
frames. MuJoCo is deterministic, so the replay IS the episode: it checks the goal, every
observation and the final success against the recording and fails on any difference rather than
write a video of some other episode.

    python -m cfgrl_tf.envs.video_replay probe ENV_NAME
        renders one 16x16 frame of ENV_NAME; exit status 0 when the renderer works.
    python -m cfgrl_tf.envs.video_replay replay RECORDINGS.npz RESULT.json
        writes the videos of the recorded episodes and lists their paths in RESULT.json.

RECORDINGS.npz (written by `cfgrl_tf.envs.videos.write_videos`) holds `manifest`, a JSON string
with the settings (`family, env_name, adapter_args, max_episode_steps, video_dir,
video_frame_skip`; `ogbench_run.Settings.replay_settings`) and one entry per episode (`task_id,
episode, sweep_value, reset_seed, success`), and for episode i the arrays `actions_i`
[T, action_dim], `observations_i` [T + 1, obs_dim] and, for goal-conditioned episodes, `goals_i`.

Neither this module nor anything it imports may import TensorFlow: `main` checks that before it
creates a renderer.
"""

from __future__ import annotations

import io
import json
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import numpy as np

from cfgrl_tf import fileio
from cfgrl_tf.envs import ogbench_env, ogbench_goal, ogbench_run, ogbench_task  # noqa: F401
from cfgrl_tf.envs.rollout import Live, Rollout

PROBE_SIZE = 16
# Replayed observations must match the recorded ones to this absolute tolerance. Replay in the
# same MuJoCo build is bitwise identical in practice; the slack only absorbs float formatting.
OBSERVATION_ATOL = 1e-5
_FORBIDDEN_MODULES = ("tensorflow", "keras", "tf_keras")


class ReplayMismatchError(RuntimeError):
    """A replayed episode differs from its recording (a nondeterministic env or reset)."""


def probe(env_name: str) -> tuple[int, ...]:
    """Renders one PROBE_SIZE x PROBE_SIZE frame of `env_name`; returns its shape.

    Raises:
        RuntimeError: the frame is not an RGB image of the asked size (or rendering fails).
    """
    with ogbench_env.quiet_env_warnings():
        env = ogbench_env.make_eval_env(env_name, render_size=PROBE_SIZE)
        try:
            env.reset(seed=0)
            frame = np.asarray(env.render())
        finally:
            ogbench_env.close_env(env)
    if frame.shape != (PROBE_SIZE, PROBE_SIZE, 3):
        raise RuntimeError(
            f"render returned shape {frame.shape}, expected ({PROBE_SIZE}, {PROBE_SIZE}, 3)"
        )
    return frame.shape


def replay(recordings_path: str) -> list[str]:
    """Replays every episode of a recordings file and writes its video; returns the paths.

    Raises:
        ReplayMismatchError: a replayed goal, observation, episode end or success differs from
            the recording.
    """
    with np.load(recordings_path, allow_pickle=False) as data:
        manifest = json.loads(str(data["manifest"]))
        arrays = {key: data[key] for key in data.files if key != "manifest"}
    # The evaluation's own env and reset, but for the goal frame the video shows beside the scene.
    adapter = ogbench_run.make_adapter(manifest, render_goal=True)
    paths = []
    with ogbench_env.quiet_env_warnings():
        env = adapter.make_env()
        try:
            for i, episode in enumerate(manifest["episodes"]):
                frames, goal_frame = _replay_episode(
                    env,
                    adapter,
                    episode,
                    skip=int(manifest["video_frame_skip"]),
                    actions=arrays[f"actions_{i}"],
                    observations=arrays[f"observations_{i}"],
                    goal=arrays.get(f"goals_{i}"),
                )
                paths.append(_save_video(manifest, episode, frames, goal_frame))
        finally:
            adapter.close_env(env)
    return paths


def _replay_episode(
    env,
    adapter: ogbench_env.OGBenchAdapter,
    episode: dict[str, Any],
    *,
    skip: int,
    actions: np.ndarray,
    observations: np.ndarray,
    goal: np.ndarray | None,
) -> tuple[list[np.ndarray], np.ndarray | None]:
    rollout = Rollout(
        0,
        int(episode["task_id"]),
        int(episode["episode"]),
        float(episode["sweep_value"]),
        int(episode["reset_seed"]),
        False,
    )
    name = (
        f"{adapter.name} task {rollout.task_id} episode {rollout.episode} "
        f"(w={rollout.sweep_value:g})"
    )
    live = Live(env, rollout, adapter)
    if goal is not None and not np.allclose(
        live.inputs["goals"], goal, rtol=0.0, atol=OBSERVATION_ATOL
    ):
        raise ReplayMismatchError(f"replay of {name}: the reset gave a different goal")
    _check_observation(name, 0, live.observation, observations[0])
    frames = [np.asarray(env.render()).copy()]
    done = success = False
    for t, action in enumerate(actions):
        if done:
            raise ReplayMismatchError(
                f"replay of {name}: the episode ended after {t} steps, the recording ran "
                f"{len(actions)}"
            )
        done, success = live.step(action)
        _check_observation(name, t + 1, live.observation, observations[t + 1])
        if done or live.length % skip == 0:
            frames.append(np.asarray(env.render()).copy())
    if not done:
        raise ReplayMismatchError(
            f"replay of {name}: the episode had not ended after the {len(actions)} recorded steps"
        )
    if success != bool(episode["success"]):
        raise ReplayMismatchError(
            f"replay of {name}: final success {success}, the recording had {episode['success']}"
        )
    goal_frame = live.info.get("goal_rendered")
    return frames, None if goal_frame is None else np.asarray(goal_frame)


def _check_observation(name: str, step: int, replayed, recorded: np.ndarray) -> None:
    replayed = np.asarray(replayed, np.float64).reshape(-1)
    if replayed.shape != recorded.shape or not np.allclose(
        replayed, recorded, rtol=0.0, atol=OBSERVATION_ATOL
    ):
        error = (
            float(np.abs(replayed - recorded).max()) if replayed.shape == recorded.shape else None
        )
        raise ReplayMismatchError(
            f"replay of {name}: the observation after step {step} differs from the recording "
            f"(max abs difference {error}, tolerance {OBSERVATION_ATOL})"
        )


# ----------------------------------------------------------------------------------------------
# Writing videos.


def _save_video(
    manifest: dict[str, Any],
    episode: dict[str, Any],
    frames: list[np.ndarray],
    goal_frame: np.ndarray | None,
) -> str:
    if goal_frame is not None:
        frames = [
            np.concatenate([goal_frame, f], axis=1) if goal_frame.shape == f.shape else f
            for f in frames
        ]
    stem = (
        f"{manifest['env_name']}_task{episode['task_id']}_ep{episode['episode']}"
        f"_w{float(episode['sweep_value']):g}"
    )
    video_dir = manifest["video_dir"]
    path = os.path.join(video_dir, stem)
    fps = max(1, round(30 / int(manifest["video_frame_skip"])))
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401  (only to know that the ffmpeg plugin can run)
    except ImportError:
        _write_gif(path + ".gif", frames, fps)
        return path + ".gif"
    os.makedirs(video_dir, exist_ok=True)
    tmp = path + ".partial.mp4"
    imageio.mimwrite(tmp, frames, fps=fps, macro_block_size=1)
    os.replace(tmp, path + ".mp4")
    return path + ".mp4"


def _write_gif(path: str, frames: list[np.ndarray], fps: int) -> None:
    from PIL import Image

    images = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames]
    buf = io.BytesIO()
    images[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=max(20, round(1000 / fps)),
        loop=0,
    )
    fileio.atomic_write_bytes(path, buf.getvalue())


# ----------------------------------------------------------------------------------------------
# The program.


def main(argv: Sequence[str]) -> int:
    """Runs `probe ENV_NAME` or `replay RECORDINGS.npz RESULT.json`; returns the exit status.

    On failure the last line written to stderr is `ErrorType: message`, which the evaluator
    quotes in its own error.
    """
    try:
        loaded = sorted(m for m in _FORBIDDEN_MODULES if m in sys.modules)
        if loaded:
            # Checked before any renderer exists: an EGL context next to TensorFlow segfaults.
            raise RuntimeError(f"the video replay process imported {loaded}; it must not")
        if len(argv) == 2 and argv[0] == "probe":
            print(f"rendered a frame of shape {probe(argv[1])}", flush=True)
        elif len(argv) == 3 and argv[0] == "replay":
            paths = replay(argv[1])
            fileio.atomic_write_text(argv[2], json.dumps(paths))
        else:
            raise ValueError(
                f"usage: python -m {__spec__.name if __spec__ else __name__} "
                "probe ENV_NAME | replay RECORDINGS.npz RESULT.json"
            )
    except Exception as e:
        traceback.print_exc()
        print(f"{type(e).__name__}: {' '.join(str(e).split())}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
