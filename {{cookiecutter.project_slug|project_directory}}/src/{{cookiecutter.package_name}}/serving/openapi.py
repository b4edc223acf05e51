"""The OpenAPI description of the scoring service, served at ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from .. import __version__

ROWS = {"type": "array", "items": {"type": "object"}, "minItems": 1}
COLUMNS = {"type": "object", "additionalProperties": {"type": "array"}}
ERROR = {
    "type": "object",
    "required": ["error_code", "message"],
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
}
SCORING_REQUEST = {
    "type": "object",
    "description": (
        "Exactly one of the properties, as in MLflow's scoring protocol;"
        " columns the model does not take are ignored."
    ),
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {
        "dataframe_split": {
            "type": "object",
            "required": ["columns", "data"],
            "properties": {
                "columns": {"type": "array", "items": {"type": "string"}},
                "data": {"type": "array", "items": {"type": "array"}},
            },
        },
        "dataframe_records": ROWS,
        "instances": {"oneOf": [ROWS, COLUMNS]},
        "inputs": {"oneOf": [ROWS, COLUMNS]},
    },
}
SCORING_RESPONSE = {
    "type": "object",
    "required": ["predictions"],
    "properties": {
        "predictions": {"type": "array"},
        "probabilities": {
            "type": "array",
            "description": "With ?probabilities=true: class name -> probability.",
            "items": {"type": "object", "additionalProperties": {"type": "number"}},
        },
    },
}


METRICS = {
    "summary": "Counters and histograms of this process, for Prometheus.",
    "responses": {
        "200": {
            "description": "Prometheus' text exposition format.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


def _error(description: str) -> dict[str, Any]:
    return _json(ERROR, description)


def openapi_schema() -> dict[str, Any]:
    """Return the OpenAPI 3.0 document of every route of the service."""
    status = {"type": "object", "properties": {"status": {"type": "string"}}}
    health = {
        "summary": "Readiness: 200 once the model is loaded.",
        "responses": {"200": _json(status, "The model is loaded.")},
    }
    nullable_text = {"type": "string", "nullable": True}
    version = {
        "type": "object",
        "properties": {
            "package_version": {"type": "string"},
            "model_uri": {"type": "string"},
            "model_version": nullable_text,
            "challenger": {
                "type": "object",
                "description": "Only while a challenger is shadow-scoring.",
                "properties": {
                    "model_uri": {"type": "string"},
                    "model_version": nullable_text,
                },
            },
        },
    }
    invocations = {
        "summary": "Score rows with the model (MLflow's scoring protocol).",
        "parameters": [
            {
                "name": "probabilities",
                "in": "query",
                "required": False,
                "description": "Also return class probabilities (classifiers only).",
                "schema": {"type": "boolean", "default": False},
            },
            {
                "name": "X-Request-ID",
                "in": "header",
                "required": False,
                "description": (
                    "The request's ID, sent back and written to the prediction"
                    " log; replaced by a new one unless it is 1 to 128 letters,"
                    " digits and ._:- characters."
                ),
                "schema": {"type": "string"},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": SCORING_REQUEST},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        "responses": {
            "200": _json(SCORING_RESPONSE, "One prediction per row."),
            "400": _error(
                "Malformed request, input that the signature rejects, or rows"
                " breaking the data contract when its policy is to reject them."
            ),
            "413": _error("The request body is too large."),
            "415": _error("The content type is neither JSON nor CSV."),
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Scoring service", "version": __version__},
        "paths": {
            "/invocations": {"post": invocations},
            "/ping": {"get": health},
            "/health": {"get": health},
            "/version": {
                "get": {
                    "summary": "Package version, model URIs and registry versions.",
                    "responses": {"200": _json(version, "The versions.")},
                }
            },
            "/metrics": {"get": METRICS},
        },
    }
