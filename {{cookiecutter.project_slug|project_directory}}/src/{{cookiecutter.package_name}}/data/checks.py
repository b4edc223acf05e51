"""Checks at the door: the columns a command needs are there, with usable values.

Every check raises :class:`~{{ cookiecutter.package_name }}.errors.DataError`
naming the file and the column at fault, so bad data stops a command before
any model sees it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..config import DataConfig
from ..errors import DataError
from .tables import as_text, first_non_number


def check_columns(df: pd.DataFrame, required: Sequence[str], source: object) -> None:
    """Raise ``DataError`` naming every column of ``required`` missing in ``df``."""
    missing = [column for column in required if column not in df.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)}")


def check_finite(df: pd.DataFrame, source: object) -> None:
    """Raise ``DataError`` if a numeric column of ``df`` holds an infinite number.

    A CSV file may spell one ``inf``; the pipelines cannot score it.

    Examples
    --------
    >>> check_finite(pd.DataFrame({"mass": [3.5, None]}), "new.csv")
    >>> check_finite(pd.DataFrame({"mass": [3.5, float("inf")]}), "new.csv")
    Traceback (most recent call last):
    ...
    {{ cookiecutter.package_name }}.errors.DataError: new.csv: ...
    """
    for column in df.select_dtypes("number").columns:
        values = df[column].to_numpy()
        infinite = np.isinf(values)
        if infinite.any():
            found = float(values[infinite.argmax()])
            raise DataError(
                f"{source}: column {column!r} must hold finite numbers, found {found}"
            )


def check_numeric(df: pd.DataFrame, columns: Sequence[str], source: object) -> None:
    """Raise ``DataError`` if any of ``columns`` holds non-numeric values."""
    for column in columns:
        if not pd.api.types.is_numeric_dtype(df[column]) or pd.api.types.is_bool_dtype(
            df[column]
        ):
            present = df[column].dropna()
            # A column of true/false values reads as numbers but is not one.
            found = first_non_number(present)
            example = next(iter(present), None) if found is None else found
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
