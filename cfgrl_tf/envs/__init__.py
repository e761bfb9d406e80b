"""Evaluation in simulated environments, every rollout of a sweep in lockstep.

Modules, one concept each:

* `ogbench_goal`: OGBench's goal-conditioned evaluation (`evaluate_lockstep`,
  `evaluate_one_at_a_time`, `env_dims`) and its adapter for the loops.
* `ogbench_task`: OGBench's single-task evaluation (`evaluate_lockstep`, `env_dims`) and its
  adapter.
* `ogbench_run`: what every OGBench family's evaluation shares: checked settings, the run,
  videos, and the family registry the video replay rebuilds adapters from.
* `dmc_eval`: DeepMind Control evaluation (`evaluate_lockstep`): a `dmc_tasks` task's return,
  and its adapter.
* `gym_eval`: Gymnasium evaluation (`evaluate_lockstep`): a MuJoCo env's return, and its adapter.
* `lockstep`: the environment-agnostic loops (`run_lockstep`, `run_one_at_a_time`).
* `rollout`: one rollout, the `EnvAdapter` a suite writes, and `make_rollouts`.
* `episodes`: `EpisodeResult` and reporting (`summarize`, `episode_rows`, `format_table`).
* `ogbench_env`: OGBench environments (registry, construction, seeded resets).
* `videos`: videos of episodes, replayed and rendered by `video_replay` in a subprocess.

Importing this package (or any of these modules) does not import ogbench or MuJoCo; an evaluation
does, when it starts.
"""
