"""The prediction log's format: one Parquet file per batch of scored rows.

The scoring service writes the files; ``monitor`` reads them. Each row is one
scored input row: the model's input columns (less those the configuration
keeps out, such as personal data), then the columns below.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from ..data import ColumnDtypes, check_columns, iter_chunks

PREDICTION = "prediction"
"""The model's answer for the row, a class label or a number."""
MODEL_VERSION = "model_version"
"""The registry version that scored the row; missing for a model given by path."""
MODEL_URI = "model_uri"
"""Where the served model was loaded from."""
REQUEST_ID = "request_id"
"""The request's ``X-Request-ID`` header, or an ID the service made up and sent back."""
ROW = "row"
"""Position of the row in its request, from 0; with ``request_id``, the row's key."""
LATENCY_MS = "latency_ms"
"""Milliseconds the model took to score the whole request."""
SCORED_AT = "scored_at"
"""When the request was scored (UTC)."""
RECORD_COLUMNS = (
    PREDICTION,
    MODEL_VERSION,
    MODEL_URI,
    REQUEST_ID,
    ROW,
    LATENCY_MS,
    SCORED_AT,
)
"""The columns every log file has after the input columns."""

FILE_PREFIX = "predictions-"
FILE_SUFFIX = ".parquet"


def log_files(directory: Path, prefix: str = FILE_PREFIX) -> list[Path]:
    """Return the complete log files in ``directory``, oldest first.

    Files are written under a hidden name and renamed when complete, so a
    file being written is never listed. ``prefix`` tells the prediction log's
    files from those of another log written the same way (the shadow log's).
    """
    return sorted(directory.glob(f"{prefix}*{FILE_SUFFIX}"))


def log_file_name(stamp: str, process_id: int, prefix: str = FILE_PREFIX) -> str:
    """Return the name of a log file started at ``stamp`` by process ``process_id``.

    ``stamp`` is a UTC time written so that names sort in time order, e.g.
    ``20261130T081500123456``; the process ID keeps the files of several
    workers apart; ``prefix`` names the log, as in :func:`log_files`.

    Examples
    --------
    >>> log_file_name("20261130T081500123456", 42)
    'predictions-20261130T081500123456-42.parquet'
    """
    return f"{prefix}{stamp}-{process_id}{FILE_SUFFIX}"


def read_log(
    directory: Path, chunk_size: int, dtypes: ColumnDtypes | None = None
) -> Iterator[pd.DataFrame]:
    """Yield the rows of every complete log file in ``directory``, oldest first.

    Each file is read ``chunk_size`` rows at a time, with ``dtypes`` for some
    columns, so memory stays bounded whatever the size of the log.

    Raises
    ------
    DataError
        If a file is unreadable or lacks the columns every log file has.
    """
    for path in log_files(directory):
        for chunk in iter_chunks(path, chunk_size, dtypes):
            check_columns(chunk, RECORD_COLUMNS, path)
            yield chunk
