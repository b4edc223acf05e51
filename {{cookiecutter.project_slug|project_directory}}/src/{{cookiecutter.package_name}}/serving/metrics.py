"""Prometheus metrics of the scoring service, served at ``GET /metrics``.

Each application has a registry of its own, so two applications in one
process (tests, say) never share numbers. Each worker process of
``serve --workers N`` counts only the requests it answered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..data.contract import Break
from .model import ServedModel

OTHER_ROUTE = "other"
"""The route label of every path the service does not serve, to bound labels."""
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
"""Bucket bounds of the requests and rows scored in one model call."""
PREDICTION_QUANTILES = np.linspace(0, 1, 11)
"""Bucket bounds of regression predictions, as quantiles of training predictions."""


class ServiceMetrics:
    """The service's counters and histograms, in a registry of their own.

    Parameters
    ----------
    model : ServedModel
        The served model: a classifier's predictions are counted by class; a
        regressor's go into buckets cut at the deciles (and the extremes) of
        its predictions for the training reference sample, so that each
        bucket would hold a tenth of them if nothing drifted.
    dropped_rows : callable returning int
        Reads how many rows the prediction log dropped so far.
    """

    def __init__(self, model: ServedModel, dropped_rows: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "http_requests",
            "Requests answered, by route and HTTP status.",
            ["route", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer a request, by route.",
            ["route"],
            registry=self.registry,
        )
        self._rows = Counter(
            "scored_rows", "Rows scored by the model.", registry=self.registry
        )
        self._breaks = Counter(
            "contract_breaks",
            "Rows breaking a rule of the data contract (scored or refused),"
            " by column and rule.",
            ["column", "rule"],
            registry=self.registry,
        )
        self._batch_requests = Histogram(
            "batch_requests",
            "Requests scored together in one model call.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=self.registry,
        )
        self._batch_rows = Histogram(
            "batch_rows",
            "Rows scored in one model call.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=self.registry,
        )
        self._queued = Gauge(
            "queued_requests",
            "Checked requests waiting for the model.",
            registry=self.registry,
        )
        self._observe_predictions = self._prediction_metric(model)
        self.registry.register(
            CallbackCounter(
                "prediction_log_dropped_rows",
                "Rows the prediction log could not write (full queue, failed write).",
                dropped_rows,
            )
        )

    def _prediction_metric(
        self, model: ServedModel
    ) -> Callable[[np.ndarray[Any, Any]], None]:
        """Register the metric of the predictions; return what observes them."""
        if model.is_classifier:
            counter = Counter(
                "predictions",
                "Predictions, by predicted class.",
                ["class"],
                registry=self.registry,
            )

            def count_classes(predictions: np.ndarray[Any, Any]) -> None:
                classes, counts = np.unique(predictions.astype(str), return_counts=True)
                for label, count in zip(classes, counts, strict=True):
                    counter.labels(label).inc(int(count))

            return count_classes
        histogram = BulkHistogram(
            "prediction_value",
            "Predicted values; buckets cut at quantiles of the training predictions.",
            prediction_buckets(model.reference_predictions),
        )
        self.registry.register(histogram)
        return histogram.observe

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request to ``route`` and its duration."""
        self._requests.labels(route, str(status)).inc()
        self._latency.labels(route).observe(seconds)

    def observe_batch(self, requests: int, rows: int) -> None:
        """Count one model call scoring ``rows`` rows of ``requests`` requests."""
        self._batch_requests.observe(requests)
        self._batch_rows.observe(rows)

    def watch_queue(self, read: Callable[[], int]) -> None:
        """Read the number of requests waiting for the model from ``read``."""
        self._queued.set_function(read)

    def observe_predictions(self, predictions: np.ndarray[Any, Any]) -> None:
        """Count the scored rows and their predictions."""
        self._rows.inc(len(predictions))
        self._observe_predictions(predictions)

    def observe_breaks(self, breaks: Sequence[Break]) -> None:
        """Count the rows breaking each rule of the contract in one request."""
        for broken in breaks:
            self._breaks.labels(broken.column, broken.rule).inc(broken.rows)

    def exposition(self) -> bytes:
        """Return every metric in Prometheus' text format."""
        return generate_latest(self.registry)


def prediction_buckets(
    reference_predictions: np.ndarray[Any, Any] | None,
) -> tuple[float, ...]:
    """Return the bucket bounds of regression predictions (``+Inf`` implied).

    The minimum, deciles and maximum of the training predictions, each one
    of the predictions itself (so bounds read like predictions); without
    them (a model logged before reference samples), no bound: the histogram
    then still counts and sums the predictions.

    Examples
    --------
    >>> prediction_buckets(np.arange(101.0))
    (0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0)
    >>> prediction_buckets(None)
    ()
    """
    if reference_predictions is None or len(reference_predictions) == 0:
        return ()
    bounds = np.quantile(
        reference_predictions, PREDICTION_QUANTILES, method="inverted_cdf"
    )
    return tuple(float(bound) for bound in np.unique(bounds))


class CallbackCounter(Collector):
    """A counter whose value is read from ``read`` at each scrape.

    Parameters
    ----------
    name : str
        Metric name, without the ``_total`` suffix.
    documentation : str
        Its help text.
    read : callable returning int
        Returns the current count.
    """

    def __init__(self, name: str, documentation: str, read: Callable[[], int]) -> None:
        self._name = name
        self._documentation = documentation
        self._read = read

    def collect(self) -> Iterator[Metric]:
        """Yield the counter with its current value."""
        yield CounterMetricFamily(self._name, self._documentation, value=self._read())


class ShadowMetrics(Collector):
    """How a challenger scored next to the champion, labelled with the challenger.

    Parameters
    ----------
    challenger : str
        The challenger's registry version, or its URI when it has none.
    dropped_rows : callable returning int
        Reads how many rows were not shadow-scored or not written (full
        queue, failed write).
    """

    def __init__(self, challenger: str, dropped_rows: Callable[[], int]) -> None:
        self._challenger = challenger
        self._dropped_rows = dropped_rows
        self._rows = 0
        self._agreeing = 0
        self._failures = 0
        self._lock = threading.Lock()

    def observe(self, rows: int, agreeing: int) -> None:
        """Count ``rows`` scored by both models, ``agreeing`` of them alike."""
        with self._lock:
            self._rows += rows
            self._agreeing += agreeing

    def count_failures(self, rows: int) -> None:
        """Count ``rows`` that the challenger failed to score."""
        with self._lock:
            self._failures += rows

    def collect(self) -> Iterator[Metric]:
        """Yield the shadow counters and the agreement ratio."""
        with self._lock:
            rows, agreeing, failures = self._rows, self._agreeing, self._failures
        counts = [
            ("shadow_rows", "Rows scored by the challenger too.", rows),
            (
                "shadow_agreeing_rows",
                "Shadow-scored rows on which the challenger agreed with the champion.",
                agreeing,
            ),
            ("shadow_failures", "Rows the challenger failed to score.", failures),
            (
                "shadow_dropped_rows",
                "Rows not shadow-scored or not written (full queue, failed write).",
                self._dropped_rows(),
            ),
        ]
        for name, documentation, value in counts:
            counter = CounterMetricFamily(name, documentation, labels=["challenger"])
            counter.add_metric([self._challenger], value)
            yield counter
        ratio = GaugeMetricFamily(
            "shadow_agreement_ratio",
            "Share of shadow-scored rows on which the challenger agreed (NaN before"
            " the first).",
            labels=["challenger"],
        )
        ratio.add_metric([self._challenger], agreeing / rows if rows else float("nan"))
        yield ratio


class BulkHistogram(Collector):
    """A histogram that takes a whole array of values at once.

    ``prometheus_client``'s own histogram observes one value per call: a
    Python loop over every row of a request.

    Parameters
    ----------
    name : str
        Metric name.
    documentation : str
        Its help text.
    bounds : sequence of float
        Upper bounds of the buckets, increasing; ``+Inf`` is added.
    """

    def __init__(self, name: str, documentation: str, bounds: Sequence[float]) -> None:
        self._name = name
        self._documentation = documentation
        self._bounds = np.asarray(bounds, dtype="float64")
        self._counts = np.zeros(len(bounds) + 1, dtype="int64")
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, values: np.ndarray[Any, Any]) -> None:
        """Add ``values`` to the buckets whose bounds they do not exceed."""
        slots = np.searchsorted(self._bounds, values, side="left")
        counts = np.bincount(slots, minlength=len(self._counts))
        with self._lock:
            self._counts += counts
            self._sum += float(np.sum(values))

    def collect(self) -> Iterator[Metric]:
        """Yield the histogram with its cumulative bucket counts."""
        with self._lock:
            cumulative = np.cumsum(self._counts).tolist()
            total = self._sum
        bounds = [*map(floatToGoString, self._bounds.tolist()), "+Inf"]
        yield HistogramMetricFamily(
            self._name,
            self._documentation,
            buckets=list(zip(bounds, cumulative, strict=True)),
            sum_value=total,
        )


class MetricsMiddleware:
    """ASGI middleware that counts and times every HTTP request.

    Parameters
    ----------
    app : ASGIApp
        The application it wraps.
    metrics : ServiceMetrics
        Where the requests are counted.
    routes : collection of str
        The paths the service serves; any other is counted as ``other``.
    """

    def __init__(
        self, app: ASGIApp, metrics: ServiceMetrics, routes: Sequence[str]
    ) -> None:
        self._app = app
        self._metrics = metrics
        self._routes = frozenset(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; count its route, status and duration."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path = scope["path"]
        route = path if path in self._routes else OTHER_ROUTE
        status = 500  # unless the application starts an answer

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self._app(scope, receive, send_and_note_status)
        finally:
            self._metrics.observe_request(route, status, time.perf_counter() - started)
