"""Tests for cfgrl_tf.envs.ogbench_eval: lockstep and one-at-a-time rollouts agree, w rows are
paired and kept apart, summaries, plots, bad input, and videos (in a subprocess, since MuJoCo picks
its renderer when first imported, and with TensorFlow loaded, as in cfgrl-eval)."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cfgrl_tf import errors, evaluation, plotting
from cfgrl_tf.envs import (
    EpisodeResult,
    episode_rows,
    evaluate_lockstep,
    evaluate_one_at_a_time,
    format_table,
    ogbench_eval,
    summarize,
)

ENV = "pointmaze-medium-v0"
TASKS = (1, 2)
EPISODES = 2
WEIGHTS = (0.0, 1.0)
# A proportional controller reaches task 1's goal in ~120 steps; task 2 only from some starts.
STEPS = 150
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def controller(observations, goals, sweep_values, seed):
    """Heads straight for the goal at gain 5, scaled by w: w = 0 stands still."""
    del seed
    return np.clip(sweep_values[:, None] * 5.0 * (goals - observations), -1.0, 1.0)


class Recorder:
    """Wraps a policy and keeps every call's inputs."""

    def __init__(self, policy):
        self.policy = policy
        self.calls = []

    def __call__(self, observations, goals, sweep_values, seed):
        self.calls.append((observations.copy(), goals.copy(), sweep_values.copy(), seed))
        return self.policy(observations, goals, sweep_values, seed)


def _run(fn, policy, **kwargs):
    settings = dict(
        sweep_values=WEIGHTS,
        task_ids=TASKS,
        episodes_per_task=EPISODES,
        max_episode_steps=STEPS,
        progress=False,
    )
    settings.update(kwargs)
    return fn(ENV, policy, **settings)


@pytest.fixture(scope="module")
def lockstep():
    recorder = Recorder(controller)
    return _run(evaluate_lockstep, recorder), recorder


@pytest.fixture(scope="module")
def one_at_a_time():
    recorder = Recorder(controller)
    return _run(evaluate_one_at_a_time, recorder), recorder


def test_lockstep_and_one_at_a_time_give_identical_results(lockstep, one_at_a_time):
    (fast, _), (slow, _) = lockstep, one_at_a_time
    assert fast == slow
    # Not a trivial agreement: some rollouts succeed early, others run to the time limit.
    assert any(r.success and r.length < STEPS for r in fast)
    assert any(not r.success and r.length == STEPS for r in fast)
    # Reusing envs through a small pool (5 rollouts wait for a free env) changes nothing either.
    assert _run(evaluate_lockstep, controller, max_envs=3) == fast


def test_one_policy_call_per_step_with_fresh_seeds(lockstep, one_at_a_time):
    (results, recorder), (slow, slow_recorder) = lockstep, one_at_a_time
    assert len(recorder.calls) == max(r.length for r in results)
    assert len(slow_recorder.calls) == sum(r.length for r in slow)
    assert all(c[0].shape[0] == 1 for c in slow_recorder.calls)
    # Lockstep seeds: one per step, consecutive; one-at-a-time seeds never repeat across episodes.
    seeds = [c[3] for c in recorder.calls]
    assert np.all(np.diff(seeds) == 1)
    assert len({c[3] for c in slow_recorder.calls}) == len(slow_recorder.calls)
    # 5 to 8 rollouts run at a time here: padded to all 8 rows.
    assert {c[0].shape[0] for c in recorder.calls} == {8}


def test_batch_shrinks_to_powers_of_two_as_rollouts_finish():
    recorder = Recorder(controller)
    results = _run(evaluate_lockstep, recorder, task_ids=(1,), sweep_values=(0.0, 1.0, 2.0))
    # 6 rollouts; the 4 at w > 0 reach the goal early, leaving the 2 at w = 0.
    assert sum(r.success for r in results) == 4
    sizes = [c[0].shape[0] for c in recorder.calls]
    assert sizes[0] == 6 and sizes[-1] == 2
    assert set(sizes) <= {6, 4, 2}
    assert sizes == sorted(sizes, reverse=True)  # never grows back
    # The padding repeats a running row; the last calls carry only the w = 0 rows.
    np.testing.assert_array_equal(recorder.calls[-1][2], [0.0, 0.0])


def test_results_are_ordered_and_counted(lockstep):
    results, _ = lockstep
    assert len(results) == len(TASKS) * EPISODES * len(WEIGHTS)
    keys = [(r.task_id, r.episode, r.sweep_value) for r in results]
    assert keys == [(t, e, w) for t in TASKS for e in range(EPISODES) for w in WEIGHTS]
    assert all(isinstance(r.success, bool) and 1 <= r.length <= STEPS for r in results)
    assert all(r.episode_return == float(r.success) for r in results)  # 1 at the goal, then stop


def test_every_w_row_starts_from_the_same_observation_and_goal(lockstep):
    _, recorder = lockstep
    observations, goals, sweeps, _ = recorder.calls[0]
    shape = (len(TASKS), EPISODES, len(WEIGHTS))
    obs = observations.reshape(*shape, -1)
    goal = goals.reshape(*shape, -1)
    np.testing.assert_array_equal(sweeps.reshape(shape), np.broadcast_to(WEIGHTS, shape))
    for w in range(1, len(WEIGHTS)):
        np.testing.assert_array_equal(obs[:, :, w], obs[:, :, 0])
        np.testing.assert_array_equal(goal[:, :, w], goal[:, :, 0])
    # ...while episodes and tasks differ (start noise, and goal noise in the maze's default setup).
    assert not np.array_equal(obs[:, 0], obs[:, 1])
    assert not np.array_equal(goal[0], goal[1])


def test_w_reaches_its_own_rows(lockstep):
    results, recorder = lockstep
    # w = 0 stands still: never a success, always the full time limit. Mixed-up rows would move.
    still = [r for r in results if r.sweep_value == 0.0]
    assert all(not r.success and r.length == STEPS for r in still)
    # w = 1 reaches task 1's goal from every start.
    assert all(r.success for r in results if r.sweep_value == 1.0 and r.task_id == 1)
    # The rows at w = 0 still hold their starts at the last step: they got the zero actions.
    first, last = recorder.calls[0], recorder.calls[-1]
    starts = first[0][first[2] == 0.0]
    now = last[0][last[2] == 0.0]
    assert len(now) >= len(starts) == 4  # (padding may repeat a row)
    distance = np.linalg.norm(now[:, None] - starts[None], axis=-1).min(axis=1)
    assert distance.max() < 1e-3
    moved = last[0][last[2] == 1.0]
    assert len(moved) and np.linalg.norm(moved[:, None] - starts[None], axis=-1).min() > 0.1


def test_summarize_table_and_csv(tmp_path):
    results = [
        EpisodeResult(task, ep, w, success, 10, float(success))
        for w, outcomes in ((0.0, (0, 0, 1, 0)), (2.0, (1, 1, 1, 0)))
        for (task, ep), success in zip(
            ((1, 0), (1, 1), (3, 0), (3, 1)), map(bool, outcomes), strict=True
        )
    ]
    rows = summarize(results)
    assert [(r["sweep_value"], r["task_id"]) for r in rows] == [
        (0.0, "overall"),
        (0.0, 1),
        (0.0, 3),
        (2.0, "overall"),
        (2.0, 1),
        (2.0, 3),
    ]
    assert [r["success"] for r in rows] == [0.25, 0.0, 0.5, 0.75, 1.0, 0.5]
    assert [r["episodes"] for r in rows] == [4, 2, 2, 4, 2, 2]
    # Standard error: sample std / sqrt(n); 4 Bernoulli outcomes with one odd one out -> 0.25.
    assert rows[0]["success_se"] == pytest.approx(0.25)
    assert rows[1]["success_se"] == 0.0
    assert rows[2]["success_se"] == pytest.approx(0.5)

    table = format_table(rows, param_name="w")
    lines = table.splitlines()
    assert lines[0].split() == ["w", "overall", "se", "task1", "task3", "episodes"]
    assert lines[2].split() == ["0", "0.250", "0.250", "0.000", "0.500", "4"]
    assert lines[3].split() == ["2", "0.750", "0.250", "1.000", "0.500", "4"]

    path = str(tmp_path / "summary.csv")
    evaluation.write_csv(rows, path)
    back = evaluation.read_csv(path)
    assert [r["task_id"] for r in back] == ["overall", "1", "3", "overall", "1", "3"]
    assert [r["success"] for r in back] == [r["success"] for r in rows]
    assert format_table(back) == table  # a table can be made from the CSV alone

    per_episode = str(tmp_path / "episodes.csv")
    evaluation.write_csv(episode_rows(results), per_episode)
    back = evaluation.read_csv(per_episode)
    assert list(back[0]) == ["sweep_value", "task_id", "episode", "success", "length", "return"]
    assert [r["success"] for r in back] == [0, 0, 1, 0, 1, 1, 1, 0]

    one = summarize(results[:1])
    assert math.isnan(one[0]["success_se"])
    assert "nan" in format_table(one)


def test_progress_lines(capsys):
    _run(evaluate_lockstep, controller, task_ids=(1,), episodes_per_task=1, progress=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10  # every 15 steps of 150
    assert lines[0].startswith(f"[{ENV}] step 15/150: active rollouts 2, finished 0/2")
    assert "env steps/s" in lines[0]
    assert "finished 2/2, successes so far 1" in lines[-1]
    _run(evaluate_lockstep, controller, task_ids=(1,), episodes_per_task=1, max_episode_steps=5)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"env_name": "pointmaze-mediun-v0"}, "unknown environment 'pointmaze-mediun-v0'"),
        ({"env_name": "visual-cube-single-v0"}, "not a state-based OGBench"),
        ({"env_name": "CartPole-v1"}, "not a state-based OGBench"),
        ({"task_ids": (0, 1)}, "task_ids must be integers in 1..5"),
        ({"task_ids": (6,)}, "got 6"),
        ({"goal_key": "goals"}, "goal_key must be one of ('observations', 'oracle_reps')"),
        ({"sweep_values": (1.0, 1.0)}, "repeats a value"),
        ({"sweep_values": ()}, "sweep_values is empty"),
        ({"episodes_per_task": 0}, "episodes_per_task must be a positive integer"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"video_dir": "/tmp/x", "video_sweep_value": 7.0}, "video_sweep_value 7.0 is not one"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = dict(env_name=ENV, sweep_values=WEIGHTS, task_ids=(1,), episodes_per_task=1)
    args.update(kwargs)
    env_name = args.pop("env_name")
    for fn in (evaluate_lockstep, evaluate_one_at_a_time):
        with pytest.raises(errors.UserError, match=None) as info:
            fn(env_name, controller, progress=False, **args)
        assert message in str(info.value)
    if "env_name" in kwargs and "unknown" in message:
        assert "pointmaze-medium-v0" in str(info.value)  # names valid ones


def test_policy_of_the_wrong_shape():
    def wrong(observations, goals, sweep_values, seed):
        return np.zeros((observations.shape[0], 3))

    def nan(observations, goals, sweep_values, seed):
        return np.where(sweep_values[:, None] > 0, np.nan, 0.0) * np.ones((1, 2))

    kwargs = dict(task_ids=(1,), episodes_per_task=1, max_episode_steps=5)
    with pytest.raises(errors.UserError, match=r"shape \(2, 3\), expected \(2, 2\)"):
        _run(evaluate_lockstep, wrong, **kwargs)
    with pytest.raises(errors.UserError, match=r"shape \(1, 3\), expected \(1, 2\)"):
        _run(evaluate_one_at_a_time, wrong, **kwargs)
    with pytest.raises(errors.UserError, match=r"non-finite actions in 1 of 2 rows .* \[1.0\]"):
        _run(evaluate_lockstep, nan, **kwargs)


def test_cube_single_smoke_pairs_w_rows():
    recorder = Recorder(lambda o, g, w, s: np.tile(np.where(w[:, None] > 0, 0.5, -0.5), (1, 5)))
    kwargs = dict(sweep_values=(0.0, 1.0), task_ids=(2,), episodes_per_task=1, progress=False)
    results = evaluate_lockstep("cube-single-v0", recorder, max_episode_steps=4, **kwargs)
    assert [(r.sweep_value, r.length, r.success) for r in results] == [
        (0.0, 4, False),
        (1.0, 4, False),
    ]
    observations, goals, _, _ = recorder.calls[0]
    assert observations.shape == (2, 28) and goals.shape == (2, 28)
    # Manipulation resets step the arm randomly while making the goal: pinned and seeded here.
    np.testing.assert_array_equal(observations[0], observations[1])
    np.testing.assert_array_equal(goals[0], goals[1])
    # Opposite actions took the two rows apart.
    assert not np.array_equal(recorder.calls[-1][0][0], recorder.calls[-1][0][1])
    # Oracle goals are the cube position only.
    oracle = Recorder(recorder.policy)
    evaluate_lockstep(
        "cube-single-v0", oracle, max_episode_steps=1, goal_key="oracle_reps", **kwargs
    )
    assert oracle.calls[0][1].shape == (2, 3)


def test_plot_success_vs_param(tmp_path):
    path = str(tmp_path / "success.png")
    curves = {
        "cfgrl": [(2.0, 0.6, 0.1), (0.0, 0.2, 0.05), (1.0, 0.5, float("nan"))],
        "iql+awr": [(1.0, 0.3, 0.1), (3.0, 0.35, 0.1)],
    }
    returned = plotting.plot_success_vs_param(
        curves, path, "pointmaze-medium", reference_lines={"flow bc": 0.25}
    )
    assert returned == path
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(path) > 10_000
    with pytest.raises(errors.UserError, match="'bad' must be"):
        plotting.plot_success_vs_param({"bad": [(1.0, 0.5)]}, path, "t")
    with pytest.raises(errors.UserError, match="nothing to plot"):
        plotting.plot_success_vs_param({}, path, "t")


def test_videos_without_a_renderer_fail_before_any_rollout(monkeypatch, tmp_path):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    recorder = Recorder(controller)
    with pytest.raises(errors.UserError, match=r"set MUJOCO_GL=egl or MUJOCO_GL=osmesa"):
        _run(evaluate_lockstep, recorder, video_dir=str(tmp_path / "videos"))
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
        monkeypatch.setattr(ogbench_eval, "_run_video_helper", lambda args, timeout, p=proc: p)
        recorder = Recorder(controller)
        with pytest.raises(errors.UserError) as info:
            _run(evaluate_lockstep, recorder, video_dir=str(tmp_path / "videos"))
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
from cfgrl_tf.envs import ogbench_eval, video_replay
ogbench_eval._import_ogbench()
import PIL.Image
print(sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "tf_keras", "jax"}))
"""
    proc = _in_subprocess(code, "egl")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_replay_refuses_a_recording_it_does_not_reproduce(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MUJOCO_GL", "egl")
    monkeypatch.delenv("DISPLAY", raising=False)
    try:
        ogbench_eval._probe_renderer(ENV)
    except errors.UserError as e:
        pytest.skip(f"no EGL here: {e}")
    real_helper = ogbench_eval._run_video_helper

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

    monkeypatch.setattr(ogbench_eval, "_run_video_helper", tampering_helper)
    video_dir = tmp_path / "videos"
    results = _run(
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


def _in_subprocess(code: str, mujoco_gl: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, MUJOCO_GL=mujoco_gl)
    env.pop("DISPLAY", None)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )


def _video_code(video_dir, max_episode_steps: int, import_tensorflow: bool) -> str:
    # The evaluator never renders in its own process: the rollouts record actions, and a
    # subprocess without TensorFlow replays and renders them.
    return f"""
{"import tensorflow" if import_tensorflow else ""}
import sys
import numpy as np
from cfgrl_tf import errors
from cfgrl_tf.envs import evaluate_lockstep
print("TF", "tensorflow" in sys.modules)
try:
    evaluate_lockstep(
        {ENV!r}, lambda o, g, w, s: np.clip(w[:, None] * 5 * (g - o), -1, 1),
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
    proc = _in_subprocess(_video_code(tmp_path, 10, import_tensorflow=False), "egl")
    _check_video_run(proc, tmp_path, import_tensorflow=False, frames=3)  # reset, steps 5, 10


def test_video_with_egl_and_tensorflow_loaded(tmp_path):
    # The real caller (cfgrl-eval) has TensorFlow loaded; an EGL context beside it segfaults.
    proc = _in_subprocess(_video_code(tmp_path, 30, import_tensorflow=True), "egl")
    _check_video_run(proc, tmp_path, import_tensorflow=True, frames=7)  # reset + every 5 of 30
