"""The scoring service: MLflow's scoring protocol over a model loaded once.

Routes: ``POST /invocations`` scores rows; ``GET /ping`` and ``/health``
report readiness; ``GET /version`` names the package and model versions;
``GET /openapi.json`` describes all of them. Every client error is a 4xx
answer with a JSON body ``{"error_code": ..., "message": ...}``.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pandas as pd
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from .inputs import InvalidRequestError, parse_csv, parse_json
from .model import ServedModel
from .openapi import openapi_schema

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
JSON_TYPE = "application/json"
CSV_TYPE = "text/csv"
TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no", ""})
ERROR_CODES = {
    400: "BAD_REQUEST",
    404: "ENDPOINT_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
}


class JsonResponse(Response):
    """A JSON response serialised with orjson."""

    media_type = JSON_TYPE

    def render(self, content: Any) -> bytes:  # noqa: ANN401 (any JSON value)
        """Return ``content`` as UTF-8 JSON bytes."""
        return orjson.dumps(content)


def error_response(
    status: int, message: str, error_code: str | None = None
) -> Response:
    """Return MLflow's error body with ``status``."""
    code = error_code or ERROR_CODES.get(status, "BAD_REQUEST")
    return JsonResponse({"error_code": code, "message": message}, status_code=status)


def create_app(model: ServedModel, max_body_bytes: int = MAX_BODY_BYTES) -> Starlette:
    """Return the scoring application serving the already loaded ``model``.

    Parameters
    ----------
    model : ServedModel
        The model to answer with; loading it before the application exists
        means the server is ready as soon as it accepts connections.
    max_body_bytes : int, default=10 MiB
        Larger request bodies are refused with 413 before they are read whole.
    """
    service = _ScoringService(model, max_body_bytes)
    schema = orjson.dumps(openapi_schema())
    routes = [
        Route("/invocations", service.invocations, methods=["POST"]),
        Route("/ping", service.health, methods=["GET"]),
        Route("/health", service.health, methods=["GET"]),
        Route("/version", service.version, methods=["GET"]),
        Route(
            "/openapi.json",
            lambda _: Response(schema, media_type=JSON_TYPE),
            methods=["GET"],
        ),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error},
    )


class _ScoringService:
    """The route handlers, sharing one loaded model."""

    def __init__(self, model: ServedModel, max_body_bytes: int) -> None:
        self._model = model
        self._max_body_bytes = max_body_bytes

    async def health(self, request: Request) -> Response:
        return JsonResponse({"status": "ok"})

    async def version(self, request: Request) -> Response:
        return JsonResponse(self._model.describe())

    async def invocations(self, request: Request) -> Response:
        try:
            with_probabilities = self._wants_probabilities(request)
            df = self._parse(request, await self._read_body(request))
        except InvalidRequestError as error:
            return error_response(error.status, str(error), error.error_code)
        except ClientDisconnect:
            return Response(status_code=400)
        try:
            return JsonResponse(self._score(df, with_probabilities))
        except Exception:
            # A checked request that the model fails on is a bug: log it once.
            logger.exception("Scoring %d rows failed", len(df))
            return error_response(
                500, "internal server error; see the server log", "INTERNAL_ERROR"
            )

    def _score(self, df: pd.DataFrame, with_probabilities: bool) -> dict[str, Any]:
        answer: dict[str, Any] = {"predictions": self._model.predict(df)}
        if with_probabilities:
            answer["probabilities"] = self._model.predict_proba(df)
        return answer

    def _wants_probabilities(self, request: Request) -> bool:
        word = request.query_params.get("probabilities", "false").lower()
        if word not in TRUE_WORDS | FALSE_WORDS:
            raise InvalidRequestError(
                "query parameter 'probabilities' must be true or false"
            )
        if word in TRUE_WORDS and not self._model.has_probabilities:
            raise InvalidRequestError("this model does not predict probabilities")
        return word in TRUE_WORDS

    async def _read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit():
            raise InvalidRequestError("invalid Content-Length header", "BAD_REQUEST")
        if int(declared) > self._max_body_bytes:
            raise self._too_large()
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self._max_body_bytes:
                raise self._too_large()
        if not body:
            raise InvalidRequestError("the request body is empty", "BAD_REQUEST")
        return bytes(body)

    def _too_large(self) -> InvalidRequestError:
        return InvalidRequestError(
            f"the request body exceeds {self._max_body_bytes} bytes;"
            " send fewer rows per request",
            "REQUEST_LIMIT_EXCEEDED",
            status=413,
        )

    def _parse(self, request: Request, body: bytes) -> pd.DataFrame:
        media_type = request.headers.get("content-type", "").split(";")[0].strip()
        if media_type == JSON_TYPE:
            return parse_json(body, self._model.columns)
        if media_type == CSV_TYPE:
            return parse_csv(body, self._model.columns)
        raise InvalidRequestError(
            f"unsupported content type {media_type or '(none)'!r};"
            f" use {JSON_TYPE} or {CSV_TYPE}",
            "UNSUPPORTED_MEDIA_TYPE",
            status=415,
        )


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)  # noqa: S101 (registered for it only)
    message = f"{request.method} {request.url.path}: {error.detail}"
    return error_response(error.status_code, message)
