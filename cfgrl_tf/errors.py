"""The exception a user mistake raises.

Binaries catch `UserError` and print its message in one line, without a traceback: the message
itself must name the file, key, shape, flag or value at fault and say what was expected.
"""


class UserError(Exception):
    """Bad input from the user: a flag, a gin binding, a file or a value."""


class ConfigError(UserError):
    """A gin file or binding that cannot be parsed or bound."""


class DatasetError(UserError):
    """A dataset that is missing, corrupt or inconsistent with its `dataset_info.json`."""


class TrainingError(UserError):
    """Training cannot go on (a non-finite loss, a batch that does not split over replicas)."""


class ExportError(UserError):
    """An export that cannot be made (no checkpoint, an existing export, an unsupported agent)."""
