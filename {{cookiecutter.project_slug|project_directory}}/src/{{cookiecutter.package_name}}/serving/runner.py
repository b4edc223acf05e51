"""Running the scoring application under uvicorn, in one or more processes."""

from __future__ import annotations

import gc
import logging
import os
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from ..config import Settings, load_config
from ..errors import ModelError
from .app import create_app
from .model import ServedModel, load_served_model
from .prediction_log import open_prediction_log
from .shadow import ShadowScorer, challenger_uri, open_shadow_scorer

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 10
# Worker processes rebuild the application from these, set by the parent.
CONFIG_ENVVAR = "_SERVE_CONFIG_PATH"
MODEL_ENVVAR = "_SERVE_MODEL_URI"
CHALLENGER_ENVVAR = "_SERVE_CHALLENGER"


def load_app(
    settings: Settings, model_uri: str | None, challenger: str | None = None
) -> Starlette:
    """Load ``model_uri`` (default: the champion); return the application serving it.

    The application records what it scores in the configured prediction log
    and treats rows breaking the data contract as ``contract.on_break`` says.
    With ``challenger`` (an alias of the registered model or a model URI),
    that model scores the same requests in the background, for the shadow
    log and ``/metrics`` only. Requests arriving together are scored in one
    model call as ``serving`` configures, on one thread: parallelism comes
    from worker processes, and OpenMP threads fighting over cores make small
    requests slower, not faster.

    Raises
    ------
    ProjectError
        If a model cannot be loaded, or the shadow log is disabled while a
        challenger is given.
    """
    model = load_served_model(settings, model_uri)
    shadow = None if challenger is None else load_shadow(settings, model, challenger)
    # Once the models are loaded, every OpenMP runtime they use is known.
    threadpool_limits(1)
    # The loaded libraries and models are long-lived: out of the collector's
    # sight, full collections under load take milliseconds instead of
    # pausing every request for a few hundred.
    gc.freeze()
    logger.info("Serving %s (version %s)", model.uri, model.model_version)
    return create_app(
        model,
        prediction_log=open_prediction_log(settings, model),
        on_break=settings.contract.on_break,
        shadow=shadow,
        serving=settings.serving,
    )


def load_shadow(
    settings: Settings, champion: ServedModel, challenger: str
) -> ShadowScorer:
    """Load the ``challenger`` alias or URI; return its scorer next to ``champion``.

    Raises
    ------
    ModelError
        If the challenger cannot be loaded; the message says it is the challenger.
    ConfigError
        If the shadow log is disabled.
    """
    uri = challenger_uri(settings.tracking.registered_model, challenger)
    try:
        model = load_served_model(settings, uri)
    except ModelError as error:
        raise ModelError(f"challenger {challenger!r}: {error}") from error
    scorer = open_shadow_scorer(settings, champion, model)
    logger.info(
        "Shadow-scoring with the challenger %s (version %s) into %s",
        model.uri,
        model.model_version,
        settings.monitoring.shadow_log.directory,
    )
    return scorer


def worker_app() -> Starlette:
    """Build the application in a worker process, from the parent's settings."""
    settings = load_config(Path(os.environ[CONFIG_ENVVAR]))
    return load_app(
        settings,
        os.environ.get(MODEL_ENVVAR) or None,
        os.environ.get(CHALLENGER_ENVVAR) or None,
    )


def run(
    settings: Settings,
    config_path: Path,
    model_uri: str | None,
    *,
    challenger: str | None = None,
    host: str,
    port: int,
    workers: int,
) -> None:
    """Serve until SIGINT or SIGTERM, then finish the requests in flight.

    The model, and the ``challenger`` if any, are loaded here first, so a bad
    model URI is reported before the server starts. Worker processes, if
    ``workers`` > 1, load ``settings`` again from ``config_path``. Access and
    error logs go through the logging configuration the CLI applied.

    Raises
    ------
    ProjectError
        If a model cannot be loaded, or the shadow log is disabled while a
        challenger is given.
    """
    app = load_app(settings, model_uri, challenger)
    if workers > 1:
        os.environ[CONFIG_ENVVAR] = str(config_path.resolve())
        os.environ[MODEL_ENVVAR] = model_uri or ""
        os.environ[CHALLENGER_ENVVAR] = challenger or ""
    uvicorn.run(
        app if workers == 1 else f"{__name__}:worker_app",
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        log_config=None,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
