"""MLflow: where runs are recorded, how models are logged and promoted.

Runs go to ``tracking.uri`` from the configuration if set, else to
``MLFLOW_TRACKING_URI``, else to a local SQLite database (``mlflow.db``).
Credentials for a server come only from the environment
(``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` or
``MLFLOW_TRACKING_TOKEN``, read by MLflow itself) and are never shown.
Requests to a server fail fast: a few seconds per answer and one retry by
default, instead of MLflow's minutes of retries.
A newly registered version takes the champion alias only if it scores better
than the current champion on the same held-out data.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import requests
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo
from mlflow.tracking import MlflowClient
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from .config import TrackingConfig
from .errors import ConfigError, TrackingError, first_line, hide_credentials

logger = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
TIMEOUT_ENVVAR = "MLFLOW_HTTP_REQUEST_TIMEOUT"
RETRIES_ENVVAR = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
# One slow answer or one retry stays well under ten seconds; MLflow's own
# defaults (120 s, 7 retries with backoff) take minutes to give up.
DEFAULT_REQUEST_TIMEOUT = 3
DEFAULT_REQUEST_RETRIES = 1
MODEL_ARTIFACT_NAME = "model"
# Distributions the logged model needs at load time, pinned to what trained it.
MODEL_REQUIREMENTS = (
    "{{ cookiecutter.project_slug }}",
    "mlflow",
    "numpy",
    "pandas",
    "scikit-learn",
)

# Library types that skops does not trust by default but this pipeline stores.
# Trusting them is safe for models written by this project's own training runs;
# review this list before loading model files from anywhere else.
TRUSTED_LIBRARY_TYPES = (
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)


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
        raise TrackingError(f"{error}{hint}") from None
    except (MlflowException, requests.RequestException) as error:
        raise TrackingError(failure_message(config, error) + hint) from None


def saved_run_hint(saved_run: Path) -> str:
    """Return the end of an error message: where the run is and how to log it."""
    return (
        f"; the trained model is saved in {saved_run}: log it later with"
        f" `{{ cookiecutter.project_slug }} upload {saved_run}`"
    )


def champion_uri(config: TrackingConfig) -> str:
    """Return the URI of the model version that holds the champion alias."""
    return f"models:/{config.registered_model}@{config.champion_alias}"


def flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested settings into ``section.key`` names for MLflow params."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def trusted_types(pipeline: Pipeline) -> list[str]:
    """Return the dotted names of the types skops must trust to load ``pipeline``.

    MLflow stores scikit-learn models with skops, which refuses to load any
    type it has not been told to trust: this project's own classes inside the
    pipeline, and the reviewed library types above.
    """
    steps = pipeline.get_params(deep=True).values()
    own = {
        f"{type(step).__module__}.{type(step).__qualname__}"
        for step in steps
        if isinstance(step, BaseEstimator)
        and type(step).__module__.startswith(f"{__package__}.")
    }
    return sorted(own.union(TRUSTED_LIBRARY_TYPES))


def pinned_requirements() -> list[str]:
    """Return the model's pip requirements, pinned to the installed versions."""
    return [f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS]


def model_options(pipeline: Pipeline, sample: pd.DataFrame) -> dict[str, Any]:
    """Return how ``pipeline`` is stored: signature, input example, requirements."""
    return {
        "signature": infer_signature(sample, pipeline.predict(sample)),
        "input_example": sample.head(5),
        "pip_requirements": pinned_requirements(),
        "skops_trusted_types": trusted_types(pipeline),
    }


def log_model(pipeline: Pipeline, sample: pd.DataFrame) -> ModelInfo:
    """Log ``pipeline`` to the active run with its signature and an input example."""
    info: ModelInfo = mlflow.sklearn.log_model(
        pipeline, name=MODEL_ARTIFACT_NAME, **model_options(pipeline, sample)
    )
    return info


def save_model(pipeline: Pipeline, sample: pd.DataFrame, path: Path) -> None:
    """Save ``pipeline`` as an MLflow model directory at ``path``, as logged."""
    mlflow.sklearn.save_model(pipeline, str(path), **model_options(pipeline, sample))


def register(client: MlflowClient, model_uri: str, name: str, run_id: str) -> str:
    """Register ``model_uri`` from run ``run_id`` as a new version of ``name``.

    Returns the new version number.
    """
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    # A tracking server accepts a logged model's URI only with its ID.
    model_id = model_uri.removeprefix("models:/")
    model_version = client.create_model_version(
        name, model_uri, run_id=run_id, model_id=model_id
    )
    logger.info("Registered %s version %s", name, model_version.version)
    return str(model_version.version)


def champion_version(client: MlflowClient, config: TrackingConfig) -> str | None:
    """Return the version holding the champion alias, or ``None`` if no model does."""
    try:
        found = client.get_model_version_by_alias(
            config.registered_model, config.champion_alias
        )
    except MlflowException:
        return None
    return str(found.version)


def is_better(
    candidate: float, champion: float | None, greater_is_better: bool
) -> bool:
    """Return whether ``candidate`` beats ``champion`` (no champion: it does)."""
    if champion is None:
        return True
    return candidate > champion if greater_is_better else candidate < champion


def set_champion(
    client: MlflowClient, config: TrackingConfig, model_version: str
) -> None:
    """Move the champion alias to ``model_version``."""
    client.set_registered_model_alias(
        config.registered_model, config.champion_alias, model_version
    )
    logger.info(
        "Moved @%s of %s to version %s",
        config.champion_alias,
        config.registered_model,
        model_version,
    )
