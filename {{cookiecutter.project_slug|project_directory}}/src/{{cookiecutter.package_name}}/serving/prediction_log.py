"""The prediction log: every scored row written to Parquet, off the request path.

The request handler hands each scored request to :class:`PredictionLog`, which
only puts it on a bounded queue; a background thread turns the requests into
rows, buffers them and writes one file per flush in the format of
``monitoring/log_format.py``. A full queue or a failing disk drops rows (and
counts them), so recording never fails or delays a request. The writer,
:class:`ParquetLog`, takes the function building the rows, so the shadow log
(``serving/shadow.py``) writes its own rows the same way.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

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
class ScoredRequests:
    """Requests scored in one model call, as the service hands them over.

    One entry per model call rather than per request keeps the writer's
    work, and the objects the garbage collector walks, small under load.

    Attributes
    ----------
    features : pandas.DataFrame
        The checked input rows of every request, in order, in the model's
        column order.
    predictions : numpy.ndarray
        The model's answer for each row.
    request_ids : tuple of str
        Each request's ID, sent back in ``X-Request-ID``.
    sizes : tuple of int
        How many rows each request holds, in the same order.
    latency_ms : float
        Milliseconds the model took to score the rows.
    scored_at : datetime.datetime
        When the requests were scored (UTC).
    """

    features: pd.DataFrame
    predictions: np.ndarray[Any, Any]
    request_ids: tuple[str, ...]
    sizes: tuple[int, ...]
    latency_ms: float
    scored_at: datetime


class Scored(Protocol):
    """What the log writes: scored input rows, with anything else rows need."""

    @property
    def features(self) -> pd.DataFrame:
        """The input rows."""
        ...


Entry = TypeVar("Entry", bound=Scored)
"""The type of what one log records for each request."""


class ParquetLog(Generic[Entry]):
    """Writes queued entries to rotating Parquet files from a background thread.

    The request handler only queues an entry; the thread turns buffered
    entries into one table with ``build_rows`` when a file is due, and
    deletes the oldest files beyond the size cap.

    Parameters
    ----------
    config : PredictionLogConfig
        The directory, size cap, sampling rate and flush triggers.
    build_rows : callable
        Turns a batch of entries into the rows of one file; an empty table
        writes nothing.
    file_name : callable
        Returns a file's name from a UTC time stamp and the process ID.
    list_files : callable
        Returns the complete files of a directory, oldest first.
    seed : int
        Seeds the choice of the entries recorded when ``sample_rate`` < 1.
    title : str, default="Prediction log"
        Names the log in warnings and its writer thread.
    queue_requests : int, default=QUEUE_REQUESTS
        Entries that may wait for the writer before new ones are dropped.
    """

    def __init__(
        self,
        config: PredictionLogConfig,
        build_rows: Callable[[Sequence[Entry]], pd.DataFrame],
        file_name: Callable[[str, int], str],
        list_files: Callable[[Path], list[Path]],
        seed: int,
        *,
        title: str = "Prediction log",
        queue_requests: int = QUEUE_REQUESTS,
    ) -> None:
        self.config = config
        self._build_rows = build_rows
        self._file_name = file_name
        self._list_files = list_files
        self._title = title
        self._sampler = random.Random(seed)  # noqa: S311 (sampling, not security)
        # None asks the writer to flush and end.
        self._queue: queue.Queue[Entry | None] = queue.Queue(queue_requests)
        self._thread: threading.Thread | None = None
        self._dropped = 0
        self._dropped_lock = threading.Lock()
        self._last_warning = -WARNING_INTERVAL_SECONDS
        self._last_stamp = datetime.min.replace(tzinfo=UTC)

    @property
    def dropped_rows(self) -> int:
        """Rows of sampled entries not written, for a full queue or a failed write."""
        return self._dropped

    def start(self) -> None:
        """Start the writer thread; call once, before the first request."""
        self._thread = threading.Thread(
            target=self._write_until_stopped,
            name=self._title.lower().replace(" ", "-"),
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Write the buffered rows and end the writer thread."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=STOP_TIMEOUT_SECONDS)
        except queue.Full:
            logger.warning("%s: the writer does not answer; stopping it", self._title)
        self._thread.join(STOP_TIMEOUT_SECONDS)
        self._thread = None

    def draw(self, requests: int) -> list[bool]:
        """Draw, for each of ``requests`` requests, whether sampling records it."""
        if self._thread is None:
            return [False] * requests
        rate = self.config.sample_rate
        return [self._sampler.random() < rate for _ in range(requests)]

    def record(self, entry: Entry) -> None:
        """Queue ``entry`` for writing, unless sampling skips it; never waits.

        An entry that finds the queue full is dropped and its rows counted.
        """
        if self.draw(1)[0]:
            self.record_drawn(entry)

    def record_drawn(self, entry: Entry) -> None:
        """Queue ``entry``, whose requests :meth:`draw` kept; never waits.

        An entry that finds the queue full is dropped and its rows counted.
        """
        if self._thread is None:
            return
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self._count_dropped(len(entry.features))

    def _count_dropped(self, rows: int) -> None:
        with self._dropped_lock:
            self._dropped += rows

    def _write_until_stopped(self) -> None:
        """Buffer entries; flush at ``rows_per_file`` rows, ``flush_seconds``, stop.

        The queue is drained every :data:`DRAIN_SECONDS` rather than as each
        entry arrives: a thread woken for every request would take the
        interpreter lock from the request handlers as often.
        """
        buffered: list[Entry] = []
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

    def _drained(self) -> Iterator[Entry | None]:
        """Yield every item queued so far, without waiting for more."""
        while True:
            try:
                yield self._queue.get_nowait()
            except queue.Empty:
                return

    def _flush(self, entries: list[Entry], rows: int) -> None:
        """Write ``entries`` as one file and trim the directory; never raise."""
        try:
            table = self._build_rows(entries)
            if table.empty:
                return
            self._write(table)
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
        name = self._file_name(self._next_stamp(), os.getpid())
        with atomic_path(directory / name) as temporary:
            rows.to_parquet(temporary, index=False)

    def _next_stamp(self) -> str:
        """Return a UTC time stamp later than the previous one, for sortable names."""
        stamp = max(datetime.now(UTC), self._last_stamp + timedelta(microseconds=1))
        self._last_stamp = stamp
        return stamp.strftime(_STAMP_FORMAT)

    def _trim(self) -> None:
        """Delete the oldest files until the directory is within ``max_bytes``."""
        files = self._list_files(self.config.directory)
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
            "%s in %s: %s: %s (failures are reported once a minute)",
            self._title,
            self.config.directory,
            failure,
            error,
            exc_info=not isinstance(error, OSError),
        )


class PredictionLog(ParquetLog[ScoredRequests]):
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
        unwritten = list(unwritten_columns)
        super().__init__(
            config,
            lambda requests: log_rows(requests, model, unwritten),
            log_format.log_file_name,
            log_format.log_files,
            seed,
            queue_requests=queue_requests,
        )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def log_rows(
    requests: Sequence[ScoredRequests],
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
    ids = [identifier for request in requests for identifier in request.request_ids]
    sizes = [size for request in requests for size in request.sizes]
    entry_sizes = [len(request.features) for request in requests]
    predictions = np.concatenate([request.predictions for request in requests])
    records = {
        log_format.PREDICTION: logged_predictions(predictions, model.is_classifier),
        log_format.MODEL_VERSION: repeated_text(model.model_version, len(inputs)),
        log_format.MODEL_URI: repeated_text(model.uri, len(inputs)),
        log_format.REQUEST_ID: pd.array(np.repeat(ids, sizes), dtype="string"),
        log_format.ROW: np.concatenate([np.arange(size) for size in sizes]),
        log_format.LATENCY_MS: np.repeat(
            [request.latency_ms for request in requests], entry_sizes
        ).astype("float64"),
        log_format.SCORED_AT: pd.DatetimeIndex(
            np.repeat([request.scored_at for request in requests], entry_sizes)
        ),
    }
    rows = inputs.assign(**records)
    text = [name for name, dtype in rows.dtypes.items() if is_object_dtype(dtype)]
    return rows.astype(dict.fromkeys(text, "string"))


def logged_predictions(
    predictions: np.ndarray[Any, Any], is_classifier: bool
) -> pd.api.extensions.ExtensionArray | np.ndarray[Any, Any]:
    """Return ``predictions`` as written: text for classes, else float64 numbers.

    The same types in every file, whatever the classes' own type, keep the
    files of a log readable as one table.
    """
    if is_classifier:
        return pd.array(predictions.astype(str), dtype="string")
    return predictions.astype("float64")


def repeated_text(value: str | None, size: int) -> pd.api.extensions.ExtensionArray:
    """Return ``value`` ``size`` times as a string array (missing for ``None``)."""
    return pd.array([value] * size, dtype="string")


def open_prediction_log(settings: Settings, model: ServedModel) -> PredictionLog | None:
    """Return the configured prediction log of ``model``; None when it is disabled."""
    config = settings.monitoring.prediction_log
    if not config.enabled:
        logger.info("The prediction log is disabled")
        return None
    return PredictionLog(config, model, settings.data.unwritten_columns, settings.seed)
