"""The sampling-time knob of a policy, and the settings an evaluation sweeps it over.

Every policy has one knob that changes how it samples without retraining: CFGRL's guidance
weight w, the AWR temperature whose head is sampled, the number of candidate actions a critic
picks among (Diffusion-QL's action selection), or nothing (flow BC, GCBC). Evaluators,
plots, TensorBoard tags and the exporter read what they need about the knob from its `Knob`
record here, so no code elsewhere switches on a knob's name.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from cfgrl_tf import errors

DEFAULT_GUIDANCE_WEIGHTS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)
# The goal-conditioned sweep (OGBench evaluation): w = 1 is goal-conditioned BC.
DEFAULT_GOAL_GUIDANCE_WEIGHTS = (0.5, 1.0, 1.25, 1.5, 2.0, 3.0)


@dataclasses.dataclass(frozen=True)
class Knob:
    """What a sampling knob is, for the code that reports and serves it.

    Attributes:
      name: the knob's name in sweeps and CSV files ("guidance_weight", "temperature", "none").
      tag: the short symbol in metric tags and tables (`eval/w_1.5/success`), or None when the
        knob has a single setting and tags carry no value.
      label: how a plot panel names it ("w = 1.5", "temperature = 3").
      serving: how an export treats the `guidance_weight` serving input: "input" (each row's
        value is used), "fixed" (one value is chosen at export time and baked in), "ignored".
      description: the sentence an export's metadata gives about the serving input.
    """

    name: str
    tag: str | None
    label: str
    serving: str
    description: str

    def tag_prefix(self, value: float) -> str:
        """The metric namespace of one setting: `eval/w_1.5`, or `eval` for a knob-less policy."""
        return f"eval/{self.tag}_{value:g}" if self.tag else "eval"

    def panel_title(self, value: float, agent: str | None = None) -> str:
        return f"{self.label} = {value:g}" if self.tag else (agent or "samples")


KNOBS = {
    knob.name: knob
    for knob in (
        Knob("guidance_weight", "w", "w", "input", "used: v = v_null + w * (v_cond - v_null)"),
        Knob(
            "temperature",
            "t",
            "temperature",
            "fixed",
            "ignored: the export samples the AWR head of temperature {value:g}",
        ),
        Knob(
            "candidates",
            "n",
            "candidates",
            "input",
            "used: the number of sampled actions the critic picks among, in proportion to "
            "softmax(Q) (1: one sample)",
        ),
        Knob("none", None, "none", "ignored", "ignored: the policy has no guidance"),
    )
}
SWEEP_NAMES = tuple(KNOBS)


def check_values(values: Sequence[float], what: str = "sweep") -> tuple[float, ...]:
    """The values as floats, checked: at least one, all finite, none repeated.

    Results are keyed (or grouped) by value, so a repeated value would silently merge two
    settings.

    Raises:
      UserError: naming `what` and the fault.
    """
    try:
        checked = tuple(float(v) for v in values)
    except (TypeError, ValueError) as e:
        raise errors.UserError(f"{what} values must be numbers, got {values!r}") from e
    if not checked:
        raise errors.UserError(f"{what} is empty: give at least one value")
    if not all(math.isfinite(v) for v in checked):
        raise errors.UserError(f"{what} has a non-finite value: {checked}")
    if len(set(checked)) != len(checked):
        raise errors.UserError(f"{what} repeats a value: {checked}")
    return checked


@dataclasses.dataclass(frozen=True)
class Sweep:
    """The settings a policy is evaluated at.

    Attributes:
        name: the knob's name (a key of `KNOBS`); "none" for a policy with nothing to sweep,
            whose one value is a placeholder.
        values: the settings, in the order they are reported; distinct and finite.
    """

    name: str
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.name not in KNOBS:
            raise errors.UserError(
                f"unknown sweep name {self.name!r}, expected one of {SWEEP_NAMES}"
            )
        values = check_values(self.values, f"sweep {self.name!r}")
        if self.knob.tag is None and len(values) != 1:
            raise errors.UserError(
                f"sweep {self.name!r} takes exactly one value (0.0), got {values}"
            )
        object.__setattr__(self, "values", values)

    @property
    def knob(self) -> Knob:
        return KNOBS[self.name]

    def with_values(self, values: Sequence[float] | None, agent: str) -> Sweep:
        """This sweep over other values (None: unchanged).

        Raises:
          UserError: the policy has no knob to sweep, or the values are bad.
        """
        if values is None:
            return self
        if self.knob.tag is None:
            raise errors.UserError(
                f"agent {agent!r} has no sampling knob to sweep (its sweep is {self.name!r}); "
                "drop the sweep_values binding"
            )
        return Sweep(self.name, tuple(values))
