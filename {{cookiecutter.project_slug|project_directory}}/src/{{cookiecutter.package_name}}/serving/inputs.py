"""Turning scoring requests into the data frame the model's signature describes.

Requests follow MLflow's scoring protocol: a JSON object with one of
``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs``, or a
CSV table. As with ``mlflow models serve``, columns the signature does not
name are ignored, so rows copied from the training data (target included)
score. Every column the model takes is checked against the signature before
the model sees it, and a bad request raises :class:`InvalidRequestError`
naming the problem.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import DataType

from ..data.checks import check_finite
from ..data.tables import ColumnDtypes
from ..errors import DataError, ModelError


class InvalidRequestError(ValueError):
    """A request the model cannot score; the message is for the client.

    Parameters
    ----------
    message : str
        What is wrong with the request.
    error_code : str, default="INVALID_PARAMETER_VALUE"
        MLflow's name for the kind of error.
    status : int, default=400
        The HTTP status of the answer.
    """

    def __init__(
        self,
        message: str,
        error_code: str = "INVALID_PARAMETER_VALUE",
        status: int = 400,
    ) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.status = status


@dataclass(frozen=True)
class ColumnKind:
    """How the values of one signature type are checked and stored."""

    dtype: str
    accepts: Callable[[object], bool]
    nullable: bool
    description: str


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_boolean(value: object) -> bool:
    return isinstance(value, bool)


def _is_text(value: object) -> bool:
    return isinstance(value, str)


COLUMN_KINDS: dict[DataType, ColumnKind] = {
    DataType.double: ColumnKind("float64", _is_number, True, "a number or null"),
    DataType.float: ColumnKind("float32", _is_number, True, "a number or null"),
    DataType.long: ColumnKind("int64", _is_integer, False, "an integer"),
    DataType.integer: ColumnKind("int32", _is_integer, False, "an integer"),
    DataType.boolean: ColumnKind("bool", _is_boolean, False, "true or false"),
    DataType.string: ColumnKind("object", _is_text, True, "a string or null"),
}
PAYLOAD_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
RequestColumns = dict[str, np.ndarray[Any, Any]]
"""The checked values of a request, one array per input column, in order."""


@dataclass(frozen=True)
class Column:
    """One input column of the model: its name and how its values are checked."""

    name: str
    kind: ColumnKind


def signature_columns(signature: ModelSignature | None) -> list[Column]:
    """Return the model's input columns, in order, from its signature.

    Raises
    ------
    ModelError
        If the model has no column-based signature, or a column type that
        cannot arrive in a JSON or CSV request.
    """
    if signature is None or not signature.inputs.has_input_names():
        raise ModelError("the model has no signature with named input columns")
    columns = []
    for spec in signature.inputs.inputs:
        kind = COLUMN_KINDS.get(spec.type)
        if kind is None:
            raise ModelError(f"column {spec.name!r} has unsupported type {spec.type}")
        columns.append(Column(spec.name, kind))
    return columns


def parse_json(body: bytes, columns: Sequence[Column]) -> pd.DataFrame:
    """Return the rows of an MLflow JSON scoring request as a checked data frame.

    Columns the signature does not name are ignored.

    Raises
    ------
    InvalidRequestError
        If the body is not JSON, has no (or more than one) known payload key,
        lacks a column of the signature, or a value does not match its type.
    """
    return pd.DataFrame(parse_json_columns(body, columns), copy=False)


def parse_json_columns(body: bytes, columns: Sequence[Column]) -> RequestColumns:
    """Return the rows of an MLflow JSON scoring request as checked columns.

    The same as :func:`parse_json` without building a data frame, which
    costs more than checking a row: the service builds one per batch of
    requests instead.

    Raises
    ------
    InvalidRequestError
        If the body is not JSON, has no (or more than one) known payload key,
        lacks a column of the signature, or a value does not match its type.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidRequestError(
            f"malformed JSON: {error}", "MALFORMED_REQUEST"
        ) from error
    if not isinstance(document, dict):
        raise InvalidRequestError(_expected_keys_message(), "MALFORMED_REQUEST")
    unknown = sorted(set(document).difference(PAYLOAD_KEYS))
    keys = [key for key in PAYLOAD_KEYS if key in document]
    if unknown or len(keys) != 1:
        raise InvalidRequestError(_expected_keys_message(unknown), "MALFORMED_REQUEST")
    payload = document[keys[0]]
    if keys[0] == "dataframe_split":
        values = _split_columns(payload)
    else:
        values = _record_columns(payload, keys[0])
    return _checked_columns(values, columns)


def parse_csv(body: bytes, columns: Sequence[Column]) -> pd.DataFrame:
    """Return the rows of a CSV scoring request (header line first) as a data frame.

    Columns the signature does not name are ignored.

    Raises
    ------
    InvalidRequestError
        If the body is not CSV, lacks a column of the signature, a value does
        not match its type, or a number is infinite.
    """
    dtypes: ColumnDtypes = {column.name: column.kind.dtype for column in columns}
    try:
        df = pd.read_csv(io.BytesIO(body), dtype=dtypes)
    except pd.errors.EmptyDataError as error:
        raise InvalidRequestError("the request has no rows to score") from error
    except (ValueError, pd.errors.ParserError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InvalidRequestError(
            f"malformed CSV: {message}", "MALFORMED_REQUEST"
        ) from error
    _check_required([str(name) for name in df.columns], columns)
    if df.empty:
        raise InvalidRequestError("the request has no rows to score")
    df = df[[column.name for column in columns]]
    # CSV can spell an infinite number, JSON cannot; the model is called
    # without scikit-learn's check of finite values.
    try:
        check_finite(df, "the request")
    except DataError as error:
        raise InvalidRequestError(str(error)) from error
    return df


def _expected_keys_message(unknown: Sequence[str] = ()) -> str:
    found = f"unknown key(s) {', '.join(map(repr, unknown))}; " if unknown else ""
    return (
        f"{found}expected a JSON object with exactly one of: {', '.join(PAYLOAD_KEYS)}"
    )


def _split_columns(payload: object) -> Mapping[str, Sequence[object]]:
    """Transpose ``{"columns": [...], "data": [[...], ...]}`` into columns."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise InvalidRequestError(
            "dataframe_split must be an object with 'columns' and 'data' lists"
        )
    names, rows = payload.get("columns"), payload["data"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidRequestError(
            "dataframe_split.columns must be a list of column names"
        )
    width = len(names)
    for number, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise InvalidRequestError(
                f"dataframe_split.data row {number} is not a list of {width} values"
            )
    if len(set(names)) != width:
        raise InvalidRequestError("dataframe_split.columns names a column twice")
    return (
        dict(zip(names, zip(*rows, strict=True), strict=True))
        if rows
        else dict.fromkeys(names, ())
    )


def _record_columns(payload: object, key: str) -> Mapping[str, Sequence[object]]:
    """Collect columns from a list of records, or take a mapping of columns."""
    if isinstance(payload, dict):
        if not all(isinstance(values, list) for values in payload.values()):
            raise InvalidRequestError(
                f"{key} as an object must map each column to a list"
            )
        lengths = {len(values) for values in payload.values()}
        if len(lengths) > 1:
            raise InvalidRequestError(f"{key} columns have different lengths")
        return payload
    if not isinstance(payload, list) or not all(isinstance(r, dict) for r in payload):
        raise InvalidRequestError(
            f"{key} must be a list of records (objects) or an object"
        )
    names = dict.fromkeys(name for record in payload for name in record)
    return {name: [record.get(name) for record in payload] for name in names}


def _check_required(names: Sequence[str], columns: Sequence[Column]) -> None:
    missing = [column.name for column in columns if column.name not in names]
    if missing:
        raise InvalidRequestError(
            f"missing column(s): {', '.join(missing)};"
            f" the model takes: {', '.join(column.name for column in columns)}"
        )


def _checked_columns(
    values: Mapping[str, Sequence[object]], columns: Sequence[Column]
) -> RequestColumns:
    """Check the values of the model's columns; return them as arrays, in order."""
    _check_required(list(values), columns)
    arrays = {
        column.name: _checked_array(column, values[column.name]) for column in columns
    }
    if not len(next(iter(arrays.values()))):
        raise InvalidRequestError("the request has no rows to score")
    return arrays


def _checked_array(column: Column, values: Sequence[object]) -> np.ndarray[Any, Any]:
    kind = column.kind
    for row, value in enumerate(values):
        if not (kind.accepts(value) or (value is None and kind.nullable)):
            raise InvalidRequestError(
                f"column {column.name!r}, row {row}: expected {kind.description},"
                f" got {_json_type(value)}"
            )
    if kind.dtype == "object":
        return np.array([np.nan if v is None else v for v in values], dtype=object)
    try:
        return np.array(values, dtype=kind.dtype)
    except OverflowError as error:
        raise InvalidRequestError(
            f"column {column.name!r}: a number is out of range"
        ) from error


def _json_type(value: object) -> str:
    names = {bool: "a boolean", str: "a string", list: "a list", dict: "an object"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")
