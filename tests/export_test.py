"""SavedModel export: signature, equality with the in-memory policy in a process without
cfgrl_tf, and refusal to overwrite."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from cfgrl_tf import export
from cfgrl_tf.agents import (
    CFGRLAgent,
    FlowBCAgent,
    GCCFGRLAgent,
    HCFGRLAgent,
    IQLAWRAgent,
    IQLCritic,
)
from cfgrl_tf.errors import ExportError

# Runs in a fresh interpreter where importing cfgrl_tf fails, as on a serving machine.
_LOADER = textwrap.dedent(
    """
    import sys
    sys.modules["cfgrl_tf"] = None  # Any import of cfgrl_tf now raises ImportError.
    import numpy as np
    import tensorflow as tf
    export_dir, obs_path, w_path, seed, out_path = sys.argv[1:]
    model = tf.saved_model.load(export_dir)
    serve = model.signatures["serving_default"]
    out = serve(
        observations=tf.constant(np.load(obs_path)),
        guidance_weight=tf.constant(np.load(w_path)),
        seed=tf.constant(int(seed), tf.int64),
    )
    np.save(out_path, out["actions"].numpy())
    """
)


def _trained(agent):
    agent.build()
    # Move the weights off their initial values so equality is not trivial.
    for w in agent.weights:
        w.assign(w + tf.random.stateless_normal(w.shape, seed=[1, 2]) * 0.05)
    return agent


def _load_in_subprocess(tmp_path, export_dir, obs, weights, seed):
    paths = {k: str(tmp_path / f"{k}.npy") for k in ("obs", "w", "out")}
    np.save(paths["obs"], obs)
    np.save(paths["w"], weights)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _LOADER,
            export_dir,
            paths["obs"],
            paths["w"],
            str(seed),
            paths["out"],
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tmp_path),  # Not the repo root, so cfgrl_tf is not importable from the cwd either.
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return np.load(paths["out"])


@pytest.mark.parametrize(
    ("make_agent", "weights"),
    [
        (lambda: CFGRLAgent(3, 2, critic=IQLCritic((16,)), hidden_dims=(32, 32)), [0, 1, 3, 1.5]),
        (lambda: FlowBCAgent(3, 2, hidden_dims=(32, 32)), [0, 1, 3, 1.5]),
    ],
)
def test_export_reproduces_the_in_memory_policy_without_cfgrl_tf(tmp_path, make_agent, weights):
    agent = _trained(make_agent())
    export_dir = str(tmp_path / "export" / "7")
    export.export_policy(agent.policy(), export_dir, metadata={"agent": agent.name})

    rng = np.random.default_rng(0)
    obs = rng.normal(size=(len(weights) * 8, 3)).astype(np.float32)
    w = np.repeat(np.asarray(weights, np.float32), 8)
    served = _load_in_subprocess(tmp_path, export_dir, obs, w, seed=11)
    in_memory = agent.policy().numpy_sampler()({"observations": obs}, w, 11)
    assert served.shape == (len(w), 2)
    np.testing.assert_allclose(served, in_memory, atol=1e-5)
    # The guidance weight is a real serving-time input for CFGRL (ignored by flow BC): the same
    # observations and seed at another w give other actions.
    other_w = _load_in_subprocess(tmp_path, export_dir, obs, w + 2.0, seed=11)
    assert (not np.allclose(served, other_w)) == (agent.name == "cfgrl")


def test_export_holds_only_the_sampling_networks(tmp_path):
    agent = _trained(CFGRLAgent(3, 2, critic=IQLCritic((16,)), hidden_dims=(32, 32)))
    export_dir = str(tmp_path / "export")
    export.export_policy(agent.policy(), export_dir, metadata={"agent": "cfgrl", "step": 3})
    loaded = tf.saved_model.load(export_dir)
    assert len(loaded.policy_variables) == len(agent.vector_field.weights)
    signature = loaded.signatures["serving_default"]
    assert set(signature.structured_input_signature[1]) == {
        "observations",
        "guidance_weight",
        "seed",
    }
    assert set(signature.structured_outputs) == {"actions"}
    with open(os.path.join(export_dir, export.METADATA_FILE)) as f:
        assert json.load(f) == {"agent": "cfgrl", "step": 3}


def test_awr_export_bakes_in_the_chosen_temperature(tmp_path):
    agent = _trained(IQLAWRAgent(3, 2, critic=IQLCritic((16,)), hidden_dims=(16,)))
    export_dir = str(tmp_path / "export")
    export.export_policy(agent.policy().with_fixed_knob(3.0), export_dir, metadata={})
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    obs = np.zeros((4, 3), np.float32)
    out = serve(
        observations=tf.constant(obs),
        guidance_weight=tf.constant([0.0, 1.0, 10.0, 100.0]),
        seed=tf.constant(5, tf.int64),
    )["actions"].numpy()
    expected = agent.policy().numpy_sampler()({"observations": obs}, np.full(4, 3.0, np.float32), 5)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_an_existing_export_is_never_overwritten(tmp_path):
    agent = _trained(FlowBCAgent(3, 2, hidden_dims=(16,)))
    export_dir = tmp_path / "export" / "5"
    export.export_policy(agent.policy(), str(export_dir), metadata={"first": True})
    before = {p: p.read_bytes() for p in export_dir.rglob("*") if p.is_file()}
    with pytest.raises(ExportError, match="already exists"):
        export.export_policy(agent.policy(), str(export_dir), metadata={"first": False})
    after = {p: p.read_bytes() for p in export_dir.rglob("*") if p.is_file()}
    assert before == after
    # No staging folder is left behind beside it.
    assert sorted(os.listdir(tmp_path / "export")) == ["5"]


_GOAL_LOADER = textwrap.dedent(
    """
    import sys
    sys.modules["cfgrl_tf"] = None
    import numpy as np
    import tensorflow as tf
    export_dir, in_path, seed, out_path = sys.argv[1:]
    inputs = np.load(in_path)
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    out = serve(
        observations=tf.constant(inputs["obs"]),
        goals=tf.constant(inputs["goals"]),
        guidance_weight=tf.constant(inputs["w"]),
        seed=tf.constant(int(seed), tf.int64),
    )
    np.save(out_path, out["actions"].numpy())
    """
)


@pytest.mark.parametrize("hierarchical", [False, True], ids=["cfgrl", "hcfgrl"])
def test_goal_conditioned_export_takes_goals(tmp_path, hierarchical):
    cls = HCFGRLAgent if hierarchical else GCCFGRLAgent
    stats = {"mean": [1.0, 2.0, 0.0], "std": [2.0, 1.0, 3.0]}
    agent = _trained(
        cls(3, 2, goal_dim=3, observation_stats=stats, goal_stats=stats, hidden_dims=(32, 32))
    )
    export_dir = str(tmp_path / "export")
    export.export_policy(agent.policy(), export_dir, metadata={"agent": agent.name})
    signature = tf.saved_model.load(export_dir).signatures["serving_default"]
    assert set(signature.structured_input_signature[1]) == {
        "observations",
        "goals",
        "guidance_weight",
        "seed",
    }
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(12, 3)).astype(np.float32)
    goals = rng.normal(size=(12, 3)).astype(np.float32)
    w = np.repeat(np.asarray([1.0, 2.0, 3.0], np.float32), 4)
    in_path, out_path = str(tmp_path / "in.npz"), str(tmp_path / "out.npy")
    np.savez(in_path, obs=obs, goals=goals, w=w)
    result = subprocess.run(
        [sys.executable, "-c", _GOAL_LOADER, export_dir, in_path, "9", out_path],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        cwd=str(tmp_path),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    served = np.load(out_path)
    in_memory = agent.policy().numpy_sampler()({"observations": obs, "goals": goals}, w, 9)
    np.testing.assert_allclose(served, in_memory, atol=1e-5)
