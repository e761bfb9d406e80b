"""The evaluation-suite seam: a suite per problem family, chosen from the dataset's source.

A suite evaluates a `Policy` over its knob on the problems a dataset comes from (the bandit's
reward, an OGBench environment's tasks...) and writes the run's `eval/` folder. Each suite module
registers itself here with the dataset sources it serves; `evaluate` looks the suite up from the
dataset's `dataset_info.json`, so training, `cfgrl-eval` and the quickstart never ask what kind of
dataset or agent they hold.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable

from cfgrl_tf.data.reader import Dataset, load_dataset
from cfgrl_tf.data.spec import DatasetInfo
from cfgrl_tf.errors import UserError
from cfgrl_tf.policy import Policy


@dataclasses.dataclass
class EvalData:
    """The training dataset as a suite sees it: its info always, its records on demand.

    Attributes:
      path: the dataset directory.
      info: its `dataset_info.json`.
      dataset: the loaded records, if the caller already has them.
    """

    path: str
    info: DatasetInfo
    dataset: Dataset | None = None

    @classmethod
    def of(cls, dataset: Dataset) -> EvalData:
        return cls(dataset.path, dataset.info, dataset)

    @classmethod
    def at(cls, path: str) -> EvalData:
        return cls(path, DatasetInfo.read(path))

    def records(self) -> Dataset:
        """The dataset's records (read once)."""
        if self.dataset is None:
            self.dataset = load_dataset(self.path)
        return self.dataset

    @property
    def source(self) -> str:
        return self.info.source.get("name", "")


class Suite(abc.ABC):
    """Evaluates a policy on one family of problems; a gin-configurable class per suite.

    Attributes:
      inputs: the policy inputs the suite's problems give (observations, goals...).
      records_videos: the suite renders episodes into its `video_dir` when that is set.
      score_metric: the column of its rows that scores a policy, higher is better (what a
        learning curve's model selection ranks by).
      knob_column: the column of its rows that holds the knob value.
    """

    inputs: tuple[str, ...] = ("observations",)
    records_videos: bool = False
    score_metric: str | None = None
    knob_column: str | None = None

    def check_policy(self, policy: Policy, data: EvalData) -> None:
        missing = sorted(set(policy.inputs) - set(self.inputs))
        if missing:
            raise UserError(
                f"{type(self).__name__} gives a policy {list(self.inputs)} but policy "
                f"{policy.name!r} also takes {missing}; it cannot be evaluated on {data.source}"
            )

    def score_rows(self, rows: list[dict]) -> list[dict]:
        """The rows of an evaluation that score the policy, one per knob value (a suite whose rows
        also break the score down, e.g. per task, keeps only the summary rows)."""
        return rows

    @abc.abstractmethod
    def evaluate(
        self,
        policy: Policy,
        data: EvalData,
        root_dir: str,
        step: int,
        *,
        out_dir: str | None = None,
    ) -> list[dict]:
        """Evaluates `policy` over its sweep, prints the results and writes `<root_dir>/eval/`.

        Args:
          policy: the policy to evaluate.
          data: its training dataset.
          root_dir: the run directory.
          step: the train step the policy is at (the TensorBoard step).
          out_dir: where the files (sweep.csv, plots...) go instead of `<root_dir>/eval/`.
            TensorBoard scalars always go to `<root_dir>/eval/`, so that every evaluation of a
            run is one curve.

        Returns:
          The rows written to `sweep.csv`.
        """


_REGISTRY: list[tuple[str, Callable[[DatasetInfo], bool], type[Suite]]] = []


def register(source_prefix: str, suite: type[Suite], when=None) -> None:
    """Makes `suite` evaluate datasets whose source name starts with `source_prefix` (and for
    which `when(info)` holds, if given). Earlier registrations win."""
    _REGISTRY.append((source_prefix, when or (lambda info: True), suite))


def registered() -> list[type[Suite]]:
    """The registered suite classes, in registration order."""
    return [suite for _, _, suite in _REGISTRY]


def suite_for(info: DatasetInfo) -> Suite:
    """A suite (constructed with its gin bindings) for the dataset described by `info`.

    Raises:
      UserError: no suite evaluates this dataset's source.
    """
    source = info.source.get("name", "")
    for prefix, when, suite in _REGISTRY:
        if source.startswith(prefix) and when(info):
            return suite()
    known = ", ".join(f"'{prefix}...' ({suite.__name__})" for prefix, _, suite in _REGISTRY)
    raise UserError(
        f"evaluation of dataset source {source!r} is not supported yet: suites exist for {known}"
    )


def evaluate(
    policy: Policy, data: EvalData, root_dir: str, step: int, *, out_dir: str | None = None
) -> list[dict]:
    """Evaluates `policy` with the suite of its training dataset (see `Suite.evaluate`)."""
    suite = suite_for(data.info)
    suite.check_policy(policy, data)
    return suite.evaluate(policy, data, root_dir, step, out_dir=out_dir)
