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
@click.option(
    "--challenger",
    metavar="ALIAS_OR_URI",
    default=None,
    help="Also score every request with this model (an alias of the registered"
    " model, or a model URI), off the request path; its answers go to the shadow"
    " log, never to clients.",
)
def serve(
    config_path: Path,
    model_uri: str | None,
    host: str,
    port: int,
    workers: int,
    challenger: str | None,
) -> None:
    """Serve a model over HTTP with MLflow's scoring protocol (POST /invocations).

    Rows breaking the model's data contract are scored or refused as
    contract.on_break says; scored rows go to the prediction log, and
    GET /metrics counts requests, rows, breaks and predictions. With
    --challenger, a second model scores the same requests in the background
    and the shadow log records how often it agrees with the served model.
    """
    from ..config import load_config

    settings = load_config(config_path)
    from ..serving.runner import run

    run(
        settings,
        config_path,
        model_uri,
        challenger=challenger,
        host=host,
        port=port,
        workers=workers,
    )
