"""Prediction with a logged model: for a data frame, or a file of any size in chunks.

A file is checked against the model's data contract as it is predicted: rows
that break a soft rule (out of range, an unseen category, a missing value
where training had none) are scored and counted, or refused, as
``contract.on_break`` says.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PyFuncModel
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from ..config import Settings
from ..data import (
    ChunkWriter,
    ColumnDtypes,
    check_columns,
    check_finite,
    iter_chunks,
    table_format,
)
from ..data.contract import Break, Contract, TableCheck, TableChecker
from ..errors import DataError, first_line
from ..files import atomic_path, check_output_path
from ..model.inference import LeanPredictor
from ..tracking.artifacts import input_columns, model_contract, read_dtypes
from ..tracking.registry import champion_uri

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 100_000
# Slices of a chunk scored at once, each in a thread of its own with one
# OpenMP thread. Gradient boosting opens an OpenMP parallel region per tree;
# on a machine whose cores are busy each region waits until every one of its
# threads has been scheduled, so two OpenMP threads on one chunk were up to 3x
# slower than one. One slice per core keeps every core busy without that.
DEFAULT_THREADS = os.cpu_count() or 1
PREDICTION_COLUMN = "prediction"
# The flavor of a logged scikit-learn model, which the lean path can score.
SKLEARN_LOADER = "mlflow.sklearn"


@dataclass(frozen=True)
class ContractPolicy:
    """How :func:`predict_file` treats rows that break the model's data contract.

    Attributes
    ----------
    contract : Contract
        The data contract stored with the model.
    reject : bool
        Refuse a file with rows breaking a soft rule, rather than score them.
    """

    contract: Contract
    reject: bool


@dataclass(frozen=True)
class PredictedFile:
    """What :func:`predict_file` wrote.

    Attributes
    ----------
    rows : int
        Rows predicted.
    contract_check : TableCheck or None
        What the input broke of the data contract; ``None`` without a policy.
    """

    rows: int
    contract_check: TableCheck | None


def predict_frame(model: PyFuncModel, df: pd.DataFrame, source: object) -> NDArray[Any]:
    """Predict for each row of ``df``; extra columns and column order are ignored.

    Raises
    ------
    DataError
        If a required column is missing, a value has the wrong type or a
        number is infinite.
    """
    columns = input_columns(model)
    check_columns(df, columns, source)
    inputs = with_decimal_columns(df[columns], read_dtypes(model))
    check_finite(inputs, source)
    try:
        return np.asarray(model.predict(inputs))
    except MlflowException as error:
        raise DataError(f"{source}: {schema_problem(error)}") from error


def chunk_scorer(
    model: PyFuncModel, source: object
) -> Callable[[pd.DataFrame], NDArray[Any]]:
    """Return a function predicting, like :func:`predict_frame`, the rows of ``source``.

    Reading gives every column its signature's type when that type is a
    decimal number or text (see ``read_dtypes``). For a scikit-learn model
    whose signature has only such columns, MLflow's schema check of each
    chunk would find nothing to convert or refuse: chunks are then scored by
    a :class:`~{{ cookiecutter.package_name }}.model.inference.LeanPredictor`
    of the pipeline, with the same predictions. Any other model, or a chunk
    of other types, goes through MLflow as before.
    """
    columns = input_columns(model)
    dtypes = {column: np.dtype(dtype) for column, dtype in read_dtypes(model).items()}
    if model.loader_module != SKLEARN_LOADER or dtypes.keys() != set(columns):
        return lambda df: predict_frame(model, df, source)
    lean = LeanPredictor(model.get_raw_model())  # type: ignore[no-untyped-call]

    def predict(df: pd.DataFrame) -> NDArray[Any]:
        check_columns(df, columns, source)
        inputs = df[columns]
        if any(inputs[column].dtype != dtype for column, dtype in dtypes.items()):
            return predict_frame(model, df, source)
        check_finite(inputs, source)
        return lean.predict(inputs)

    return predict


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


def contract_policy(
    settings: Settings, model_uri: str | None, model_dir: Path | None = None
) -> ContractPolicy | None:
    """Return the configured policy for the contract of ``model_uri`` (or the champion).

    ``model_dir`` is a copy of that model already downloaded. ``None`` for a
    model logged before contracts were: it is predicted unchecked, as before.
    """
    uri = model_uri or champion_uri(settings.tracking)
    contract = model_contract(uri, model_dir)
    if contract is None:
        logger.info("%s has no data contract: its inputs are not checked", uri)
        return None
    return ContractPolicy(contract, reject=settings.contract.on_break == "reject")


def predict_file(
    model: PyFuncModel,
    input_path: Path,
    output_path: Path,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    keep_columns: Sequence[str] = (),
    unwritten: Sequence[str] = (),
    policy: ContractPolicy | None = None,
    on_chunk: Callable[[int], object] | None = None,
    threads: int = DEFAULT_THREADS,
) -> PredictedFile:
    """Write a prediction for every row of ``input_path`` to ``output_path``.

    The input is read ``chunk_size`` rows at a time, so memory stays flat for
    files of any size. Output goes to a hidden temporary file that replaces
    ``output_path`` only once every row has been predicted: a failure never
    leaves a partial result, and an output that names the input is refused
    before either is opened. ``keep_columns`` are copied from the input (an
    ID, say), unless they are ``unwritten`` (personal data); ``policy``
    checks every row against the data contract; ``on_chunk`` is called with
    the number of rows of each chunk done; ``threads`` slices of a chunk
    are scored at once, each by a single OpenMP thread.

    Raises
    ------
    DataError
        If the output cannot be written or would replace the input, the
        input is missing, empty or lacks a column the model or
        ``keep_columns`` needs, a kept column is unwritten, or rows break the
        contract of a policy that rejects them.
    """
    output_format = table_format(output_path)
    check_output_path(output_path, [input_path])
    refuse_unwritten(keep_columns, unwritten)
    checker = None if policy is None else TableChecker(policy.contract)
    rows = 0
    try:
        with (
            atomic_path(output_path) as temporary,
            ChunkWriter(temporary, output_format) as writer,
        ):
            chunks = _predicted_chunks(
                model, input_path, chunk_size, keep_columns, threads
            )
            for chunk in _checked(chunks, checker, policy, input_path):
                writer.write(chunk)
                rows += len(chunk)
                if on_chunk is not None:
                    on_chunk(len(chunk))
            if rows == 0:
                raise DataError(f"{input_path}: file has a header but no rows")
            contract_check = None if checker is None else checker.result()
            if contract_check is not None and policy is not None:
                _enforce(contract_check.breaks, policy, input_path)
    except OSError as error:
        raise DataError(
            f"cannot write {output_path}: {error.strerror or error}"
        ) from error
    if contract_check is not None:
        report_breaks(contract_check, input_path)
    return PredictedFile(rows, contract_check)


def refuse_unwritten(columns: Sequence[str], unwritten: Sequence[str]) -> None:
    """Raise ``DataError`` if any of ``columns`` must not be written.

    Examples
    --------
    >>> refuse_unwritten(["id"], ["email"])
    >>> refuse_unwritten(["id", "email"], ["email"])
    Traceback (most recent call last):
    ...
    {{ cookiecutter.package_name }}.errors.DataError: cannot keep 'email': ...
    """
    for column in columns:
        if column in unwritten:
            raise DataError(
                f"cannot keep {column!r}: it is personal data"
                " (data.personal_columns), written only when data.write_personal"
                " is true"
            )


def report_breaks(check: TableCheck, source: object) -> None:
    """Log a WARNING per rule the rows of ``source`` broke and were scored anyway."""
    for found in check.breaks:
        logger.warning(
            "%s: scored despite the data contract: %s", source, found.describe()
        )


def _enforce(breaks: Sequence[Break], policy: ContractPolicy, source: object) -> None:
    """Raise ``DataError`` if ``policy`` rejects rows breaking a soft rule."""
    soft = [found for found in breaks if not found.hard]
    if policy.reject and soft:
        more = f" (and {len(soft) - 1} more rule(s))" if len(soft) > 1 else ""
        raise DataError(
            f"{source}: rows break the data contract, which contract.on_break"
            f" rejects: {soft[0].describe()}{more}"
        )


def _checked(
    chunks: Iterator[tuple[pd.DataFrame, pd.DataFrame]],
    checker: TableChecker | None,
    policy: ContractPolicy | None,
    source: object,
) -> Iterator[pd.DataFrame]:
    """Yield each predicted chunk once its input passed the contract's check."""
    for inputs, predicted in chunks:
        if checker is not None and policy is not None:
            _enforce(checker.add(inputs).breaks, policy, source)
        yield predicted


def _predicted_chunks(
    model: PyFuncModel,
    input_path: Path,
    chunk_size: int,
    keep_columns: Sequence[str],
    threads: int,
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Yield each chunk of ``input_path`` with its kept columns and prediction.

    Each chunk is cut into ``threads`` slices scored side by side, so memory
    holds one chunk, as when it is scored whole.
    """
    score = chunk_scorer(model, input_path)

    def predicted(rows: pd.DataFrame) -> NDArray[Any]:
        # OpenMP keeps the limit per thread: it holds for this slice only.
        with threadpool_limits(limits=1, user_api="openmp"):
            return score(rows)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for chunk in iter_chunks(input_path, chunk_size, read_dtypes(model)):
            if chunk.empty:
                continue
            check_columns(chunk, keep_columns, input_path)
            step = -(-len(chunk) // threads)
            slices = [
                chunk.iloc[start : start + step] for start in range(0, len(chunk), step)
            ]
            # One slice is scored here: handing it to a thread only waits.
            scored = (
                [predicted(slices[0])]
                if len(slices) == 1
                else pool.map(predicted, slices)
            )
            predictions = np.concatenate(list(scored))
            yield chunk, chunk[list(keep_columns)].assign(
                **{PREDICTION_COLUMN: predictions}
            )
