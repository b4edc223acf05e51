"""The prediction log: every scored row written to Parquet, off the request path.

The request handler hands each scored request to :class:`PredictionLog`, which
only puts it on a bounded queue; a background thread turns the requests into
rows, buffers them and writes one file per flush in the format of
``monitoring/log_format.py``. A full queue or a failing disk drops rows (and
counts them), so recording never fails or delays a request.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_object_dtype

from ..config import PredictionLogConfig, Settings
from ..files import atomic_path
from ..monitoring import log_format
from .model import ServedModel

logger = logging.getLogger(__name__)

QUEUE_REQUESTS = 1000
"""Requests waiting for the writer; beyond this, new requests are not recorded."""
WARNING_INTERVAL_SECONDS = 60.0
"""Shortest time between two warnings about a failing write."""
DRAIN_SECONDS = 0.2
"""How often the writer takes the requests queued since it last looked."""
STOP_TIMEOUT_SECONDS = 30.0
"""Longest wait for the writer to write what is buffered when the service stops."""
_STAMP_FORMAT = "%Y%m%dT%H%M%S%f"


@dataclass(frozen=True)
class ScoredRequest:
    """One scored request, as the handler hands it over.

    Attributes
    ----------
    features : pandas.DataFrame
        The checked input rows, in the model's column order.
    predictions : numpy.ndarray
        The model's answer for each row.
    request_id : str
        The request's ID, sent back in ``X-Request-ID``.
    latency_ms : float
        Milliseconds the model took to score the rows.
    scored_at : datetime.datetime
        When the request was scored (UTC).
    """

    features: pd.DataFrame
    predictions: np.ndarray[Any, Any]
    request_id: str
    latency_ms: float
    scored_at: datetime


class PredictionLog:
    """Records scored requests in rotating Parquet files from a background thread.

    Parameters
    ----------
    config : PredictionLogConfig
        The directory, size cap, sampling rate and flush triggers.
    model : ServedModel
        The served model, whose URI, version and task every row records.
    unwritten_columns : sequence of str
        Input columns never written, such as personal data.
    seed : int
        Seeds the choice of the requests recorded when ``sample_rate`` < 1.
    queue_requests : int, default=QUEUE_REQUESTS
        Requests that may wait for the writer before new ones are dropped.
    """

    def __init__(
        self,
        config: PredictionLogConfig,
        model: ServedModel,
        unwritten_columns: Sequence[str],
        seed: int,
        queue_requests: int = QUEUE_REQUESTS,
    ) -> None:
        self.config = config
        self._model = model
        self._unwritten = list(unwritten_columns)
        self._sampler = random.Random(seed)  # noqa: S311 (sampling, not security)
        # None asks the writer to flush and end.
        self._queue: queue.Queue[ScoredRequest | None] = queue.Queue(queue_requests)
        self._thread: threading.Thread | None = None
        self._dropped = 0
        self._dropped_lock = threading.Lock()
        self._last_warning = -WARNING_INTERVAL_SECONDS
        self._last_stamp = datetime.min.replace(tzinfo=UTC)

    @property
    def dropped_rows(self) -> int:
        """Rows of sampled requests not written, for a full queue or a failed write."""
        return self._dropped

    def start(self) -> None:
        """Start the writer thread; call once, before the first request."""
        self._thread = threading.Thread(
            target=self._write_until_stopped, name="prediction-log", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Write the buffered rows and end the writer thread."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=STOP_TIMEOUT_SECONDS)
        except queue.Full:
            logger.warning("The prediction log writer does not answer; stopping it")
        self._thread.join(STOP_TIMEOUT_SECONDS)
        self._thread = None

    def record(self, request: ScoredRequest) -> None:
        """Queue ``request`` for writing, unless sampling skips it; never waits.

        A request that finds the queue full is dropped and its rows counted.
        """
        if self._thread is None or self._sampler.random() >= self.config.sample_rate:
            return
        try:
            self._queue.put_nowait(request)
        except queue.Full:
            self._count_dropped(len(request.features))

    def _count_dropped(self, rows: int) -> None:
        with self._dropped_lock:
            self._dropped += rows

    def _write_until_stopped(self) -> None:
        """Buffer requests; flush at ``rows_per_file`` rows, ``flush_seconds``, stop.

        The queue is drained every :data:`DRAIN_SECONDS` rather than as each
        request arrives: a thread woken for every request would take the
        interpreter lock from the request handlers as often.
        """
        buffered: list[ScoredRequest] = []
        rows = 0
        deadline = float("inf")
        stopping = False
        while not stopping:
            time.sleep(DRAIN_SECONDS)
            for item in self._drained():
                if item is None:
                    stopping = True
                    break
                if not buffered:
                    deadline = time.monotonic() + self.config.flush_seconds
                buffered.append(item)
                rows += len(item.features)
                if rows >= self.config.rows_per_file:
                    self._flush(buffered, rows)
                    buffered, rows = [], 0
            if buffered and (stopping or time.monotonic() >= deadline):
                self._flush(buffered, rows)
                buffered, rows = [], 0

    def _drained(self) -> Iterator[ScoredRequest | None]:
        """Yield every item queued so far, without waiting for more."""
        while True:
            try:
                yield self._queue.get_nowait()
            except queue.Empty:
                return

    def _flush(self, requests: list[ScoredRequest], rows: int) -> None:
        """Write ``requests`` as one file and trim the directory; never raise."""
        try:
            self._write(log_rows(requests, self._model, self._unwritten))
        except Exception as error:  # the service keeps serving whatever happens
            self._count_dropped(rows)
            self._warn(f"cannot write {rows} rows, dropped them", error)
            return
        try:
            self._trim()
        except OSError as error:
            self._warn("cannot delete its oldest files", error)

    def _write(self, rows: pd.DataFrame) -> None:
        directory = self.config.directory
        directory.mkdir(parents=True, exist_ok=True)
        name = log_format.log_file_name(self._next_stamp(), os.getpid())
        with atomic_path(directory / name) as temporary:
            rows.to_parquet(temporary, index=False)

    def _next_stamp(self) -> str:
        """Return a UTC time stamp later than the previous one, for sortable names."""
        stamp = max(datetime.now(UTC), self._last_stamp + timedelta(microseconds=1))
        self._last_stamp = stamp
        return stamp.strftime(_STAMP_FORMAT)

    def _trim(self) -> None:
        """Delete the oldest files until the directory is within ``max_bytes``."""
        files = log_format.log_files(self.config.directory)
        sizes = [_size(path) for path in files]
        total = sum(sizes)
        for path, size in zip(files, sizes, strict=True):
            if total <= self.config.max_bytes:
                return
            # Another worker process may have deleted it already.
            path.unlink(missing_ok=True)
            total -= size

    def _warn(self, failure: str, error: Exception) -> None:
        """Log a failure at most once per ``WARNING_INTERVAL_SECONDS``.

        A failure other than the disk's is a bug: its traceback is logged too.
        """
        now = time.monotonic()
        if now - self._last_warning < WARNING_INTERVAL_SECONDS:
            return
        self._last_warning = now
        logger.warning(
            "Prediction log in %s: %s: %s (failures are reported once a minute)",
            self.config.directory,
            failure,
            error,
            exc_info=not isinstance(error, OSError),
        )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def log_rows(
    requests: Sequence[ScoredRequest],
    model: ServedModel,
    unwritten_columns: Sequence[str],
) -> pd.DataFrame:
    """Return the rows of ``requests`` in the log's format, one per scored row.

    The columns are built for all requests at once, not request by request,
    so that the writer holds the interpreter lock, which the request handlers
    need too, as briefly as it can. Text columns are written as strings even
    when they hold only missing values, so every file of the log has the same
    column types.
    """
    inputs = pd.concat([request.features for request in requests], ignore_index=True)
    inputs = inputs.drop(columns=[c for c in unwritten_columns if c in inputs])
    sizes = [len(request.features) for request in requests]
    predictions = np.concatenate([request.predictions for request in requests])
    records = {
        log_format.PREDICTION: (
            pd.array(predictions.astype(str), dtype="string")
            if model.is_classifier
            else predictions.astype("float64")
        ),
        log_format.MODEL_VERSION: _repeated(model.model_version, len(inputs)),
        log_format.MODEL_URI: _repeated(model.uri, len(inputs)),
        log_format.REQUEST_ID: pd.array(
            np.repeat([request.request_id for request in requests], sizes),
            dtype="string",
        ),
        log_format.ROW: np.concatenate([np.arange(size) for size in sizes]),
        log_format.LATENCY_MS: np.repeat(
            [request.latency_ms for request in requests], sizes
        ).astype("float64"),
        log_format.SCORED_AT: pd.DatetimeIndex(
            np.repeat([request.scored_at for request in requests], sizes)
        ),
    }
    rows = inputs.assign(**records)
    text = [name for name, dtype in rows.dtypes.items() if is_object_dtype(dtype)]
    return rows.astype(dict.fromkeys(text, "string"))


def _repeated(value: str | None, size: int) -> pd.api.extensions.ExtensionArray:
    """Return ``value`` ``size`` times as a string array (missing for ``None``)."""
    return pd.array([value] * size, dtype="string")


def open_prediction_log(settings: Settings, model: ServedModel) -> PredictionLog | None:
    """Return the configured prediction log of ``model``; None when it is disabled."""
    config = settings.monitoring.prediction_log
    if not config.enabled:
        logger.info("The prediction log is disabled")
        return None
    return PredictionLog(config, model, settings.data.unwritten_columns, settings.seed)
