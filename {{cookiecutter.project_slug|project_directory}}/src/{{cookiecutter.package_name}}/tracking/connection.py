"""The connection to MLflow: which store runs go to, and failing fast when it is down.

Runs go to ``tracking.uri`` from the configuration if set, else to
``MLFLOW_TRACKING_URI``, else to a local SQLite database (``mlflow.db``).
Credentials for a server come only from the environment
(``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` or
``MLFLOW_TRACKING_TOKEN``, read by MLflow itself) and are never shown.
Requests to a server fail fast: a few seconds per answer and one retry by
default, instead of MLflow's minutes of retries.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import requests
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ..config import TrackingConfig
from ..errors import ConfigError, TrackingError, first_line, hide_credentials

logger = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
TIMEOUT_ENVVAR = "MLFLOW_HTTP_REQUEST_TIMEOUT"
RETRIES_ENVVAR = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
# One slow answer or one retry stays well under ten seconds; MLflow's own
# defaults (120 s, 7 retries with backoff) take minutes to give up.
DEFAULT_REQUEST_TIMEOUT = 3
DEFAULT_REQUEST_RETRIES = 1


def tracking_uri(config: TrackingConfig) -> str:
    """Return the tracking URI in force for ``config``."""
    return config.uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def is_remote(uri: str) -> bool:
    """Return whether ``uri`` names a tracking server rather than a local store."""
    return uri.startswith(("http://", "https://"))


def setting_from_environment(name: str, default: int) -> int:
    """Return the whole number in environment variable ``name``, or ``default``.

    Raises
    ------
    ConfigError
        If the variable is set to something other than a whole number >= 0.
    """
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise ConfigError(f"{name} must be a whole number of 0 or more, not {value!r}")
    return int(value)


def request_limits(config: TrackingConfig) -> tuple[int, int]:
    """Return the per-answer timeout (seconds) and retries for server requests.

    Each comes from the configuration if set, else from MLflow's own
    environment variable, else from this project's fail-fast default.
    """
    timeout = config.request_timeout
    if timeout is None:
        timeout = setting_from_environment(TIMEOUT_ENVVAR, DEFAULT_REQUEST_TIMEOUT)
    retries = config.request_retries
    if retries is None:
        retries = setting_from_environment(RETRIES_ENVVAR, DEFAULT_REQUEST_RETRIES)
    return timeout, retries


def connect(config: TrackingConfig) -> MlflowClient:
    """Point MLflow at the configured tracking store and return a client.

    For a server, the request limits are applied (MLflow reads them from the
    environment) and one cheap request checks that it answers, so that a
    server that is down fails here, in seconds, before any work is sent.

    Raises
    ------
    ConfigError
        If the URI carries a user or password, which belong in the environment.
    TrackingError
        If the server cannot be reached or refuses the request.
    """
    uri = tracking_uri(config)
    if hide_credentials(uri) != uri:
        raise ConfigError(
            f"the tracking URI {hide_credentials(uri)} must not contain credentials:"
            " set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or"
            " MLFLOW_TRACKING_TOKEN) instead"
        )
    timeout, retries = request_limits(config)
    os.environ[TIMEOUT_ENVVAR] = str(timeout)
    os.environ[RETRIES_ENVVAR] = str(retries)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    if is_remote(uri):
        logger.info("Tracking to %s", hide_credentials(uri))
        with reported_failures(config):
            client.search_experiments(max_results=1)
    return client


def is_connection_failure(error: BaseException) -> bool:
    """Return whether ``error`` (or what caused it) is a network failure."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, requests.ConnectionError | requests.Timeout):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def failure_message(config: TrackingConfig, error: Exception) -> str:
    """Describe a tracking failure in one line, naming the URI without credentials."""
    uri = hide_credentials(tracking_uri(config))
    if not is_connection_failure(error):
        return f"MLflow tracking at {uri} failed: {hide_credentials(first_line(error))}"
    timeout, retries = request_limits(config)
    return (
        f"cannot reach the MLflow tracking server at {uri} (timeout {timeout} s,"
        f" retries {retries}): check that it is running and reachable from here,"
        " and the tracking URI"
    )


@contextmanager
def reported_failures(
    config: TrackingConfig, saved_run: Path | None = None
) -> Iterator[None]:
    """Turn any MLflow failure inside the block into a one-line ``TrackingError``.

    The message names the tracking URI, the first thing to check when a
    server is down or a URI is mistyped, and ``saved_run``, the local copy
    of the run that the ``upload`` command can log later.
    """
    hint = "" if saved_run is None else saved_run_hint(saved_run)
    try:
        yield
    except TrackingError as error:
        if not hint:
            raise
        raise TrackingError(f"{error}{hint}") from error
    except (MlflowException, requests.RequestException) as error:
        raise TrackingError(failure_message(config, error) + hint) from error


def saved_run_hint(saved_run: Path) -> str:
    """Return the end of an error message: where the run is and how to log it."""
    return (
        f"; the trained model is saved in {saved_run}: log it later with"
        f" `{{ cookiecutter.project_slug }} upload {saved_run}`"
    )
