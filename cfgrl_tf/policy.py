"""The policy seam: what evaluators, the exporter and the CLI see of a trained agent.

A `Policy` names its inputs (observations, plus goals where it has them) with their sizes, its
sampling knob (a `Sweep` of guidance weights, temperatures, or none) and the networks sampling
reads. Evaluation suites feed it the inputs their environments give, the exporter turns the
input spec into one flat SavedModel signature, and nothing outside an agent's own family asks
what kind of agent it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import tensorflow as tf

from cfgrl_tf.errors import UserError
from cfgrl_tf.sweep import Sweep

# sample_fn(inputs {name: [B, dim]}, knob_values [B], seed []) -> actions [B, action_dim]
SampleFn = Callable[[dict, tf.Tensor, tf.Tensor], tf.Tensor]


class Policy:
    """A trained sampler with a declared input spec and knob.

    Args:
      name: the agent's name (tables, plots, export metadata).
      inputs: {input name: width}, observations first.
      action_dim: size of an action.
      sweep: the knob and its default evaluation settings.
      sample_fn: the agent's sampler.
      networks: {name: network} that sampling reads (what an export saves).
      fixed_knob: a knob value every row samples at, whatever it is given (an export of a
        policy whose knob cannot be a serving input, e.g. the AWR head's temperature).
    """

    def __init__(
        self,
        *,
        name: str,
        inputs: Mapping[str, int],
        action_dim: int,
        sweep: Sweep,
        sample_fn: SampleFn,
        networks: Mapping,
        fixed_knob: float | None = None,
    ):
        self.name = name
        self.inputs = {k: int(v) for k, v in inputs.items()}
        self.action_dim = int(action_dim)
        self.sweep = sweep
        self.networks = dict(networks)
        self.fixed_knob = fixed_knob
        self._sample_fn = sample_fn
        self._numpy_sampler = None

    @property
    def knob(self):
        return self.sweep.knob

    def input_specs(self) -> dict[str, tf.TensorSpec]:
        """A [None, width] float32 spec per input, named after it."""
        return {k: tf.TensorSpec([None, d], tf.float32, name=k) for k, d in self.inputs.items()}

    def sample(self, inputs: Mapping[str, tf.Tensor], knob_values, seed) -> tf.Tensor:
        """[B, action_dim] actions for [B] rows of `inputs`; `knob_values` [B] per row."""
        missing = sorted(set(self.inputs) - set(inputs))
        if missing:
            raise UserError(
                f"policy {self.name!r} takes inputs {list(self.inputs)}; missing {missing}"
            )
        inputs = {k: tf.convert_to_tensor(inputs[k], tf.float32) for k in self.inputs}
        batch = tf.shape(inputs[next(iter(self.inputs))])[:1]
        if self.fixed_knob is not None:
            knob_values = tf.fill(batch, tf.constant(self.fixed_knob, tf.float32))
        knob_values = tf.broadcast_to(tf.cast(knob_values, tf.float32), batch)
        return self._sample_fn(inputs, knob_values, seed)

    def numpy_sampler(self) -> Callable[[Mapping[str, np.ndarray], np.ndarray, int], np.ndarray]:
        """The compiled sampler as a numpy function.

        One concrete function with a None batch dimension, so the shrinking batches of a lockstep
        rollout do not retrace it (an XLA integration inside still compiles once per batch size).
        It takes flat positional tensors, as the exported signature does: calling a polymorphic
        tf.function with a dict re-matches its signature on every call, about half of a call at
        batch 1 (benchmarks/sample_overhead.py times both).
        """
        if self._numpy_sampler is None:
            names = list(self.inputs)
            sampler = tf.function(
                lambda *args: self.sample(dict(zip(names, args[:-2], strict=True)), *args[-2:]),
                input_signature=[
                    *self.input_specs().values(),
                    tf.TensorSpec([None], tf.float32),
                    tf.TensorSpec([], tf.int64),
                ],
            )
            concrete = []  # traced at the first call, as a tf.function would be

            def run(inputs, knob_values, seed):
                if not concrete:
                    concrete.append(sampler.get_concrete_function())
                feed = [tf.constant(inputs[k], tf.float32) for k in names]
                values = tf.constant(knob_values, tf.float32)
                return concrete[0](*feed, values, tf.constant(seed, tf.int64)).numpy()

            self._numpy_sampler = run
        return self._numpy_sampler

    def with_fixed_knob(self, value: float) -> Policy:
        """This policy with every row sampled at knob `value` (one of its sweep's settings)."""
        if value not in self.sweep.values:
            raise UserError(
                f"{self.sweep.name}={value:g} is not a setting of policy {self.name!r}; it has "
                f"{self.sweep.values}"
            )
        return Policy(
            name=self.name,
            inputs=self.inputs,
            action_dim=self.action_dim,
            sweep=self.sweep,
            sample_fn=self._sample_fn,
            networks=self.networks,
            fixed_knob=value,
        )

    def variables(self) -> list:
        """The variables sampling reads, in a fixed order."""
        return [w.value for _, net in sorted(self.networks.items()) for w in net.weights]
