"""The connection to MLflow: which store runs go to, and failing fast when it is down.

Runs go to ``tracking.uri`` from the configuration if set, else to
``MLFLOW_TRACKING_URI``, else to a local SQLite database (``mlflow.db``).
Credentials for a server come only from the environment
(``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` or
``MLFLOW_TRACKING_TOKEN``, read by MLflow itself) and are never shown.
Requests to a server fail fast: a few seconds per answer and one retry by
default, instead of MLflow's minutes of retries. The first request of every
command is a pre-flight check made once, without retries, so a server that is
down is found within the request timeout, before any work is done.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import mlflow
import requests
from mlflow import ActiveRun
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ..config import TrackingConfig
from ..errors import (
    ConfigError,
    RunInterruptedError,
    TrackingError,
    first_line,
    hide_credentials,
)

logger = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
# The tag naming the job behind a run other than training (monitoring, tuning).
RUN_KIND_TAG = "run.kind"
TIMEOUT_ENVVAR = "MLFLOW_HTTP_REQUEST_TIMEOUT"
RETRIES_ENVVAR = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
# One slow answer or one retry stays well under ten seconds; MLflow's own
# defaults (120 s, 7 retries with backoff) take minutes to give up.
DEFAULT_REQUEST_TIMEOUT = 3
DEFAULT_REQUEST_RETRIES = 1
# How long an interrupted command waits for the server to record the run as
# killed before it gives up and leaves the run as it is.
INTERRUPTED_RUN_TIMEOUT = 1


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
    environment) and one cheap request, sent once without retries, checks
    that it answers, so that a server that is down fails here, within the
    request timeout, before any work is done.

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
    with reported_failures(config):
        mlflow.set_tracking_uri(uri)
        client = MlflowClient()
        if is_remote(uri):
            logger.info("Tracking to %s", hide_credentials(uri))
            with single_attempts():
                client.search_experiments(max_results=1)
    return client


@contextmanager
def single_attempts(timeout: int | None = None) -> Iterator[None]:
    """Send MLflow's requests inside the block once each, without retries.

    Retries back off for seconds between attempts, so only a single attempt
    bounds a check by the timeout: ``timeout`` seconds, or the one in force.
    """
    before = {name: os.environ.get(name) for name in (TIMEOUT_ENVVAR, RETRIES_ENVVAR)}
    os.environ[RETRIES_ENVVAR] = "0"
    if timeout is not None:
        os.environ[TIMEOUT_ENVVAR] = str(timeout)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def started_run() -> Iterator[ActiveRun]:
    """Start an MLflow run in the active experiment for the block, then end it.

    On Ctrl-C, the run is ended as killed in one short attempt, or left as it
    is if the server does not answer at once: MLflow's own ``with
    mlflow.start_run()`` would wait for the full timeout and retries first.
    """
    with mlflow.start_run() as run:
        try:
            yield run
        except KeyboardInterrupt:
            with (
                single_attempts(INTERRUPTED_RUN_TIMEOUT),
                suppress(MlflowException, requests.RequestException),
            ):
                mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
            raise


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
    of the run that the ``upload`` command can log later. With a
    ``saved_run``, Ctrl-C inside the block becomes a
    :class:`~{{ cookiecutter.package_name }}.errors.RunInterruptedError` that
    says the same.
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
    except KeyboardInterrupt as interrupt:
        if not hint or isinstance(interrupt, RunInterruptedError):
            raise
        message = f"the run was not completely logged{hint}"
        raise RunInterruptedError(message) from interrupt


def saved_run_hint(saved_run: Path) -> str:
    """Return the end of an error message: where the run is and how to log it."""
    return (
        f"; the trained model is saved in {saved_run}: log it later with"
        f" `{{ cookiecutter.project_slug }} upload {saved_run}`"
    )
