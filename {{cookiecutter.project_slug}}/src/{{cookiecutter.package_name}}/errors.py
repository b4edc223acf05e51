"""Errors that carry a message meant for the person running the project.

The CLI prints these as one line and exits with a non-zero status; anything
else is a bug and keeps its traceback.
"""


class ProjectError(Exception):
    """Base class of every error caused by input rather than by a bug."""


class ConfigError(ProjectError):
    """The configuration file or an override is missing or invalid."""


class DataError(ProjectError):
    """A data file is missing, empty, or does not have the expected columns."""


class ModelError(ProjectError):
    """A model cannot be found, loaded or applied to the data."""


class TrackingError(ProjectError):
    """The MLflow tracking server or registry refused or failed a request."""
