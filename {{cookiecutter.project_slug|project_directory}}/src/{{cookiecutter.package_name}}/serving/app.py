"""The scoring service: MLflow's scoring protocol over a model loaded once.

Routes: ``POST /invocations`` scores rows; ``GET /ping`` and ``/health``
report readiness; ``GET /version`` names the package and model versions (and
the challenger's, when one is shadow-scoring);
``GET /metrics`` counts requests, rows, contract breaks and predictions for
Prometheus; ``GET /openapi.json`` describes all of them. Every client error
is a 4xx answer with a JSON body ``{"error_code": ..., "message": ...}``, and
every answer carries the request's ``X-Request-ID``.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
import pandas as pd
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .inputs import InvalidRequestError, parse_csv, parse_json
from .metrics import MetricsMiddleware, ServiceMetrics
from .model import ServedModel
from .openapi import openapi_schema
from .prediction_log import PredictionLog, ScoredRequest
from .shadow import ShadowScorer

logger = logging.getLogger(__name__)

BreakPolicy = Literal["score", "reject"]
REQUEST_ID_HEADER = "X-Request-ID"
# A client's ID is echoed into logs and files: short, and no characters that
# could forge a log line or a header.
CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

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


def create_app(
    model: ServedModel,
    max_body_bytes: int = MAX_BODY_BYTES,
    *,
    prediction_log: PredictionLog | None = None,
    on_break: BreakPolicy = "score",
    shadow: ShadowScorer | None = None,
) -> Starlette:
    """Return the scoring application serving the already loaded ``model``.

    Parameters
    ----------
    model : ServedModel
        The model to answer with; loading it before the application exists
        means the server is ready as soon as it accepts connections.
    max_body_bytes : int, default=10 MiB
        Larger request bodies are refused with 413 before they are read whole.
    prediction_log : PredictionLog or None, default=None
        Where scored rows are recorded; the application starts it on startup
        and stops it, writing what it buffered, on shutdown. None: no log.
    on_break : {"score", "reject"}, default="score"
        What to do with a request whose rows break a soft rule of the model's
        data contract (range, category, missing value): score it and count
        the breaks, or refuse it with 400.
    shadow : ShadowScorer or None, default=None
        A challenger scoring each answered request in the background; the
        application starts it on startup, stops it on shutdown and serves
        its metrics. None: no challenger, and no shadow work per request.
    """
    metrics = ServiceMetrics(
        model, lambda: 0 if prediction_log is None else prediction_log.dropped_rows
    )
    if shadow is not None:
        metrics.registry.register(shadow.metrics)
    service = _ScoringService(
        model,
        max_body_bytes,
        metrics,
        prediction_log=prediction_log,
        on_break=on_break,
        shadow=shadow,
    )
    schema = orjson.dumps(openapi_schema())
    routes = [
        Route("/invocations", service.invocations, methods=["POST"]),
        Route("/ping", service.health, methods=["GET"]),
        Route("/health", service.health, methods=["GET"]),
        Route("/version", service.version, methods=["GET"]),
        Route("/metrics", service.metrics, methods=["GET"]),
        Route(
            "/openapi.json",
            lambda _: Response(schema, media_type=JSON_TYPE),
            methods=["GET"],
        ),
    ]
    paths = [route.path for route in routes]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(MetricsMiddleware, metrics=metrics, routes=paths),
            Middleware(RequestIdMiddleware),
        ],
        exception_handlers={HTTPException: _http_error},
        lifespan=_lifespan([prediction_log, shadow]),
    )


def _lifespan(
    workers: list[PredictionLog | ShadowScorer | None],
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """Return the lifespan running the background ``workers`` while the app serves."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        running = [worker for worker in workers if worker is not None]
        for worker in running:
            worker.start()
        try:
            yield
        finally:
            for worker in running:
                worker.stop()

    return lifespan


def request_id(sent: str | None) -> str:
    """Return the ID of a request: the client's ``sent`` if sane, else a new one.

    Examples
    --------
    >>> request_id("order-17")
    'order-17'
    >>> len(request_id("no spaces, please"))
    32
    """
    if sent is not None and CLIENT_REQUEST_ID.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """ASGI middleware giving each request an ID and sending it back.

    The ID is the client's ``X-Request-ID`` header when it is sane (at most
    128 letters, digits and ``._:-``), else a new random one; handlers read
    it as ``request.state.request_id``, and every answer carries it in its
    ``X-Request-ID`` header, so that a client can send labels for the rows
    of a request later.

    Parameters
    ----------
    app : ASGIApp
        The application it wraps.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with its ID; add the ID to the answer."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        identifier = request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        scope.setdefault("state", {})["request_id"] = identifier

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, identifier)
            await send(message)

        await self._app(scope, receive, send_with_id)


class _ScoringService:
    """The route handlers, sharing one loaded model."""

    def __init__(
        self,
        model: ServedModel,
        max_body_bytes: int,
        metrics: ServiceMetrics,
        *,
        prediction_log: PredictionLog | None,
        on_break: BreakPolicy,
        shadow: ShadowScorer | None,
    ) -> None:
        self._model = model
        self._max_body_bytes = max_body_bytes
        self._metrics = metrics
        self._log = prediction_log
        self._on_break = on_break
        self._shadow = shadow
        self._versions: dict[str, Any] = dict(model.describe())
        if shadow is not None:
            self._versions["challenger"] = shadow.describe()

    async def health(self, request: Request) -> Response:
        return JsonResponse({"status": "ok"})

    async def version(self, request: Request) -> Response:
        return JsonResponse(self._versions)

    async def metrics(self, request: Request) -> Response:
        return Response(self._metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def invocations(self, request: Request) -> Response:
        identifier: str = request.state.request_id
        try:
            with_probabilities = self._wants_probabilities(request)
            df = self._parse(request, await self._read_body(request))
        except InvalidRequestError as error:
            return error_response(error.status, str(error), error.error_code)
        except ClientDisconnect:
            return Response(status_code=400)
        try:
            self._enforce_contract(df, identifier)
            return JsonResponse(self._score(df, with_probabilities, identifier))
        except InvalidRequestError as error:
            return error_response(error.status, str(error), error.error_code)
        except Exception:
            # A checked request that the model fails on is a bug: log it once.
            logger.exception("Scoring %d rows failed", len(df))
            return error_response(
                500, "internal server error; see the server log", "INTERNAL_ERROR"
            )

    def _enforce_contract(self, df: pd.DataFrame, identifier: str) -> None:
        """Count the rows breaking the contract; refuse them if the policy says so.

        The null-rate rule is about whole tables, not single requests.
        """
        if self._model.contract is None:
            return
        check = self._model.contract.check(df)
        if not check.breaks:
            return
        self._metrics.observe_breaks(check.breaks)
        rules = "; ".join(broken.describe() for broken in check.breaks)
        summary = f"{check.broken_rows} of {check.rows} rows break the data contract"
        if self._on_break == "reject" or check.hard_breaks:
            raise InvalidRequestError(f"{summary}: {rules}")
        logger.info("Request %s: %s, scored anyway: %s", identifier, summary, rules)

    def _score(
        self, df: pd.DataFrame, with_probabilities: bool, identifier: str
    ) -> dict[str, Any]:
        scored_at = datetime.now(UTC)
        started = time.perf_counter()
        predictions = self._model.predict(df)
        latency_ms = (time.perf_counter() - started) * 1000
        answer: dict[str, Any] = {"predictions": predictions.tolist()}
        if with_probabilities:
            answer["probabilities"] = self._model.predict_proba(df)
        self._metrics.observe_predictions(predictions)
        if self._log is not None:
            self._log.record(
                ScoredRequest(df, predictions, identifier, latency_ms, scored_at)
            )
        if self._shadow is not None:
            self._shadow.submit(df, predictions, identifier, scored_at)
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
