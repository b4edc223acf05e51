"""Labelled tables as features and target, and their reproducible split."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from sklearn.model_selection import train_test_split

from ..config import DataConfig
from ..errors import DataError, first_line
from .checks import check_columns, select_features
from .tables import read_table

logger = logging.getLogger(__name__)


class Dataset(NamedTuple):
    """Features and target of a labelled table."""

    features: pd.DataFrame
    target: pd.Series


class Split(NamedTuple):
    """A train/test split of a :class:`Dataset`."""

    train: Dataset
    test: Dataset


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
        raise DataError(f"cannot split the data: {first_line(error)}") from error
    return Split(Dataset(x_train, y_train), Dataset(x_test, y_test))
