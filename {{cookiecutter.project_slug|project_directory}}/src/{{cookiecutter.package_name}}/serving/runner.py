"""Running the scoring application under uvicorn, in one or more processes."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from ..config import Settings, load_config
from .app import create_app
from .model import load_served_model
from .prediction_log import open_prediction_log

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 10
# Worker processes rebuild the application from these, set by the parent.
CONFIG_ENVVAR = "_SERVE_CONFIG_PATH"
MODEL_ENVVAR = "_SERVE_MODEL_URI"


def load_app(settings: Settings, model_uri: str | None) -> Starlette:
    """Load ``model_uri`` (default: the champion); return the application serving it.

    The application records what it scores in the configured prediction log
    and treats rows breaking the data contract as ``contract.on_break`` says.
    Each request is scored on one thread: parallelism comes from worker
    processes, and OpenMP threads fighting over cores make small requests
    slower, not faster.
    """
    model = load_served_model(settings, model_uri)
    # Once the model is loaded, every OpenMP runtime it uses is known.
    threadpool_limits(1)
    logger.info("Serving %s (version %s)", model.uri, model.model_version)
    return create_app(
        model,
        prediction_log=open_prediction_log(settings, model),
        on_break=settings.contract.on_break,
    )


def worker_app() -> Starlette:
    """Build the application in a worker process, from the parent's settings."""
    settings = load_config(Path(os.environ[CONFIG_ENVVAR]))
    return load_app(settings, os.environ.get(MODEL_ENVVAR) or None)


def run(
    settings: Settings,
    config_path: Path,
    model_uri: str | None,
    *,
    host: str,
    port: int,
    workers: int,
) -> None:
    """Serve until SIGINT or SIGTERM, then finish the requests in flight.

    The model is loaded here first, so a bad model URI is reported before the
    server starts. Worker processes, if ``workers`` > 1, load ``settings``
    again from ``config_path``. Access and error logs go through the logging
    configuration the CLI applied.

    Raises
    ------
    ProjectError
        If the model cannot be loaded.
    """
    app = load_app(settings, model_uri)
    if workers > 1:
        os.environ[CONFIG_ENVVAR] = str(config_path.resolve())
        os.environ[MODEL_ENVVAR] = model_uri or ""
    uvicorn.run(
        app if workers == 1 else f"{__name__}:worker_app",
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        log_config=None,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
