"""Tests for cfgrl_tf.envs.videos and cfgrl_tf.envs.video_replay: checks before any rollout, the
renderer probe's hints, and videos replayed in a subprocess (MuJoCo picks its renderer when first
imported), also with TensorFlow loaded, as in cfgrl-eval."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
from envs.goal_testutil import ENV, Recorder, controller, in_subprocess, run
from PIL import Image

from cfgrl_tf import errors
from cfgrl_tf.envs import videos
from cfgrl_tf.envs.ogbench_goal import evaluate_lockstep


def test_videos_without_a_renderer_fail_before_any_rollout(monkeypatch, tmp_path):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    recorder = Recorder(controller)
    with pytest.raises(errors.UserError, match=r"set MUJOCO_GL=egl or MUJOCO_GL=osmesa"):
        run(evaluate_lockstep, recorder, video_dir=str(tmp_path / "videos"))
    assert recorder.calls == []
    assert not os.path.exists(tmp_path / "videos")


def test_probe_failures_are_one_line_hints(monkeypatch, tmp_path):
    # The probe renders in a subprocess; what a crashed or failed probe turns into here.
    monkeypatch.setenv("MUJOCO_GL", "egl")
    outcomes = [
        (subprocess.CompletedProcess([], -11, "", ""), "crashed with SIGSEGV"),
        (
            subprocess.CompletedProcess([], 1, "", "Traceback...\nRuntimeError: no EGL device\n"),
            "failed (exit status 1): RuntimeError: no EGL device",
        ),
    ]
    for proc, message in outcomes:
        monkeypatch.setattr(videos, "run_video_helper", lambda args, timeout, p=proc: p)
        recorder = Recorder(controller)
        with pytest.raises(errors.UserError) as info:
            run(evaluate_lockstep, recorder, video_dir=str(tmp_path / "videos"))
        text = str(info.value)
        assert "\n" not in text
        assert text.startswith("videos need an offscreen renderer: set MUJOCO_GL=egl")
        assert f"(MUJOCO_GL='egl': the renderer probe process, rendering one frame of {ENV}" in text
        assert text.endswith(message + ")")
        assert recorder.calls == []
        assert not os.path.exists(tmp_path / "videos")


def test_replay_process_does_not_import_tensorflow():
    code = """
import sys
from cfgrl_tf.envs import ogbench_env, video_replay
ogbench_env.import_ogbench()
import PIL.Image
print(sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "tf_keras", "jax"}))
"""
    proc = in_subprocess(code, "egl")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_replay_refuses_a_recording_it_does_not_reproduce(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MUJOCO_GL", "egl")
    monkeypatch.delenv("DISPLAY", raising=False)
    try:
        videos.probe_renderer(ENV)
    except errors.UserError as e:
        pytest.skip(f"no EGL here: {e}")
    real_helper = videos.run_video_helper

    def tampering_helper(args, timeout):
        if args[0] != "replay":
            return real_helper(args, timeout)
        # Change one recorded action: the replayed episode leaves the recorded one at that step.
        path = args[1]
        with np.load(path) as data:
            arrays = dict(data)
        arrays["actions_0"][5] = -arrays["actions_0"][5] + 0.5
        np.savez(path, **arrays)
        return real_helper(args, timeout)

    monkeypatch.setattr(videos, "run_video_helper", tampering_helper)
    video_dir = tmp_path / "videos"
    results = run(
        evaluate_lockstep,
        controller,
        task_ids=(1,),
        episodes_per_task=1,
        max_episode_steps=20,
        video_dir=str(video_dir),
    )
    # The evaluation's results survive; the failed videos are reported, not written.
    assert len(results) == 2  # task 1, one episode, the two default sweep values
    out = capsys.readouterr().out
    assert "warning: no videos written: rendering 1 episodes by replay" in out
    assert (
        f"ReplayMismatchError: replay of {ENV} task 1 episode 0 (w=1): the observation after "
        "step 6 differs from the recording" in out
    )
    assert os.listdir(video_dir) == []  # no video of some other episode


def _video_code(video_dir, max_episode_steps: int, import_tensorflow: bool) -> str:
    # The evaluator never renders in its own process: the rollouts record actions, and a
    # subprocess without TensorFlow replays and renders them.
    return f"""
{"import tensorflow" if import_tensorflow else ""}
import sys
import numpy as np
from cfgrl_tf import errors
from cfgrl_tf.envs.ogbench_goal import evaluate_lockstep
print("TF", "tensorflow" in sys.modules)
try:
    evaluate_lockstep(
        {ENV!r}, lambda x, w, s: np.clip(w[:, None] * 5 * (x["goals"] - x["observations"]), -1, 1),
        sweep_values=(0.0, 1.0), task_ids=(1,), episodes_per_task=1,
        max_episode_steps={max_episode_steps}, progress=False, video_dir={str(video_dir)!r},
        video_frame_skip=5)
    print("OK")
except errors.UserError as e:
    print("USERERROR", e)
"""


def _check_video_run(proc, video_dir, import_tensorflow: bool, frames: int) -> None:
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])  # -11 is a segfault
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == f"TF {import_tensorflow}"
    if lines[-1].startswith("USERERROR"):
        # No EGL on this machine: the one-line hint instead of a crash.
        assert "set MUJOCO_GL=egl or MUJOCO_GL=osmesa" in lines[-1]
        return
    assert lines[-1] == "OK"
    # Only the largest w is recorded; its frames show the goal beside the scene.
    name = f"{ENV}_task1_ep0_w1.gif"
    assert sorted(os.listdir(video_dir)) == [name]
    size = os.path.getsize(video_dir / name)
    assert size > 1000
    # Before the rollouts it says which sweep value it records and how; after them, the file.
    assert lines[1].startswith("videos: 1 episode(s) at sweep value 1 (video_sweep_value;")
    assert str(video_dir) in lines[1]
    assert lines[2:-1] == [f"Wrote video {video_dir / name} ({size} bytes)"]
    with Image.open(video_dir / name) as gif:
        assert gif.n_frames == frames
        assert gif.size == (400, 200)
        # The scene moves: the last frame is not the first.
        first = np.asarray(gif.convert("RGB"))
        gif.seek(frames - 1)
        assert np.abs(np.asarray(gif.convert("RGB")).astype(int) - first).max() > 0
    assert "Traceback" not in proc.stderr  # EGL contexts are closed before exit


def test_video_with_egl(tmp_path):
    proc = in_subprocess(_video_code(tmp_path, 10, import_tensorflow=False), "egl")
    _check_video_run(proc, tmp_path, import_tensorflow=False, frames=3)  # reset, steps 5, 10


def test_video_with_egl_and_tensorflow_loaded(tmp_path):
    # The real caller (cfgrl-eval) has TensorFlow loaded; an EGL context beside it segfaults.
    proc = in_subprocess(_video_code(tmp_path, 30, import_tensorflow=True), "egl")
    _check_video_run(proc, tmp_path, import_tensorflow=True, frames=7)  # reset + every 5 of 30


def test_single_task_video_with_egl(tmp_path):
    """A single-task episode (no goal input) is replayed and filmed by the same helper."""
    video_dir = tmp_path / "videos"
    code = f"""
import numpy as np
from cfgrl_tf.envs import ogbench_task
results = ogbench_task.evaluate_lockstep(
    "pointmaze-medium-singletask-v0",
    lambda inputs, w, seed: np.ones((len(w), 2), np.float32),
    sweep_values=(1.0,), episodes=1, max_episode_steps=10, progress=False,
    video_dir={str(video_dir)!r},
)
print("lengths", [r.length for r in results])
"""
    proc = in_subprocess(code, "egl")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "lengths [10]" in proc.stdout
    names = os.listdir(video_dir)
    assert names == ["pointmaze-medium-singletask-v0_task1_ep0_w1.gif"], names
    with Image.open(video_dir / names[0]) as gif:
        assert gif.n_frames == 5  # the reset, steps 3, 6, 9 and the last (frame skip 3)
