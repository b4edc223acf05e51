"""Reading tables, checking them at the door, and splitting them for training.

Every function here raises :class:`DataError` with a message that names the
file and the column at fault, so bad data stops a command before any model
sees it.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.model_selection import train_test_split

from .config import DataConfig
from .errors import DataError, first_line

logger = logging.getLogger(__name__)

CSV_SUFFIXES = frozenset({".csv"})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})

ColumnDtypes = Mapping[Hashable, str]
"""pandas dtype names for some columns of a table, by column name."""


class Dataset(NamedTuple):
    """Features and target of a labelled table."""

    features: pd.DataFrame
    target: pd.Series


class Split(NamedTuple):
    """A train/test split of a :class:`Dataset`."""

    train: Dataset
    test: Dataset


def table_format(path: Path) -> str:
    """Return ``"csv"`` or ``"parquet"`` from the file name, or raise."""
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise DataError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")


def _check_readable(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")


def read_table(path: Path, dtypes: ColumnDtypes | None = None) -> pd.DataFrame:
    """Read a whole CSV or Parquet file, with ``dtypes`` for some columns.

    Raises
    ------
    DataError
        If the file is missing, empty, unreadable or has no rows.
    """
    return _require_rows(pd.concat(iter_chunks(path, None, dtypes)), path)


def iter_chunks(
    path: Path, chunk_size: int | None, dtypes: ColumnDtypes | None = None
) -> Iterator[pd.DataFrame]:
    """Yield the rows of a CSV or Parquet file in chunks of ``chunk_size``.

    ``None`` reads the file in one chunk. Memory stays bounded by the chunk
    size, whatever the size of the file. Columns named in ``dtypes`` get that
    pandas dtype in every chunk, so a chunk without missing values does not
    turn a float column into integers, nor one full of them a text column
    into floats.
    """
    file_format = table_format(path)
    _check_readable(path)
    if file_format == "csv":
        yield from _iter_csv(path, chunk_size, dtypes)
    else:
        yield from _iter_parquet(path, chunk_size, dtypes)


def _iter_csv(
    path: Path, chunk_size: int | None, dtypes: ColumnDtypes | None
) -> Iterator[pd.DataFrame]:
    try:
        if chunk_size is None:
            yield pd.read_csv(path, dtype=dtypes)
            return
        with pd.read_csv(path, dtype=dtypes, chunksize=chunk_size) as reader:
            yield from reader
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file has no columns") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise DataError(
            f"{path}: not a readable CSV file ({first_line(error)})"
        ) from None


def _iter_parquet(
    path: Path, chunk_size: int | None, dtypes: ColumnDtypes | None
) -> Iterator[pd.DataFrame]:
    try:
        parquet = pq.ParquetFile(path)
        batches = (
            [parquet.read()]
            if chunk_size is None
            else parquet.iter_batches(batch_size=chunk_size)
        )
        for batch in batches:
            yield with_dtypes(batch.to_pandas(), dtypes or {})
    except (pa.ArrowException, OSError, ValueError, TypeError) as error:
        raise DataError(
            f"{path}: not a readable Parquet file ({first_line(error)})"
        ) from None


def with_dtypes(df: pd.DataFrame, dtypes: ColumnDtypes) -> pd.DataFrame:
    """Return ``df`` with ``dtypes`` applied; text columns get NaN for missing.

    Arrow spells a missing text value ``None`` where the CSV reader and the
    imputers expect NaN; left alone, such a row would skip imputation.
    """
    present = {column: dtype for column, dtype in dtypes.items() if column in df}
    text = [column for column, dtype in present.items() if dtype == "object"]
    return as_text(df.astype(present), text)


def _require_rows(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    if df.empty:
        raise DataError(f"{path}: file has a header but no rows")
    return df


def as_text(df: pd.DataFrame, columns: Sequence[Hashable]) -> pd.DataFrame:
    """Return ``df`` with ``columns`` as Python strings and NaN for missing.

    Categories are labels, so ``2007`` and ``"2007"`` must mean the same thing,
    and a missing value must look the same whichever reader produced it.
    """
    present = [column for column in columns if column in df.columns]
    if not present:
        return df
    converted = df.copy()
    for column in present:
        text = df[column].astype("string").astype(object)
        converted[column] = text.where(df[column].notna(), np.nan)
    return converted


def check_columns(df: pd.DataFrame, required: Sequence[str], source: object) -> None:
    """Raise ``DataError`` naming every column of ``required`` missing in ``df``."""
    missing = [column for column in required if column not in df.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)}")


def check_numeric(df: pd.DataFrame, columns: Sequence[str], source: object) -> None:
    """Raise ``DataError`` if any of ``columns`` holds non-numeric values."""
    for column in columns:
        if not pd.api.types.is_numeric_dtype(df[column]) or pd.api.types.is_bool_dtype(
            df[column]
        ):
            example = df[column].dropna().iloc[0] if df[column].notna().any() else None
            raise DataError(
                f"{source}: column {column!r} must be numeric, found {example!r}"
            )


def select_features(
    df: pd.DataFrame, config: DataConfig, source: object
) -> pd.DataFrame:
    """Return the feature columns of ``df`` in configuration order, checked.

    Extra columns are ignored and column order does not matter; a missing
    column or a non-numeric value in a numeric feature is a ``DataError``.
    """
    check_columns(df, config.features, source)
    check_numeric(df, config.numeric_features, source)
    features = df[config.features]
    return as_text(features, config.categorical_features)


def load_dataset(config: DataConfig, path: Path | None = None) -> Dataset:
    """Load the labelled table of ``config`` (or ``path``) as features and target.

    Rows without a target value cannot be learnt from and are dropped, with a
    log message saying how many.
    """
    source = path or config.path
    df = read_table(source, dict.fromkeys(config.categorical_features, "object"))
    check_columns(df, [config.target], source)
    labelled = df[df[config.target].notna()]
    dropped = len(df) - len(labelled)
    if dropped:
        logger.info("Dropped %d row(s) of %s without a target value", dropped, source)
    if labelled.empty:
        raise DataError(
            f"{source}: no row has a value in target column {config.target!r}"
        )
    features = select_features(labelled, config, source).reset_index(drop=True)
    return Dataset(features, labelled[config.target].reset_index(drop=True))


def split_dataset(
    dataset: Dataset, test_size: float, seed: int, stratify: pd.Series | None
) -> Split:
    """Split ``dataset`` reproducibly into train and test parts.

    Raises
    ------
    DataError
        If there are too few rows (or rows per class) to split.
    """
    try:
        x_train, x_test, y_train, y_test = train_test_split(
            dataset.features,
            dataset.target,
            test_size=test_size,
            random_state=seed,
            stratify=stratify,
        )
    except ValueError as error:
        raise DataError(f"cannot split the data: {first_line(error)}") from None
    return Split(Dataset(x_train, y_train), Dataset(x_test, y_test))
