"""The ``serve`` command: the HTTP scoring service.

This module imports only Click, so that the CLI's ``--help`` stays instant;
the web stack and the model are imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from .options import config_option, model_option

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


@click.command()
@config_option
@model_option
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Interface to bind; 0.0.0.0 exposes the service to the network.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="TCP port to listen on.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Server processes, each holding its own copy of the model.",
)
def serve(
    config_path: Path, model_uri: str | None, host: str, port: int, workers: int
) -> None:
    """Serve a model over HTTP with MLflow's scoring protocol (POST /invocations).

    Rows breaking the model's data contract are scored or refused as
    contract.on_break says; scored rows go to the prediction log, and
    GET /metrics counts requests, rows, breaks and predictions.
    """
    from ..config import load_config

    settings = load_config(config_path)
    from ..serving.runner import run

    run(settings, config_path, model_uri, host=host, port=port, workers=workers)
