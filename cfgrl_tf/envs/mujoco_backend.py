"""MuJoCo's rendering backend (MUJOCO_GL), as it bears on importing MuJoCo at all."""

from __future__ import annotations

import os

from cfgrl_tf import errors


def import_failed(e: Exception) -> errors.UserError:
    """The error for an `import mujoco` (or of a package importing it) that failed other than by
    ImportError: MUJOCO_GL=osmesa without libOSMesa fails there, not at render time."""
    return errors.UserError(
        f"importing MuJoCo failed with MUJOCO_GL={os.environ.get('MUJOCO_GL', '')!r} "
        f"({type(e).__name__}: {e}); unset MUJOCO_GL or pick a backend that is installed"
    )
