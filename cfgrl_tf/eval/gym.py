"""The Gymnasium suite: the episode return (and normalised score) of D4RL and Minari datasets.

Evaluates the datasets read from Minari folders (`cfgrl_tf.data.minari_reader`, sources
"minari/<dataset_id>") and D4RL files (`cfgrl_tf.data.d4rl`, sources "d4rl/<name>") on a
Gymnasium environment, every (episode, knob value) rollout side by side with one compiled policy
call per step (`envs/gym_eval.py`), the same start at every knob value. The environment is

  GymSuite.env_name   when bound, for any dataset;
  Minari              the dataset's evaluation env (`eval_env_spec`, else the collection env);
  D4RL                the Gymnasium MuJoCo env of the D4RL task its `env_name` names, at its
                      newest version on the `mujoco` package: hopper-medium-v2 -> Hopper-v5,
                      halfcheetah -> HalfCheetah-v5, walker2d -> Walker2d-v5, ant -> Ant-v5.

The score is the return; with reference scores (GymSuite.ref_min_score and ref_max_score, a
Minari dataset's own, or D4RL's for its MuJoCo locomotion tasks) also D4RL's normalised score,
100 * (R - ref_min) / (ref_max - ref_min). D4RL's v2 envs run on mujoco-py and MuJoCo 2.0, v5 on
MuJoCo 3 with a few model fixes (e.g. Walker2d-v5's feet have equal friction): scores are close
to, not exactly, those of papers evaluated on v2. Prints the table (return, its standard error,
min, max, the score where known, per w or temperature) and writes `eval/sweep.csv`,
`eval/episodes.csv`, TensorBoard scalars and `eval/return.png`.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import gin

from cfgrl_tf.envs import gym_eval
from cfgrl_tf.errors import UserError
from cfgrl_tf.eval import returns, suites
from cfgrl_tf.policy import Policy

# D4RL's MuJoCo locomotion tasks: the Gymnasium env each is evaluated on, and its reference
# scores from D4RL's d4rl/infos.py, REF_MIN_SCORE (a random policy's return) and REF_MAX_SCORE
# (an expert's), the same for every dataset of a task (random, medium, medium-replay,
# medium-expert, expert).
D4RL_TASKS: dict[str, tuple[str, float, float]] = {
    "hopper": ("Hopper", -20.272305, 3234.3),
    "halfcheetah": ("HalfCheetah", -280.178953, 12135.0),
    "walker2d": ("Walker2d", 1.629008, 4592.3),
    "ant": ("Ant", -325.6, 3879.7),
}
# D4RL's ant observes 111 features, 27 of its pose and velocity and 84 contact forces (6 for each
# of 14 bodies) which mujoco-py on MuJoCo 2 left at zero in every D4RL ant file (D4RL issue
# #143). Ant-v5 observes 105 (real forces, without the world body's), or 27 with
# include_cfrc_ext_in_observation=False; Ant-v4 111 with use_contact_forces=True, but real ones
# (and a contact cost in its reward). No Gymnasium env observes D4RL's, so ant is refused by size.
_D4RL_ANT_NOTE = (
    "D4RL's ant observes 27 features then 84 contact forces that are zero throughout its files "
    "(D4RL issue #143), which no Gymnasium Ant observes"
)
_SET_ENV = "set GymSuite.env_name (e.g. 'Hopper-v5') to the Gymnasium environment to evaluate on"


@gin.configurable
class GymSuite(suites.Suite):
    """The return of a policy on its dataset's Gymnasium environment, over its knob.

    Args:
      episodes: episodes, each run at every knob value from the same start.
      sweep_values: knob values instead of the policy's default sweep.
      seed: sets the episodes' starts (the same for every knob value) and the policy noise.
      env_workers: processes stepping the environments (default: one per core for a large
        evaluation, else 1; results do not depend on it).
      max_episode_steps: ends episodes sooner than the env's time limit (for quick checks:
        returns are then not comparable with published ones). Default: the env's time limit, or
        a Minari dataset's collection limit when it is evaluated on its collection env.
      env_name: the Gymnasium env id to evaluate on, instead of the dataset's.
      env_kwargs: more `gymnasium.make` arguments, e.g. {'use_contact_forces': True}.
      ref_min_score: the return scoring 0 (with ref_max_score), instead of the dataset's.
      ref_max_score: the return scoring 100.
      plot: write `eval/return.png`.
    """

    inputs = ("observations",)
    # The return, which every environment has; the normalised score is an affine map of it, so
    # it ranks the evaluations the same.
    score_metric = "return"
    knob_column = "sweep_value"

    def __init__(
        self,
        episodes: int = 10,
        sweep_values: Sequence[float] | None = None,
        seed: int = 0,
        max_episode_steps: int | None = None,
        env_workers: int | None = None,
        env_name: str | None = None,
        env_kwargs: Mapping[str, Any] | None = None,
        ref_min_score: float | None = None,
        ref_max_score: float | None = None,
        plot: bool = True,
    ):
        self.episodes = episodes
        self.sweep_values = sweep_values
        self.seed = seed
        self.max_episode_steps = max_episode_steps
        self.env_workers = env_workers
        self.env_name = env_name
        self.env_kwargs = dict(env_kwargs or {})
        self.ref_min_score = ref_min_score
        self.ref_max_score = ref_max_score
        self.plot = plot

    def check_policy(self, policy: Policy, data: suites.EvalData) -> None:
        """Also resolves the env and the reference scores, and makes one env: a dataset that
        cannot be evaluated is refused before a training run that checks, not after it."""
        super().check_policy(policy, data)
        env_id, origin, _ = self.resolve(data.info.source)
        adapter = gym_eval.GymAdapter(
            env_id, obs_dim=policy.inputs["observations"], env_kwargs=self.env_kwargs
        )
        with _explained(data.info.source, origin):
            adapter.close_env(adapter.make_env())

    def evaluate(self, policy: Policy, data, root_dir, step, *, out_dir=None):
        sweep = policy.sweep.with_values(self.sweep_values, policy.name)
        source = data.info.source
        env_id, origin, refs = self.resolve(source)
        started = time.perf_counter()
        with _explained(source, origin):
            results = gym_eval.evaluate_lockstep(
                env_id,
                policy.numpy_sampler(),
                sweep_values=sweep.values,
                episodes=self.episodes,
                seed=self.seed,
                max_episode_steps=self.time_limit(source, env_id),
                env_workers=self.env_workers,
                obs_dim=policy.inputs["observations"],
                action_scale=data.info.action_scale,
                env_kwargs=self.env_kwargs,
            )
        elapsed = time.perf_counter() - started
        if refs is None:
            note = (
                f"(no normalised score: no reference scores are known for {data.source}; set "
                "GymSuite.ref_min_score and GymSuite.ref_max_score)"
            )
        else:
            note = (
                f"(score = 100 * (return - ref_min) / (ref_max - ref_min), ref_min {refs[0]:g}, "
                f"ref_max {refs[1]:g})"
            )
        return returns.report(
            results,
            env_id,
            refs,
            policy_name=policy.name,
            knob=sweep.knob,
            root_dir=root_dir,
            out_dir=out_dir,
            step=step,
            episodes=self.episodes,
            elapsed=elapsed,
            plot=self.plot,
            note=note,
        )

    def resolve(self, source: Mapping[str, Any]) -> tuple[str, str, returns.RefScores | None]:
        """(env id, where it comes from, reference scores) for a dataset's source; the env id is
        checked against Gymnasium's registry.

        Raises:
          UserError: see `env_for` and `reference_scores`; an id Gymnasium does not register.
        """
        env_id, origin = self.env_for(source)
        try:
            gym_eval.check_env_id(env_id)
        except UserError as e:
            raise UserError(f"{e}; it is the environment {origin}; {_SET_ENV}") from None
        return env_id, origin, self.reference_scores(source, env_id)

    def env_for(self, source: Mapping[str, Any]) -> tuple[str, str]:
        """(the env id to evaluate a dataset on, where it comes from, for messages).

        Raises:
          UserError: a dataset whose source names no environment, or a D4RL environment that is
            not one of `D4RL_TASKS` nor a Gymnasium id, and no GymSuite.env_name.
        """
        if self.env_name is not None:
            return self.env_name, "GymSuite.env_name binds"
        name = source.get("name", "")
        if name.startswith("minari/"):
            env_id = source.get("eval_env_name") or source.get("env_name")
            if not env_id:
                raise UserError(
                    f"dataset source {name} names no environment (its Minari metadata has no "
                    f"env_spec): {_SET_ENV}"
                )
            return env_id, f"of Minari dataset {source.get('dataset_id', name)}"
        env_name = source.get("env_name")
        if not env_name:
            raise UserError(
                f"D4RL dataset source {name} names no environment (its file does not, and it "
                "was converted without d4rl_source.env_name): convert it again with e.g. "
                f"d4rl_source.env_name='hopper-medium-v2', or {_SET_ENV}"
            )
        family = d4rl_family(env_name)
        if family in D4RL_TASKS:
            base = D4RL_TASKS[family][0]
            env_id = gym_eval.newest_env_id(base)
            if env_id is None:
                raise UserError(
                    f"Gymnasium registers no {base}-v{gym_eval.FIRST_MUJOCO_VERSION} or later "
                    f"for D4RL environment {env_name!r}: {_SET_ENV}"
                )
            return env_id, f"for D4RL environment {env_name!r}"
        if env_name in gym_eval.import_gymnasium().registry:
            return env_name, f"named by D4RL dataset source {name}"
        raise UserError(
            f"D4RL environment {env_name!r} has no Gymnasium counterpart here (D4RL tasks "
            f"mapped: {', '.join(sorted(D4RL_TASKS))}): {_SET_ENV}"
        )

    def reference_scores(
        self, source: Mapping[str, Any], env_id: str | None = None
    ) -> returns.RefScores | None:
        """(ref_min_score, ref_max_score) of the normalised score: GymSuite's, else the Minari
        dataset's, else D4RL's for the task its `env_name` (or, without one, the evaluated
        `env_id`: D4RL's scores are per environment) names; None when unknown.

        Raises:
          UserError: only one of GymSuite.ref_min_score and ref_max_score bound, or max <= min.
        """
        bound = (self.ref_min_score, self.ref_max_score)
        if bound != (None, None):
            if None in bound:
                raise UserError(
                    "GymSuite.ref_min_score and GymSuite.ref_max_score go together: got "
                    f"{bound[0]!r} and {bound[1]!r}"
                )
            return check_reference_scores(*bound, "GymSuite.ref_min_score/ref_max_score")
        name = source.get("name", "")
        if name.startswith("minari/"):
            found = (source.get("ref_min_score"), source.get("ref_max_score"))
            if None in found:
                return None
            return check_reference_scores(*found, f"the Minari metadata of {name}")
        family = d4rl_family(source.get("env_name") or env_id or "")
        if name.startswith("d4rl/") and family in D4RL_TASKS:
            return D4RL_TASKS[family][1:]
        return None

    def time_limit(self, source: Mapping[str, Any], env_id: str) -> int | None:
        """GymSuite.max_episode_steps, else a Minari dataset's collection time limit when it is
        evaluated on its collection env (None: the env's own)."""
        if self.max_episode_steps is not None:
            return self.max_episode_steps
        limit = source.get("max_episode_steps")
        minari = source.get("name", "").startswith("minari/")
        if minari and limit and env_id == source.get("env_name"):
            return int(limit)
        return None


@contextlib.contextmanager
def _explained(source: Mapping[str, Any], origin: str) -> Iterator[None]:
    """Adds to an env of the wrong observation size where it comes from and how to pick another."""
    try:
        yield
    except gym_eval.ObservationSizeError as e:
        d4rl_ant = source.get("name", "").startswith("d4rl/") and (
            d4rl_family(source.get("env_name") or "") == "ant"
        )
        note = f"; {_D4RL_ANT_NOTE}" if d4rl_ant else ""
        raise gym_eval.ObservationSizeError(
            f"{e} ({origin}){note}; set GymSuite.env_name (and GymSuite.env_kwargs) to an "
            "environment that observes what the dataset does"
        ) from None


def d4rl_family(env_name: str) -> str:
    """The task of a D4RL environment name or file stem: 'hopper-medium-v2', 'hopper_medium-v2'
    and 'Hopper-v2' are 'hopper' ('antmaze-umaze-v2' is 'antmaze', not 'ant')."""
    return re.split(r"[-_]", env_name, maxsplit=1)[0].lower()


def check_reference_scores(ref_min: Any, ref_max: Any, where: str) -> returns.RefScores:
    """The reference scores as floats.

    Raises:
      UserError: non-numbers, non-finite, or ref_max <= ref_min; naming `where` they are from.
    """
    try:
        pair = (float(ref_min), float(ref_max))
    except (TypeError, ValueError):
        raise UserError(
            f"reference scores of {where} must be numbers, got {ref_min!r} and {ref_max!r}"
        ) from None
    if not all(math.isfinite(v) for v in pair) or pair[1] <= pair[0]:
        raise UserError(
            f"reference scores of {where} must be finite with ref_max_score > ref_min_score, "
            f"got {pair[0]!r} and {pair[1]!r}"
        )
    return pair


suites.register("minari/", GymSuite)
suites.register("d4rl/", GymSuite)
