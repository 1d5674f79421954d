"""Errors a user can cause and fix: the CLI prints each as one line and exits with status 2.

Anything raised as one of these is a message for a person (a typo in a config, a missing file), never a bug
report, so the CLI shows `milestones: error: <message>` with no traceback. Bugs stay ordinary exceptions.
"""


class MilestonesError(Exception):
    """Base class: a problem with the user's input, reported in one line."""


class ConfigError(MilestonesError):
    """A config file or a --set override is malformed, names an unknown key or has a wrong type or value."""


class DataError(MilestonesError):
    """A data set is missing, truncated or malformed."""


class CheckpointError(MilestonesError):
    """A checkpoint is missing, corrupt, unsafe or belongs to another model."""


class BusyError(MilestonesError):
    """Another process is writing the run folder this one would write."""


class DivergenceError(MilestonesError):
    """The loss became NaN or infinite."""


class InputError(MilestonesError):
    """A sentence given to `milestones translate` cannot be translated (empty, all unknown, far too long)."""


class WeightsError(MilestonesError):
    """A zoo entry is unknown or not shipped, or its weights file does not match the registry."""


def mismatch_detail(e: RuntimeError) -> str:
    """The line of `load_state_dict`'s error that names the first missing, unexpected or misshapen tensor."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 else lines[0]
