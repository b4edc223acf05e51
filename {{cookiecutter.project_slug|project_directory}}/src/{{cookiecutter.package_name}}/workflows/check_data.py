"""Checking the configured data as training does, and summarising it in numbers.

The summary is what the ``check-data`` command writes: every leaf is a
number (rows, columns, missing cells of each feature, the target's classes
or spread), so that tools which compare metric files between commits, such
as ``dvc metrics diff``, show how the data changed.
"""

from __future__ import annotations

import logging
from typing import TypedDict

import pandas as pd

from ..config import Settings
from ..evaluation import holdout_split
from ..model import TASK

logger = logging.getLogger(__name__)


class DataSummary(TypedDict):
    """What :func:`check_data` finds: counts, and the target's summary."""

    rows: int
    train_rows: int
    test_rows: int
    features: int
    missing: dict[str, int]
    target: dict[str, float]


def check_data(settings: Settings) -> DataSummary:
    """Load and check the configured data as ``train`` does; return its summary.

    The summary holds the labelled rows, the rows of each part of the split,
    the feature columns, the missing cells of each feature, and the target's
    summary (:func:`target_summary`).

    Raises
    ------
    DataError
        Naming the data file, for every reason ``train`` would refuse it: a
        missing or non-numeric feature, a target that cannot train the
        task's model, too few rows to split.
    """
    split = holdout_split(settings)
    features = pd.concat([split.train.features, split.test.features])
    target = pd.concat([split.train.target, split.test.target])
    logger.info("Checked %d labelled rows of %s", len(target), settings.data.path)
    missing = features.isna().sum()
    return {
        "rows": len(target),
        "train_rows": len(split.train.target),
        "test_rows": len(split.test.target),
        "features": features.shape[1],
        "missing": {str(column): int(count) for column, count in missing.items()},
        "target": target_summary(target),
    }


def target_summary(target: pd.Series) -> dict[str, float]:
    """Return the rows of each class if the task splits by class, else the spread."""
    labels = TASK.stratify_by(target)
    if labels is not None:
        counts = labels.value_counts().sort_index()
        return {str(label): int(count) for label, count in counts.items()}
    return {
        "mean": float(target.mean()),
        "std": float(target.std()),
        "min": float(target.min()),
        "max": float(target.max()),
    }
