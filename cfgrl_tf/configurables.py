"""Gin parsing with every configurable of cfgrl_tf registered, so any shipped gin file parses.

This module imports every module that registers gin configurables (agents, training, the
evaluation suites, the dataset builds), then parses. Binaries call it through
`cli.common.parse_gin`; library users who parse gin themselves can call `parse_gin` here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import gin

from cfgrl_tf import agents, errors, eval, gin_config, training  # noqa: F401 - registrations
from cfgrl_tf.data import (  # noqa: F401 - registrations
    build,
    d4rl,
    exorl,
    exorl_generate,
    minari_reader,
    ogbench_generate,
    ogbench_singletask,
)


def parse_gin(
    gin_files: Sequence[str],
    gin_bindings: Sequence[str],
    search_paths: Sequence[str] = (),
    tree: str = "gin",
) -> None:
    """Parses gin files and bindings, raising `ConfigError` with gin's own explanation.

    Args:
      gin_files: file names, absolute or relative to the working folder or a search path.
      gin_bindings: binding strings applied after the files.
      search_paths: extra folders, looked up before the default ones.
      tree: which shipped tree to search, "gin" or "pipelines" (see `default_search_paths`).

    Raises:
      ConfigError: a file cannot be found or parsed, or a binding names an unknown configurable
        or a parameter its configurable does not take.
    """
    # gin keeps one global search path; reset it so the other tree's files cannot shadow this one.
    gin.config._LOCATION_PREFIXES[:] = [""]  # gin has no public way to remove a search path.
    for path in [*search_paths, *gin_config.default_search_paths(tree)]:
        gin.add_config_file_search_path(path)
    # gin probes each file as a plain path before the search path and logs an ERROR line for every
    # miss, even when the search path then finds it: keep that noise out of the user's terminal.
    gin_logger = logging.getLogger()
    level = gin_logger.level
    gin_logger.setLevel(logging.CRITICAL)
    try:
        gin.parse_config_files_and_bindings(
            list(gin_files), list(gin_bindings), finalize_config=False
        )
    except OSError as e:
        raise errors.ConfigError(f"gin file not found: {e}") from None
    except (ValueError, SyntaxError, TypeError) as e:
        raise errors.ConfigError(f"bad gin configuration: {e}") from None
    except Exception as e:  # gin surfaces tokenizer errors as their own types.
        raise errors.ConfigError(f"bad gin configuration ({type(e).__name__}): {e}") from None
    finally:
        gin_logger.setLevel(level)
    gin_config.check_bound_parameters()
