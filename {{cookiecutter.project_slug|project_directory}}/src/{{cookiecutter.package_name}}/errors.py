"""Errors that carry a message meant for the person running the project.

The CLI prints these as one line and exits with a non-zero status; anything
else is a bug and keeps its traceback.
"""

import re

# ``scheme://user:password@host``: the part to hide before a URI is shown.
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


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


class RunInterruptedError(KeyboardInterrupt):
    """Ctrl-C after a run was saved locally; the message says how to log it.

    A ``KeyboardInterrupt``, so that code catching interrupts still does.
    """


def first_line(error: BaseException) -> str:
    """Return the first line of ``error``'s message, for a one-line report.

    Third-party exceptions often carry pages of detail; the first line names
    the problem.
    """
    text = str(getattr(error, "message", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def hide_credentials(text: str) -> str:
    """Return ``text`` with the user and password of any URI in it replaced by ``***``.

    Examples
    --------
    >>> hide_credentials("http://alice:s3cret@mlflow.example.com:5000")
    'http://***@mlflow.example.com:5000'
    """
    return _USERINFO.sub("***@", text)
