"""Applying a logged model: to a data frame, or to a file of any size in chunks."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PyFuncModel
from mlflow.pyfunc import load_model as load_pyfunc
from mlflow.types import DataType
from numpy.typing import NDArray

from . import tracking
from .config import Settings
from .data import ColumnDtypes, check_columns, iter_chunks, table_format
from .errors import DataError, ModelError, first_line

DEFAULT_CHUNK_SIZE = 100_000
PREDICTION_COLUMN = "prediction"


def load_model(uri: str) -> PyFuncModel:
    """Load the model at ``uri`` (``models:/name@alias``, ``runs:/...``, a path).

    Raises
    ------
    ModelError
        If there is no model at ``uri`` or it cannot be loaded.
    """
    try:
        return load_pyfunc(uri)
    except (MlflowException, OSError) as error:
        raise ModelError(f"cannot load model {uri!r}: {first_line(error)}") from None


def load_configured_model(settings: Settings, model_uri: str | None) -> PyFuncModel:
    """Load ``model_uri``, or else the configured champion, via the configured tracking.

    Raises
    ------
    ModelError
        If there is no such model or it cannot be loaded.
    """
    tracking.connect(settings.tracking)
    return load_model(model_uri or tracking.champion_uri(settings.tracking))


def input_columns(model: PyFuncModel) -> list[str]:
    """Return the columns the model's signature requires, in order."""
    signature = model.metadata.signature
    if signature is None:
        raise ModelError("the model was logged without a signature")
    return list(signature.inputs.input_names())


# pandas dtypes that satisfy MLflow's schema enforcement for each column type.
READ_DTYPES = {
    DataType.double: "float64",
    DataType.float: "float32",
    DataType.string: "object",
}


def read_dtypes(model: PyFuncModel) -> ColumnDtypes:
    """Return the pandas dtype to read each signature column with, where fixed."""
    signature = model.metadata.signature
    if signature is None:
        return {}
    return {
        spec.name: READ_DTYPES[spec.type]
        for spec in signature.inputs.inputs
        if spec.type in READ_DTYPES
    }


def predict_frame(model: PyFuncModel, df: pd.DataFrame, source: object) -> NDArray[Any]:
    """Predict for each row of ``df``; extra columns and column order are ignored.

    Raises
    ------
    DataError
        If a required column is missing or a value has the wrong type.
    """
    columns = input_columns(model)
    check_columns(df, columns, source)
    try:
        return np.asarray(model.predict(df[columns]))
    except MlflowException as error:
        raise DataError(f"{source}: {first_line(error)}") from None


def count_rows(path: Path) -> int:
    """Return the number of data rows in a CSV or Parquet file, cheaply."""
    if table_format(path) == "parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as handle:
        lines = sum(
            block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b"")
        )
    return max(lines - 1, 0)


class _ChunkWriter:
    """Append data frames to a CSV or Parquet file, one chunk at a time."""

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

    def __enter__(self) -> _ChunkWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._parquet is not None:
            self._parquet.close()


def predict_file(
    model: PyFuncModel,
    input_path: Path,
    output_path: Path,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    keep_columns: Sequence[str] = (),
    on_chunk: Callable[[int], object] | None = None,
) -> int:
    """Write a prediction for every row of ``input_path`` to ``output_path``.

    The input is read ``chunk_size`` rows at a time, so memory stays flat for
    files of any size. Output goes to a hidden temporary file that replaces
    ``output_path`` only once every row has been predicted: a failure never
    leaves a partial result. ``keep_columns`` are copied from the input (an ID,
    say); ``on_chunk`` is called with the number of rows of each chunk done.

    Returns
    -------
    int
        The number of rows predicted.
    """
    output_format = table_format(output_path)
    if not output_path.parent.is_dir():
        raise DataError(f"output directory does not exist: {output_path.parent}")
    temporary = output_path.with_name(f".{output_path.name}.partial")
    rows = 0
    try:
        with _ChunkWriter(temporary, output_format) as writer:
            for chunk in iter_chunks(input_path, chunk_size, read_dtypes(model)):
                if chunk.empty:
                    continue
                check_columns(chunk, keep_columns, input_path)
                predictions = predict_frame(model, chunk, input_path)
                writer.write(
                    chunk[list(keep_columns)].assign(**{PREDICTION_COLUMN: predictions})
                )
                rows += len(chunk)
                if on_chunk is not None:
                    on_chunk(len(chunk))
        if rows == 0:
            raise DataError(f"{input_path}: file has a header but no rows")
        os.replace(temporary, output_path)
    except OSError as error:
        raise DataError(
            f"cannot write {output_path}: {error.strerror or error}"
        ) from None
    finally:
        if temporary.is_file():
            temporary.unlink()
    return rows
