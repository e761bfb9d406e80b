"""Gin parsing for binaries and library users alike: search paths, checked bindings, run configs.

Lives in the library (not in `cli/`) so that restoring a run from its `config.gin` needs no
command-line module.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Sequence

import gin

from cfgrl_tf import errors

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_search_paths(tree: str = "gin") -> list[str]:
    """The folders gin files are looked up in: the source tree's, then the installed copy.

    Args:
      tree: "gin" for experiments (cfgrl-train and friends) or "pipelines" for dataset builds
        (cfgrl-convert). Each binary searches only its own tree, so `bandit/rings.gin` cannot
        silently resolve to the experiment file when a dataset build was meant, or back.
    """
    candidates = [
        os.path.join(_REPO_ROOT, tree),
        os.path.join(sys.prefix, "share", "cfgrl_tf", tree),
    ]
    return [p for p in candidates if os.path.isdir(p)]


def accepted_parameters(fn) -> set[str] | None:
    """The keyword parameters `fn` (a function or a class) accepts, or None if it takes any.

    A class's `__init__` that forwards `**kwargs` to its base accepts the base's parameters too,
    so the walk follows the MRO until an `__init__` without `**kwargs`.
    """
    if not inspect.isclass(fn):
        return _named_parameters(fn)
    accepted: set[str] = set()
    for klass in fn.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        names = _named_parameters(init)
        if names is not None:
            return accepted | names
        accepted |= _named_parameters(init, ignore_var_keyword=True)
    return None


def _named_parameters(fn, ignore_var_keyword: bool = False) -> set[str] | None:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    kinds = {p.kind for p in parameters}
    if inspect.Parameter.VAR_KEYWORD in kinds and not ignore_var_keyword:
        return None
    keep = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in parameters if p.kind in keep and p.name != "self"}


def check_bound_parameters() -> None:
    """Refuses a binding of a parameter its configurable does not take.

    gin checks names only against the signature it sees, and an agent whose `__init__` forwards
    `**kwargs` to its base would otherwise fail much later, with a TypeError traceback at
    construction. The message names the binding and lists the parameters that exist.

    Raises:
      ConfigError: naming the first such binding.
    """
    for (_, selector), parameters in sorted(gin.config._CONFIG.items()):
        configurable = gin.config._REGISTRY.get_match(selector)
        if configurable is None:
            continue
        accepted = accepted_parameters(configurable.wrapped)
        if accepted is None:
            continue
        accepted -= set(configurable.denylist or ())
        for name in sorted(parameters):
            if name not in accepted:
                raise errors.ConfigError(
                    f"gin binding {configurable.name}.{name}: {configurable.name} has no "
                    f"parameter {name!r}; its parameters are: {', '.join(sorted(accepted))}"
                )


def config_text(gin_files: Sequence[str], gin_bindings: Sequence[str]) -> str:
    """The parsed configuration as one self-contained gin text.

    Every binding the files and flags made, with includes resolved (`gin.config_str`), so that
    `cfgrl-eval` and `cfgrl-export` can rebuild the run from its root dir alone.
    """
    header = [
        "# Written by cfgrl_tf: every binding of this run, includes resolved.",
        f"# gin files: {', '.join(gin_files) or '(none)'}",
        *(f"# gin binding: {b}" for b in gin_bindings),
    ]
    return "\n".join(header) + "\n\n" + gin.config_str()


def absolute_dataset_dir() -> None:
    """Binds `train.dataset_dir` to its absolute path (so a run restores from any folder)."""
    try:
        value = gin.query_parameter("train.dataset_dir")
    except ValueError:  # not bound: gin's missing-binding error comes later, where it is used
        return
    if isinstance(value, str) and value:
        absolute = os.path.abspath(os.path.expanduser(value))
        if absolute != value:
            gin.bind_parameter("train.dataset_dir", absolute)
