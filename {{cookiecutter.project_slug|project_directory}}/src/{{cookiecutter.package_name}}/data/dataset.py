"""Labelled tables as features and target, and their reproducible split."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Final, NamedTuple

import pandas as pd
from sklearn.model_selection import train_test_split

from ..config import DataConfig
from ..errors import DataError
from .checks import check_columns, select_features
from .tables import read_table

logger = logging.getLogger(__name__)

MIN_ROWS_PER_PART: Final = 2
"""Fewest rows in each of the training and the test part, as one row says nothing."""

MIN_ROWS_PER_CLASS: Final = 2
"""Fewest rows of a class for a stratified split to put it in both parts."""


class Dataset(NamedTuple):
    """Features and target of a labelled table, and the columns kept for audits.

    ``audit`` holds the columns read only to audit the model's fairness (see
    the ``fairness`` section of the configuration), on the index of
    ``features``; ``None`` when there are none.
    """

    features: pd.DataFrame
    target: pd.Series
    audit: pd.DataFrame | None = None


class Split(NamedTuple):
    """A train/test split of a :class:`Dataset`."""

    train: Dataset
    test: Dataset


def load_dataset(
    config: DataConfig, path: Path | None = None, audit_columns: Sequence[str] = ()
) -> Dataset:
    """Load the labelled table of ``config`` (or ``path``) as features and target.

    Rows without a target value cannot be learnt from and are dropped, with a
    warning saying how many. ``audit_columns``, read as text, fill the
    dataset's ``audit`` table.

    Raises
    ------
    DataError
        If the file is unusable, a column is missing, a numeric feature holds
        text, or no row has a target value.
    """
    source = path or config.path
    text_columns = [*config.categorical_features, *audit_columns]
    df = read_table(source, dict.fromkeys(text_columns, "object"))
    check_columns(df, [config.target], source)
    check_audit_columns(df, audit_columns, source)
    labelled = df[df[config.target].notna()]
    dropped = len(df) - len(labelled)
    if dropped:
        logger.warning(
            "Dropped %d row(s) of %s without a value in target column %r",
            dropped,
            source,
            config.target,
        )
    if labelled.empty:
        raise DataError(
            f"{source}: no row has a value in target column {config.target!r}"
        )
    features = select_features(labelled, config, source).reset_index(drop=True)
    audit = labelled[list(audit_columns)].reset_index(drop=True)
    return Dataset(
        features,
        labelled[config.target].reset_index(drop=True),
        audit if audit_columns else None,
    )


def check_audit_columns(
    df: pd.DataFrame, audit_columns: Sequence[str], source: object
) -> None:
    """Raise ``DataError`` unless ``df`` has every column audited for fairness."""
    missing = [column for column in audit_columns if column not in df.columns]
    if missing:
        names = ", ".join(repr(column) for column in missing)
        raise DataError(
            f"{source}: no column {names} to audit: name columns of this table in"
            " fairness.sensitive_features, or leave it empty"
        )


def split_sizes(n_rows: int, test_size: float) -> tuple[int, int]:
    """Return the training and test row counts of a split, as scikit-learn makes it.

    Examples
    --------
    >>> split_sizes(10, 0.25)
    (7, 3)
    """
    n_test = math.ceil(test_size * n_rows)
    return n_rows - n_test, n_test


def rows_needed(test_size: float, per_part: int) -> int:
    """Return the fewest rows whose split leaves ``per_part`` rows in each part.

    Examples
    --------
    >>> rows_needed(0.25, 2)
    5
    """
    n_rows = 2 * per_part
    while min(split_sizes(n_rows, test_size)) < per_part:
        n_rows += 1
    return n_rows


def check_split_size(
    target: pd.Series, test_size: float, stratify: pd.Series | None, source: object
) -> None:
    """Raise ``DataError`` unless ``target`` has enough rows to split.

    Both parts need :data:`MIN_ROWS_PER_PART` rows. A split stratified on
    class labels needs two rows of every class, and at least one row per class
    in each part.
    """
    per_part, reason = MIN_ROWS_PER_PART, f"{MIN_ROWS_PER_PART} rows"
    if stratify is not None:
        counts = stratify.value_counts()
        rare = counts[counts < MIN_ROWS_PER_CLASS]
        if not rare.empty:
            classes = ", ".join(f"{label!r} ({count})" for label, count in rare.items())
            raise DataError(
                f"{source}: the stratified split needs at least {MIN_ROWS_PER_CLASS}"
                f" rows of every class; too few rows of class {classes}"
            )
        if len(counts) > per_part:
            per_part, reason = len(counts), f"a row of each of {len(counts)} classes"
    needed = rows_needed(test_size, per_part)
    if len(target) < needed:
        raise DataError(
            f"{source}: {len(target)} labelled rows are too few for test_size"
            f" {test_size}: the split needs at least {needed}, for {reason} in both"
            " the training and the test part"
        )


def split_dataset(
    dataset: Dataset,
    test_size: float,
    seed: int,
    stratify: pd.Series | None,
    source: object,
) -> Split:
    """Split ``dataset`` (read from ``source``) reproducibly into train and test.

    Raises
    ------
    DataError
        If there are too few rows (or rows per class) to split.
    """
    check_split_size(dataset.target, test_size, stratify, source)
    x_train, x_test, y_train, y_test = train_test_split(
        dataset.features,
        dataset.target,
        test_size=test_size,
        random_state=seed,
        stratify=stratify,
    )
    audit = dataset.audit
    return Split(
        Dataset(x_train, y_train, None if audit is None else audit.loc[x_train.index]),
        Dataset(x_test, y_test, None if audit is None else audit.loc[x_test.index]),
    )
