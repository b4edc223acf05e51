"""Prediction with a logged model: for a data frame, or a file of any size in chunks."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PyFuncModel
from numpy.typing import NDArray

from ..data import (
    ChunkWriter,
    ColumnDtypes,
    check_columns,
    iter_chunks,
    table_format,
)
from ..errors import DataError, first_line
from ..files import atomic_path, check_output_path
from ..tracking.artifacts import input_columns, read_dtypes

DEFAULT_CHUNK_SIZE = 100_000
PREDICTION_COLUMN = "prediction"


def predict_frame(model: PyFuncModel, df: pd.DataFrame, source: object) -> NDArray[Any]:
    """Predict for each row of ``df``; extra columns and column order are ignored.

    Raises
    ------
    DataError
        If a required column is missing or a value has the wrong type.
    """
    columns = input_columns(model)
    check_columns(df, columns, source)
    inputs = with_decimal_columns(df[columns], read_dtypes(model))
    try:
        return np.asarray(model.predict(inputs))
    except MlflowException as error:
        raise DataError(f"{source}: {schema_problem(error)}") from error


def with_decimal_columns(df: pd.DataFrame, dtypes: ColumnDtypes) -> pd.DataFrame:
    """Return ``df`` with its integer columns that ``dtypes`` makes decimal converted.

    Every whole number is a decimal number, but MLflow's schema check refuses
    to convert a column of them.

    Examples
    --------
    >>> with_decimal_columns(pd.DataFrame({"n": [1, 2]}), {"n": "float64"})["n"].dtype
    dtype('float64')
    """
    decimal = {
        column: dtype
        for column, dtype in dtypes.items()
        if dtype.startswith("float")
        and column in df
        and pd.api.types.is_integer_dtype(df[column])
    }
    return df.astype(decimal)


def schema_problem(error: MlflowException) -> str:
    """Return what MLflow found wrong with the data, without its copy of the data.

    Examples
    --------
    >>> schema_problem(MlflowException("Failed to enforce schema of data '...'"
    ...     " with schema '...'. Error: Incompatible input types for column a."))
    'Incompatible input types for column a.'
    """
    _, separator, problem = str(error.message).rpartition(". Error: ")
    return problem if separator else first_line(error)


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
    leaves a partial result, and an output that names the input is refused
    before either is opened. ``keep_columns`` are copied from the input (an
    ID, say); ``on_chunk`` is called with the number of rows of each chunk done.

    Returns
    -------
    int
        The number of rows predicted.

    Raises
    ------
    DataError
        If the output cannot be written or would replace the input, or the
        input is missing, empty or lacks a column the model or
        ``keep_columns`` needs.
    """
    output_format = table_format(output_path)
    check_output_path(output_path, [input_path])
    rows = 0
    try:
        with (
            atomic_path(output_path) as temporary,
            ChunkWriter(temporary, output_format) as writer,
        ):
            for chunk in _predicted_chunks(model, input_path, chunk_size, keep_columns):
                writer.write(chunk)
                rows += len(chunk)
                if on_chunk is not None:
                    on_chunk(len(chunk))
            if rows == 0:
                raise DataError(f"{input_path}: file has a header but no rows")
    except OSError as error:
        raise DataError(
            f"cannot write {output_path}: {error.strerror or error}"
        ) from error
    return rows


def _predicted_chunks(
    model: PyFuncModel,
    input_path: Path,
    chunk_size: int,
    keep_columns: Sequence[str],
) -> Iterator[pd.DataFrame]:
    """Yield the kept columns and the prediction of each chunk of ``input_path``."""
    for chunk in iter_chunks(input_path, chunk_size, read_dtypes(model)):
        if chunk.empty:
            continue
        check_columns(chunk, keep_columns, input_path)
        predictions = predict_frame(model, chunk, input_path)
        yield chunk[list(keep_columns)].assign(**{PREDICTION_COLUMN: predictions})
