"""What a new user meets first: --help, a misspelled binding, a busy or half-made run dir, a
finished run, and a run evaluated from another folder."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from testutil import REPO_ROOT, run_cli, user_error

from cfgrl_tf import errors
from cfgrl_tf.cli import common

_BINARIES = ["train", "evaluate", "export", "convert", "generate", "quickstart", "bandits"]
_TINY = [
    "train.num_steps = 20",
    "train.steps_per_loop = 10",
    "train.log_interval = 10",
    "train.checkpoint_interval = 10",
    "train.batch_size = 32",
    "IQLCritic.hidden_dims = (16,)",
    "CFGRLAgent.hidden_dims = (16,)",
    "BanditSuite.num_samples = 50",
    "BanditSuite.plot = False",
]


@pytest.mark.parametrize("binary", _BINARIES)
def test_help_says_what_the_binary_does_and_lists_its_flags(binary):
    result = run_cli(binary, "--help", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    name = {"evaluate": "eval"}.get(binary, binary)
    assert result.stdout.startswith(f"cfgrl-{name}:"), result.stdout[:200]
    assert "flags:" in result.stdout and "--" in result.stdout.split("flags:")[1]
    assert "USAGE:" not in result.stdout


def test_train_help_lists_the_run_flags():
    out = run_cli("train", "--help", timeout=120).stdout
    for flag in ("--gin_file", "--gin_bindings", "--root_dir", "--strategy", "--num_cpu_devices"):
        assert flag in out, flag
    assert "cfgrl-train --gin_file=" in out  # an example command


def test_misspelled_binding_exits_2_naming_it_and_leaves_no_run_dir(tmp_path):
    run = str(tmp_path / "run")
    line = user_error(
        run_cli(
            "train",
            "--gin_file=ogbench/cfgrl.gin",
            "--gin_bindings=GCCFGRLAgent.hiden_dims=(3,)",
            f"--root_dir={run}",
        )
    )
    assert "GCCFGRLAgent.hiden_dims" in line and "hidden_dims" in line.split("are:")[1]
    assert not os.path.exists(run)


def test_a_start_that_fails_leaves_nothing(tmp_path):
    run = str(tmp_path / "run")
    line = user_error(
        run_cli(
            "train",
            "--gin_file=bandit/cfgrl.gin",
            f"--gin_bindings=train.dataset_dir = '{tmp_path / 'missing'}'",
            f"--root_dir={run}",
        )
    )
    assert "missing" in line
    assert not os.path.exists(run)


def test_a_busy_run_dir_is_refused_naming_the_holder(tmp_path):
    run = str(tmp_path / "run")
    with common.run_lock(run):
        line = user_error(
            run_cli("train", "--gin_file=bandit/cfgrl.gin", f"--root_dir={run}", timeout=120)
        )
        assert f"pid {os.getpid()}" in line and run in line
    with common.run_lock(run):  # released on exit: the dir is free again
        pass


def test_a_killed_holder_leaves_no_stuck_lock(tmp_path):
    run = str(tmp_path / "run")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from cfgrl_tf.cli import common\n"
            "with common.run_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)",
            run,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(errors.UserError, match=f"pid {holder.pid}"), common.run_lock(run):
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        with common.run_lock(run), open(os.path.join(run, common.LOCK_FILE)) as f:
            assert f"pid {os.getpid()}" in f.read()
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("newcomer")
    data = str(root / "data")
    convert = run_cli(
        "convert",
        "--gin_file=bandit/diffusion_ql.gin",
        "--gin_bindings=bandit_source.num_samples = 400",
        f"--output_dir={data}",
    )
    assert convert.returncode == 0, convert.stderr[-2000:]
    run = str(root / "run")
    # The dataset dir as typed relative to the working folder (REPO_ROOT for run_cli).
    relative = os.path.relpath(data, REPO_ROOT)
    args = [
        "--gin_file=bandit/cfgrl.gin",
        *(f"--gin_bindings={b}" for b in [f"train.dataset_dir = '{relative}'", *_TINY]),
        f"--root_dir={run}",
    ]
    result = run_cli("train", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    return {
        "run": run,
        "data": data,
        "args": args,
        "stdout": result.stdout,
        "stderr": result.stderr,
    }


def test_output_is_what_a_user_needs(finished):
    for noise in ("oneDNN", "cuInit", "cudart_stub", "Sharding callback", "writer.py"):
        assert noise not in finished["stdout"] + finished["stderr"], noise
    assert "step 20/20 (100%)" in finished["stdout"]


def test_the_run_stores_the_dataset_dir_absolute(finished):
    with open(os.path.join(finished["run"], "config.gin")) as f:
        text = f.read()
    assert f"train.dataset_dir = '{finished['data']}'" in text


def test_a_finished_run_says_so_and_changes_nothing(finished):
    def snapshot():
        out = {}
        for d, _, files in os.walk(finished["run"]):
            for f in files:
                path = os.path.join(d, f)
                if f not in ("config.gin", "flags.json", common.LOCK_FILE):
                    with open(path, "rb") as handle:
                        out[os.path.relpath(path, finished["run"])] = handle.read()
        return out

    before = snapshot()
    time.sleep(1)
    result = run_cli("train", *finished["args"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "is finished (step 20 of 20)" in result.stdout and "cfgrl-eval" in result.stdout
    assert snapshot() == before  # no new evaluation, no TensorBoard points, no checkpoint


def test_eval_from_another_folder_and_a_moved_dataset(finished, tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "cfgrl_tf.cli.evaluate", f"--root_dir={finished['run']}"],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    moved = str(tmp_path / "moved")
    os.rename(finished["data"], moved)
    try:
        line = user_error(run_cli("evaluate", f"--root_dir={finished['run']}"))
        assert "config.gin" in line and finished["data"] in line
    finally:
        os.rename(moved, finished["data"])


def test_resuming_with_other_settings_is_refused_but_more_steps_are_not(finished, tmp_path):
    run = str(tmp_path / "copy")
    shutil.copytree(finished["run"], run)
    args = [a if not a.startswith("--root_dir=") else f"--root_dir={run}" for a in finished["args"]]
    with open(os.path.join(run, "config.gin")) as f:
        config = f.read()
    line = user_error(run_cli("train", *args, "--gin_bindings=CFGRLAgent.learning_rate = 0.01"))
    assert "CFGRLAgent.learning_rate" in line and "config.gin" in line
    other_agent = [
        a if a != "--gin_file=bandit/cfgrl.gin" else "--gin_file=bandit/flow_bc.gin" for a in args
    ]
    assert "train.agent" in user_error(run_cli("train", *other_agent))
    with open(os.path.join(run, "config.gin")) as f:
        assert f.read() == config  # refused before anything is written
    more = run_cli("train", *args, "--gin_bindings=train.num_steps = 30")
    assert more.returncode == 0, more.stderr[-2000:]
    assert "step 30/30 (100%)" in more.stdout
