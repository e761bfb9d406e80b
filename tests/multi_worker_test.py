"""Two cfgrl-train worker processes on localhost train one run with MultiWorkerMirroredStrategy."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import tensorflow as tf

from cfgrl_tf.eval.report import read_csv

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_share_one_run_and_agree(tiny_bandit_dir, tmp_path):
    root = str(tmp_path / "run")
    cluster = {"worker": [f"localhost:{p}" for p in _free_ports(2)]}
    args = [
        sys.executable,
        "-m",
        "cfgrl_tf.cli.train",
        "--strategy=multi_worker",
        "--gin_file=bandit/cfgrl.gin",
        f"--root_dir={root}",
    ] + [
        f"--gin_bindings={b}"
        for b in (
            f"train.dataset_dir = '{tiny_bandit_dir}'",
            "train.num_steps = 20",
            "train.steps_per_loop = 10",
            "train.log_interval = 10",
            "train.checkpoint_interval = 10",
            "train.batch_size = 32",
            "train.jit_compile = False",
            "IQLCritic.hidden_dims = (16,)",
            "CFGRLAgent.hidden_dims = (16,)",
            "BanditSuite.num_samples = 50",
            "BanditSuite.plot = False",
        )
    ]
    procs = []
    for index in range(2):
        env = dict(
            os.environ,
            TF_CPP_MIN_LOG_LEVEL="2",
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
        )
        procs.append(
            subprocess.Popen(
                args,
                env=env,
                cwd=_REPO_ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out[-2000:] + err[-4000:]
    for out, _ in outputs:
        assert "step 20/20 (100%)" in out

    ckpt_dir = os.path.join(root, "checkpoints")
    chief = tf.train.latest_checkpoint(ckpt_dir)
    other = tf.train.latest_checkpoint(os.path.join(ckpt_dir, ".worker-1"))
    assert chief.endswith("ckpt-20") and other.endswith("ckpt-20")
    chief_reader, other_reader = tf.train.load_checkpoint(chief), tf.train.load_checkpoint(other)
    names = [n for n, _ in tf.train.list_variables(chief) if n.startswith("networks/")]
    assert len(names) > 20
    for name in names:  # Synchronous data parallelism: both workers hold the same weights.
        np.testing.assert_array_equal(chief_reader.get_tensor(name), other_reader.get_tensor(name))
    # Only the chief wrote the run's files: one metrics log, one evaluation.
    with open(os.path.join(root, "train", "metrics.csv")) as f:
        assert [line.split(",")[0] for line in f.read().splitlines()[1:]] == ["10", "20"]
    assert len(read_csv(os.path.join(root, "eval", "sweep.csv"))) == 7
