"""Reading and writing CSV and Parquet tables, whole or in chunks of bounded size."""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError, first_line

CSV_SUFFIXES = frozenset({".csv"})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})

ColumnDtypes = Mapping[Hashable, str]
"""pandas dtype names for some columns of a table, by column name."""


def table_format(path: Path) -> str:
    """Return ``"csv"`` or ``"parquet"`` from the file name, or raise.

    Examples
    --------
    >>> table_format(Path("penguins.PQ"))
    'parquet'
    """
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
    table = pd.concat(iter_chunks(path, None, dtypes))
    if table.empty:
        raise DataError(f"{path}: file has a header but no rows")
    return table


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
    except pd.errors.EmptyDataError as error:
        raise DataError(f"{path}: file has no columns") from error
    except ValueError as error:
        # The parser names the value it could not convert, not its column.
        problem = _first_non_numeric_column(path, dtypes or {}) or first_line(error)
        raise DataError(f"{path}: not a readable CSV file ({problem})") from error
    except UnicodeDecodeError as error:
        raise DataError(
            f"{path}: not a readable CSV file ({first_line(error)})"
        ) from error


def _first_non_numeric_column(path: Path, dtypes: ColumnDtypes) -> str | None:
    """Describe the first numeric column of the CSV ``path`` holding a non-number.

    Reads the file again as text, so it runs only once a typed read failed.
    """
    numeric = [
        column
        for column, dtype in dtypes.items()
        if pd.api.types.is_numeric_dtype(np.dtype(dtype))
    ]
    text = dict.fromkeys(numeric, "object")
    try:
        with pd.read_csv(path, dtype=text, chunksize=100_000) as reader:
            for chunk in reader:
                for column in (name for name in numeric if name in chunk):
                    found = first_non_number(chunk[column])
                    if found is not None:
                        return f"column {column!r} must be numeric, found {found!r}"
    except ValueError:  # pandas' ParserError included
        return None
    return None


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
        ) from error


def first_non_number(values: pd.Series) -> object | None:
    """Return the first value of ``values`` that does not read as a number, if any.

    Missing values are not counted.

    Examples
    --------
    >>> first_non_number(pd.Series(["39.1", None, "heavy", "40"]))
    'heavy'
    >>> first_non_number(pd.Series(["39.1", "40"])) is None
    True
    """
    present = values.dropna()
    offending = present[pd.to_numeric(present, errors="coerce").isna()]
    return offending.iloc[0] if len(offending) else None


def count_rows(path: Path) -> int:
    """Return the number of data rows in a CSV or Parquet file, cheaply."""
    if table_format(path) == "parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as handle:
        lines = sum(
            block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b"")
        )
    return max(lines - 1, 0)


def with_dtypes(df: pd.DataFrame, dtypes: ColumnDtypes) -> pd.DataFrame:
    """Return ``df`` with ``dtypes`` applied; text columns get NaN for missing.

    Arrow spells a missing text value ``None`` where the CSV reader and the
    imputers expect NaN; left alone, such a row would skip imputation.
    """
    present = {column: dtype for column, dtype in dtypes.items() if column in df}
    text = [column for column, dtype in present.items() if dtype == "object"]
    return as_text(df.astype(present), text)


def as_text(df: pd.DataFrame, columns: Sequence[Hashable]) -> pd.DataFrame:
    """Return ``df`` with ``columns`` as Python strings and NaN for missing.

    Categories are labels, so ``2007`` and ``"2007"`` must mean the same thing,
    and a missing value must look the same whichever reader produced it.

    Examples
    --------
    >>> islands = pd.DataFrame({"island": ["Dream", None]})
    >>> as_text(islands, ["island"])["island"].tolist()
    ['Dream', nan]
    """
    present = [column for column in columns if column in df.columns]
    if not present:
        return df
    converted = df.copy()
    for column in present:
        text = df[column].astype("string").astype(object)
        converted[column] = text.where(df[column].notna(), np.nan)
    return converted


class ChunkWriter:
    """Append data frames to a CSV or Parquet file, one chunk at a time.

    Parameters
    ----------
    path : Path
        The file to write; it is created by the first chunk.
    file_format : str
        ``"csv"`` or ``"parquet"``, as :func:`table_format` names them.
    """

    def __init__(self, path: Path, file_format: str) -> None:
        self._path = path
        self._format = file_format
        self._parquet: pq.ParquetWriter | None = None
        self._started = False

    def write(self, df: pd.DataFrame) -> None:
        """Append ``df``; the first chunk fixes the header or schema."""
        if self._format == "csv":
            df.to_csv(
                self._path,
                mode="a" if self._started else "w",
                header=not self._started,
                index=False,
            )
        else:
            table = pa.Table.from_pandas(df, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self._path, table.schema)
            self._parquet.write_table(table)
        self._started = True

    def __enter__(self) -> ChunkWriter:
        """Return the writer, ready for its first chunk."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Finish the Parquet file, if one was started."""
        if self._parquet is not None:
            self._parquet.close()
