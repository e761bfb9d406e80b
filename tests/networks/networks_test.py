"""Tests of the Keras networks: shapes, config round trips, conditioning, the Gaussian head."""

import math

import gin
import keras
import numpy as np
import pytest
import tensorflow as tf

from cfgrl_tf.errors import ConfigError
from cfgrl_tf.networks import (
    MLP,
    NULL_LABEL,
    ConditionalVectorField,
    GaussianPolicy,
    TwinQNetwork,
    ValueNetwork,
)
from cfgrl_tf.networks.gaussian import distribution

B, OBS, ACT = 5, 3, 2
HIDDEN = (16, 16)


@pytest.fixture(autouse=True)
def _seed_initializers():
    # Keras draws initial weights from a global seed: fixing it makes every run check the same
    # networks (the margins below hold for other seeds too, this only removes run-to-run noise).
    keras.utils.set_random_seed(0)


def _inputs(seed=0, labels=None):
    rng = np.random.default_rng(seed)
    inputs = {
        "observations": tf.constant(rng.normal(size=(B, OBS)), tf.float32),
        "noisy_actions": tf.constant(rng.normal(size=(B, ACT)), tf.float32),
        "actions": tf.constant(rng.uniform(-1, 1, size=(B, ACT)), tf.float32),
        "times": tf.constant(rng.uniform(size=B), tf.float32),
    }
    if labels is not None:
        inputs["labels"] = tf.constant(labels, tf.int32)
        # Label 0 stands for the null condition, which the mask selects.
        inputs["condition_mask"] = tf.constant(np.asarray(labels) != NULL_LABEL, tf.float32)
    return inputs


def _clone(model, inputs):
    """A model rebuilt from its config, with the original's weights copied in."""
    clone = type(model).from_config(model.get_config())
    clone(inputs)
    clone.set_weights(model.get_weights())
    return clone


def _assert_same_outputs(a, b):
    if isinstance(a, dict):
        assert set(a) == set(b)
        for key in a:
            np.testing.assert_allclose(a[key].numpy(), b[key].numpy(), rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)


def test_mlp_shape_and_config_round_trip():
    mlp = MLP((8, 4), 3, activation="relu", layer_norm=True, final_scale=0.1)
    x = tf.random.stateless_normal([B, 6], seed=[1, 2])
    y = mlp(x)
    assert y.shape == (B, 3)
    # Two dense + two norms + output layer: 5 kernels/scales and 5 biases/offsets.
    assert len(mlp.trainable_variables) == 10
    config = mlp.get_config()
    assert config["hidden_dims"] == [8, 4] and config["output_dim"] == 3
    assert config["layer_norm"] is True and config["final_scale"] == 0.1
    clone = MLP.from_config(config)
    clone(x)
    clone.set_weights(mlp.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), y.numpy(), rtol=1e-6)


def test_mlp_mixed_bfloat16_computes_hidden_layers_in_bfloat16_only():
    x = tf.random.stateless_normal([B, 6], seed=[1, 2])
    exact = MLP((16, 16), 3, layer_norm=True)
    mixed = MLP((16, 16), 3, layer_norm=True, precision="mixed_bfloat16")
    exact(x), mixed(x)
    mixed.set_weights(exact.get_weights())
    assert {layer.compute_dtype for layer in mixed._hidden} == {"bfloat16"}
    # Weights stay float32 (optimizer and checkpoints unchanged) and so does the output.
    assert {v.dtype for v in mixed.weights} == {"float32"}
    y = mixed(x)
    assert y.dtype == tf.float32
    # bfloat16's 8-bit mantissa: close to the float32 network, not equal to it.
    difference = np.abs(y.numpy() - exact(x).numpy()).max()
    assert 0 < difference < 0.1
    assert MLP.from_config(mixed.get_config()).precision == "mixed_bfloat16"


def test_mlp_precision_follows_its_gin_binding_and_refuses_others():
    with gin.unlock_config():
        gin.bind_parameter("hidden_precision.precision", "mixed_bfloat16")
    try:
        assert MLP((4,), 1).precision == "mixed_bfloat16"
    finally:
        gin.clear_config()
    assert MLP((4,), 1).precision == "float32"
    with pytest.raises(ConfigError, match="precision='float16': expected one of float32"):
        MLP((4,), 1, precision="float16")


@pytest.mark.parametrize(
    "make, labels, shape",
    [
        (lambda: ValueNetwork(HIDDEN), None, (B,)),
        (lambda: TwinQNetwork(HIDDEN), None, (2, B)),
        (lambda: ConditionalVectorField(ACT, HIDDEN), None, (B, ACT)),
        (lambda: ConditionalVectorField(ACT, HIDDEN, num_labels=2), [0, 1, 2, 1, 0], (B, ACT)),
        (
            lambda: ConditionalVectorField(ACT, HIDDEN, num_labels=2, num_time_frequencies=0),
            [0, 1, 2, 1, 0],
            (B, ACT),
        ),
    ],
)
def test_output_shapes_and_config_round_trip(make, labels, shape):
    model = make()
    inputs = _inputs(labels=labels)
    out = model(inputs)
    assert tuple(out.shape) == shape
    assert np.all(np.isfinite(out.numpy()))
    clone = _clone(model, inputs)
    assert clone.get_config() == model.get_config()
    _assert_same_outputs(clone(inputs), out)


def test_gaussian_policy_shapes_and_config_round_trip():
    policy = GaussianPolicy(ACT, HIDDEN, log_std_bounds=(-3.0, 1.0))
    inputs = _inputs()
    out = policy(inputs)
    assert out["mean"].shape == (B, ACT) and out["log_std"].shape == (B, ACT)
    clone = _clone(policy, inputs)
    assert clone.get_config()["log_std_bounds"] == [-3.0, 1.0]
    _assert_same_outputs(clone(inputs), out)


def test_vector_field_output_depends_on_the_label():
    field = ConditionalVectorField(ACT, HIDDEN, num_labels=2)
    outs = [field(_inputs(labels=[label] * B)).numpy() for label in (NULL_LABEL, 1, 2)]
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.max(np.abs(outs[i] - outs[j])) > 1e-4, (i, j)
    # A mixed batch gives each row the output of its own label.
    mixed = field(_inputs(labels=[0, 1, 2, 0, 1])).numpy()
    for row, label in enumerate([0, 1, 2, 0, 1]):
        np.testing.assert_allclose(mixed[row], outs[label][row], rtol=1e-5, atol=1e-6)


def test_vector_field_output_depends_on_time_and_noisy_action():
    field = ConditionalVectorField(ACT, HIDDEN)
    inputs = _inputs()
    base = field(inputs).numpy()
    shifted_time = field({**inputs, "times": inputs["times"] + 0.25}).numpy()
    shifted_x = field({**inputs, "noisy_actions": inputs["noisy_actions"] + 1.0}).numpy()
    assert np.max(np.abs(base - shifted_time)) > 1e-4
    assert np.max(np.abs(base - shifted_x)) > 1e-4
    # [B] and [B, 1] times are the same input.
    column = field({**inputs, "times": inputs["times"][:, None]}).numpy()
    np.testing.assert_allclose(column, base, rtol=1e-6)


def test_unconditional_field_needs_no_labels_and_ignores_them():
    field = ConditionalVectorField(ACT, HIDDEN)
    assert not field.conditional and field.label_embedding is None
    inputs = _inputs()
    without = field(inputs).numpy()
    with_labels = field({**inputs, "labels": tf.constant([2] * B)}).numpy()
    np.testing.assert_array_equal(without, with_labels)
    assert ConditionalVectorField(ACT, HIDDEN, num_labels=2).conditional


def test_twin_q_heads_are_independent():
    q = TwinQNetwork(HIDDEN)
    out = q(_inputs()).numpy()
    assert np.max(np.abs(out[0] - out[1])) > 1e-4
    head_vars = [{id(v) for v in head.trainable_variables} for head in q.heads]
    assert head_vars[0] and not head_vars[0] & head_vars[1]


def test_gaussian_mean_is_squashed_into_the_action_range():
    policy = GaussianPolicy(ACT, HIDDEN)
    # Large observations push the pre-tanh mean far outside [-1, 1].
    observations = 100.0 * tf.random.stateless_normal([64, OBS], seed=[3, 4])
    mean = policy({"observations": observations})["mean"].numpy()
    assert np.all(np.abs(mean) <= 1.0)
    assert np.max(np.abs(mean)) > 0.9


def test_gaussian_log_std_is_state_independent_and_clipped():
    policy = GaussianPolicy(ACT, HIDDEN, log_std_bounds=(-2.0, 0.5))
    inputs = _inputs()
    policy(inputs)
    policy.log_std.assign([-10.0, 10.0])
    log_std = policy(inputs)["log_std"].numpy()
    np.testing.assert_array_equal(log_std, np.tile([[-2.0, 0.5]], (B, 1)))


def test_distribution_log_prob_matches_the_diagonal_gaussian_density():
    policy = GaussianPolicy(ACT, HIDDEN)
    inputs = _inputs()
    policy(inputs)
    policy.log_std.assign([-0.7, 0.3])
    params = policy(inputs)
    actions = inputs["actions"].numpy()
    mean, log_std = params["mean"].numpy(), params["log_std"].numpy()
    expected = np.sum(
        -0.5 * ((actions - mean) / np.exp(log_std)) ** 2 - log_std - 0.5 * math.log(2 * math.pi),
        axis=-1,
    )
    log_prob = distribution(params).log_prob(actions).numpy()
    assert log_prob.shape == (B,)
    np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-5)
