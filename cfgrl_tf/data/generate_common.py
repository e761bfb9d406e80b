"""What the dataset generators share (`ogbench_generate`, `exorl_generate`): argument checks and
the durations of their progress lines."""

from __future__ import annotations

import numpy as np

from cfgrl_tf import errors


def check_count(name: str, value: object, minimum: int) -> None:
    """Raises a UserError naming `name` unless `value` is an integer >= `minimum` (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise errors.UserError(f"{name} must be an integer >= {minimum}, got {value!r}")


def duration(seconds: float) -> str:
    """'42s', '3m 07s' or '1h 05m'."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds // 60 % 60:02d}m"
