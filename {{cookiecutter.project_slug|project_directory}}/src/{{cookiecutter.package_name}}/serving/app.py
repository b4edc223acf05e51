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
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
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

from ..config import ServingConfig
from .batching import MicroBatcher
from .inputs import (
    InvalidRequestError,
    RequestColumns,
    parse_csv,
    parse_json_columns,
)
from .metrics import MetricsMiddleware, ServiceMetrics
from .model import ServedModel
from .openapi import openapi_schema
from .prediction_log import PredictionLog, ScoredRequests
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
    serving: ServingConfig | None = None,
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
    serving : ServingConfig or None, default=None
        How concurrent requests are batched into one model call; None: the
        defaults of :class:`ServingConfig`.
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
    batching = serving or ServingConfig()
    batcher = MicroBatcher(
        service.score_batch,
        max_rows=batching.max_batch_rows,
        max_wait_ms=batching.max_batch_wait_ms,
        observe_batch=metrics.observe_batch,
    )
    service.batcher = batcher
    metrics.watch_queue(lambda: batcher.queued_requests)
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
        lifespan=_lifespan(batcher, [prediction_log, shadow]),
    )


def _lifespan(
    batcher: MicroBatcher[ScoringRequest, bytes],
    workers: list[PredictionLog | ShadowScorer | None],
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """Return the lifespan running the batcher and background ``workers``.

    The batcher stops first, scoring what is queued, so that the workers
    still record those requests.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        running = [worker for worker in workers if worker is not None]
        for worker in running:
            worker.start()
        batcher.start()
        try:
            yield
        finally:
            await batcher.stop()
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


@dataclass(frozen=True)
class ScoringRequest:
    """A checked request waiting to be scored with others.

    Attributes
    ----------
    columns : dict of str to numpy.ndarray
        Its checked values, one array per input column, in order.
    rows : int
        How many rows it holds.
    with_probabilities : bool
        Whether the answer includes the probability of each class.
    identifier : str
        Its request ID.
    """

    columns: RequestColumns
    rows: int
    with_probabilities: bool
    identifier: str


class _ScoringService:
    """The route handlers, sharing one loaded model."""

    batcher: MicroBatcher[ScoringRequest, bytes]

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
        try:
            with_probabilities = self._wants_probabilities(request)
            columns = self._parse(request, await self._read_body(request))
        except InvalidRequestError as error:
            return error_response(error.status, str(error), error.error_code)
        except ClientDisconnect:
            return Response(status_code=400)
        rows = len(next(iter(columns.values())))
        checked = ScoringRequest(
            columns, rows, with_probabilities, request.state.request_id
        )
        try:
            answer = await self.batcher.submit(checked)
        except InvalidRequestError as error:
            return error_response(error.status, str(error), error.error_code)
        except Exception:
            # A checked request that the model fails on is a bug: log it once.
            logger.exception("Scoring %d rows failed", rows)
            return error_response(
                500, "internal server error; see the server log", "INTERNAL_ERROR"
            )
        return Response(answer, media_type=JSON_TYPE)

    def score_batch(
        self, requests: Sequence[ScoringRequest]
    ) -> list[bytes | Exception]:
        """Score ``requests`` in one model call; return each one's JSON answer.

        A request whose rows the contract policy refuses gets its error
        instead, and so does a request the model fails on. Runs on the
        batcher's thread.
        """
        frame = _batch_frame(requests)
        refused = self._refused(frame, requests)
        accepted = [error is None for error in refused]
        if not all(accepted):
            frame = frame[np.repeat(accepted, _row_counts(requests))]
            frame = frame.reset_index(drop=True)
        scored = [request for request, ok in zip(requests, accepted, strict=True) if ok]
        answers = iter(self._score_each(frame, scored) if scored else [])
        return [error or next(answers) for error in refused]

    def _score_each(
        self, frame: pd.DataFrame, requests: Sequence[ScoringRequest]
    ) -> list[bytes | Exception]:
        """Score ``requests`` in one call; if the model fails, score each alone.

        So one request the model fails on gets the error and never fails the
        others. Their rows were checked against the contract before, once.
        """
        try:
            return [*self._score(frame, requests)]
        except Exception as error:
            if len(requests) == 1:
                return [error]
        logger.debug("A batch of %d requests failed; scoring each alone", len(requests))
        return [
            self._score_each(rows, [request])[0]
            for request, rows in _request_frames(frame, requests)
        ]

    def _refused(
        self, frame: pd.DataFrame, requests: Sequence[ScoringRequest]
    ) -> list[InvalidRequestError | None]:
        """Return, for each request, the error refusing its rows, if any.

        A batch that plainly holds to the contract is checked once; any
        other is checked request by request, so that each break is counted,
        logged and refused as if the request had come alone.
        """
        contract = self._model.contract
        if contract is None or contract.plainly_holds(frame):
            return [None] * len(requests)
        if len(requests) == 1:
            return [self._contract_error(frame, requests[0].identifier)]
        return [
            self._contract_error(rows, request.identifier)
            for request, rows in _request_frames(frame, requests)
        ]

    def _contract_error(
        self, df: pd.DataFrame, identifier: str
    ) -> InvalidRequestError | None:
        """Count the rows breaking the contract; refuse them if the policy says so.

        The null-rate rule is about whole tables, not single requests.
        """
        assert self._model.contract is not None  # noqa: S101 (checked by the caller)
        check = self._model.contract.check(df)
        if not check.breaks:
            return None
        self._metrics.observe_breaks(check.breaks)
        rules = "; ".join(broken.describe() for broken in check.breaks)
        summary = f"{check.broken_rows} of {check.rows} rows break the data contract"
        if self._on_break == "reject" or check.hard_breaks:
            return InvalidRequestError(f"{summary}: {rules}")
        logger.info("Request %s: %s, scored anyway: %s", identifier, summary, rules)
        return None

    def _score(
        self, frame: pd.DataFrame, requests: Sequence[ScoringRequest]
    ) -> list[bytes]:
        """Score the rows of ``requests`` in ``frame``; return each one's JSON answer.

        The batch goes to the prediction log as one entry, with the latency
        of the call its requests shared; each request goes to the challenger
        on its own.
        """
        scored_at = datetime.now(UTC)
        started = time.perf_counter()
        predictions = self._model.predict(frame)
        latency_ms = (time.perf_counter() - started) * 1000
        probabilities = (
            self._model.predict_proba(frame)
            if any(request.with_probabilities for request in requests)
            else []
        )
        self._metrics.observe_predictions(predictions)
        answers = []
        start = 0
        for request in requests:
            end = start + request.rows
            answer: dict[str, Any] = {"predictions": predictions[start:end].tolist()}
            if request.with_probabilities:
                answer["probabilities"] = probabilities[start:end]
            answers.append(orjson.dumps(answer))
            if self._shadow is not None:
                self._shadow.submit(
                    frame.iloc[start:end].reset_index(drop=True),
                    predictions[start:end],
                    request.identifier,
                    scored_at,
                )
            start = end
        if self._log is not None:
            self._record(frame, predictions, requests, latency_ms, scored_at)
        return answers

    def _record(
        self,
        frame: pd.DataFrame,
        predictions: np.ndarray[Any, Any],
        requests: Sequence[ScoringRequest],
        latency_ms: float,
        scored_at: datetime,
    ) -> None:
        """Hand the rows of the requests that sampling keeps to the prediction log."""
        assert self._log is not None  # noqa: S101 (checked by the caller)
        kept = self._log.draw(len(requests))
        if not any(kept):
            return
        if not all(kept):
            rows = np.repeat(kept, _row_counts(requests))
            frame = frame[rows].reset_index(drop=True)
            predictions = predictions[rows]
            requests = [r for r, keep in zip(requests, kept, strict=True) if keep]
        self._log.record_drawn(
            ScoredRequests(
                frame,
                predictions,
                tuple(request.identifier for request in requests),
                tuple(_row_counts(requests)),
                latency_ms,
                scored_at,
            )
        )

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

    def _parse(self, request: Request, body: bytes) -> RequestColumns:
        media_type = request.headers.get("content-type", "").split(";")[0].strip()
        if media_type == JSON_TYPE:
            return parse_json_columns(body, self._model.columns)
        if media_type == CSV_TYPE:
            df = parse_csv(body, self._model.columns)
            return {str(name): df[name].to_numpy() for name in df.columns}
        raise InvalidRequestError(
            f"unsupported content type {media_type or '(none)'!r};"
            f" use {JSON_TYPE} or {CSV_TYPE}",
            "UNSUPPORTED_MEDIA_TYPE",
            status=415,
        )


def _request_frames(
    frame: pd.DataFrame, requests: Sequence[ScoringRequest]
) -> Iterator[tuple[ScoringRequest, pd.DataFrame]]:
    """Yield each of ``requests`` with its own rows of the batch ``frame``."""
    bounds = np.cumsum([0, *_row_counts(requests)]).tolist()
    for request, start, end in zip(requests, bounds[:-1], bounds[1:], strict=True):
        yield request, frame.iloc[start:end].reset_index(drop=True)


def _row_counts(requests: Sequence[ScoringRequest]) -> list[int]:
    return [request.rows for request in requests]


def _batch_frame(requests: Sequence[ScoringRequest]) -> pd.DataFrame:
    """Return the rows of all ``requests``, in order, as one data frame."""
    if len(requests) == 1:
        return pd.DataFrame(requests[0].columns, copy=False)
    names = requests[0].columns
    return pd.DataFrame(
        {
            name: np.concatenate([request.columns[name] for request in requests])
            for name in names
        },
        copy=False,
    )


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)  # noqa: S101 (registered for it only)
    message = f"{request.method} {request.url.path}: {error.detail}"
    return error_response(error.status_code, message)
