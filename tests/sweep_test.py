"""The sampling knob and its sweeps."""

import pytest

from cfgrl_tf import errors
from cfgrl_tf.sweep import DEFAULT_GUIDANCE_WEIGHTS, KNOBS, Sweep


def test_sweep_validation():
    with pytest.raises(errors.UserError, match="'guidance_weight' is empty"):
        Sweep("guidance_weight", ())
    with pytest.raises(errors.UserError, match="unknown sweep name 'cfg'"):
        Sweep("cfg", (1.0,))
    with pytest.raises(errors.UserError, match="repeats a value"):
        Sweep("temperature", (1.0, 1))
    sweep = Sweep("guidance_weight", [0, 2])
    assert sweep.values == (0.0, 2.0) and all(isinstance(v, float) for v in sweep.values)
    assert DEFAULT_GUIDANCE_WEIGHTS == (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)


def test_knobs_name_their_tags_panels_and_serving():
    w, t, none = KNOBS["guidance_weight"], KNOBS["temperature"], KNOBS["none"]
    assert w.tag_prefix(1.5) == "eval/w_1.5" and t.tag_prefix(3.0) == "eval/t_3"
    assert none.tag_prefix(0.0) == "eval"
    assert w.panel_title(2.0) == "w = 2" and t.panel_title(3.0) == "temperature = 3"
    assert none.panel_title(0.0, "flow_bc") == "flow_bc" and none.panel_title(0.0) == "samples"
    assert (w.serving, t.serving, none.serving) == ("input", "fixed", "ignored")


def test_sweep_with_values():
    sweep = Sweep("guidance_weight", (1.0, 2.0))
    assert sweep.with_values(None, "cfgrl") is sweep
    assert sweep.with_values([3, 4], "cfgrl").values == (3.0, 4.0)
    with pytest.raises(errors.UserError, match="agent 'flow_bc' has no sampling knob"):
        Sweep("none", (0.0,)).with_values([1.0], "flow_bc")
    with pytest.raises(errors.UserError, match="non-finite"):
        sweep.with_values([float("nan")], "cfgrl")
