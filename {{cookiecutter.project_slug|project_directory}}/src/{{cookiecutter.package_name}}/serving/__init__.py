"""Serving: the HTTP scoring service behind the ``serve`` command.

``inputs`` turns requests of MLflow's scoring protocol into checked data
frames; ``model`` holds the loaded model; ``app`` answers the routes;
``prediction_log`` and ``shadow`` record, off the request path, what the
champion answered and what a challenger would have; ``metrics`` counts for
Prometheus; ``openapi`` describes the routes; ``runner`` runs the
application under uvicorn.
"""

from .app import create_app
from .inputs import InvalidRequestError, parse_csv, parse_json
from .model import ServedModel, load_served_model
from .runner import run

__all__ = [
    "InvalidRequestError",
    "ServedModel",
    "create_app",
    "load_served_model",
    "parse_csv",
    "parse_json",
    "run",
]
