"""The project's error contract: what a user can cause and fix.

Every such error is a `FashionGanError` whose message is one line naming the culprit (the params
key, the file, the value and what was expected); the CLI prints that line and exits with the
error's `exit_code`. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class FashionGanError(Exception):
    exit_code = 1


class ConfigError(FashionGanError):
    """A params file, params value or command-line argument that cannot be used."""

    exit_code = 2


class DataError(FashionGanError):
    """A data file that is missing, truncated or altered."""


class MissingInput(FashionGanError):
    """A file a command needs has not been made yet (or is stale); the message says how to make it."""


class ModelFileError(FashionGanError):
    """A model file that is missing, damaged or unsafe to load."""


class TrackingError(FashionGanError):
    """The MLflow store cannot be reached or refuses a write."""


class TrainingStateError(FashionGanError):
    """train's resumable state (models/checkpoints) cannot be used as it is."""


class Diverged(FashionGanError):
    """Training produced a non-finite loss; the message names the step and the losses."""
