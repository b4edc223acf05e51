"""MLflow: where runs are recorded, how models are logged and promoted.

Runs go to ``tracking.uri`` from the configuration if set, else to
``MLFLOW_TRACKING_URI``, else to a local SQLite database (``mlflow.db``).
A newly registered version takes the champion alias only if it scores better
than the current champion on the same held-out data.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import version
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo
from mlflow.tracking import MlflowClient
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from .config import TrackingConfig
from .errors import TrackingError, first_line

logger = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
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


def connect(config: TrackingConfig) -> MlflowClient:
    """Point MLflow at the configured tracking server and return a client."""
    mlflow.set_tracking_uri(tracking_uri(config))
    return MlflowClient()


@contextmanager
def reported_failures(config: TrackingConfig) -> Iterator[None]:
    """Turn any MLflow failure inside the block into a one-line ``TrackingError``.

    The message names the tracking URI, the first thing to check when a
    server is down or a URI is mistyped.
    """
    try:
        yield
    except MlflowException as error:
        raise TrackingError(
            f"MLflow tracking at {tracking_uri(config)} failed: {first_line(error)}"
        ) from None


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


def log_model(pipeline: Pipeline, sample: pd.DataFrame) -> ModelInfo:
    """Log ``pipeline`` to the active run with its signature and an input example."""
    signature = infer_signature(sample, pipeline.predict(sample))
    info: ModelInfo = mlflow.sklearn.log_model(
        pipeline,
        name=MODEL_ARTIFACT_NAME,
        signature=signature,
        input_example=sample.head(5),
        pip_requirements=pinned_requirements(),
        skops_trusted_types=trusted_types(pipeline),
    )
    return info


def register(client: MlflowClient, model_uri: str, name: str, run_id: str) -> str:
    """Register ``model_uri`` from run ``run_id`` as a new version of ``name``.

    Returns the new version number.
    """
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    model_version = client.create_model_version(name, model_uri, run_id=run_id)
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
