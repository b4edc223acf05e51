"""Evaluation report of a fitted model: metrics overall and per slice, plots.

Overall metrics hide the groups a model serves badly. Slices break the test
rows down by the value of each categorical feature (those named in
``evaluation.slice_columns``, by default every one with few values) and score
every group on its own; the plots (built with matplotlib's object-oriented
API, so no display is needed) show where the errors are.
"""

from __future__ import annotations

import hashlib
import logging
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import mlflow
import numpy as np
import pandas as pd
from sklearn.metrics import make_scorer
from sklearn.pipeline import Pipeline

from ..data import Dataset
from ..model import TASK

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike, NDArray

logger = logging.getLogger(__name__)

MISSING_VALUE = "(missing)"
SLICE_TABLE_ARTIFACT = "evaluation/slice_metrics.json"
PLOTS_DIRECTORY = "plots"

MAX_SLICE_VALUES: Final = 20
"""Most distinct values of a categorical feature sliced by default.

Beyond it, each slice holds only a handful of test rows, whose scores are
noise, and every run would log hundreds of metrics: identifiers, free text
and fine-grained codes are left out unless ``evaluation.slice_columns`` names
them.
"""

MAX_NAME_PART_LENGTH: Final = 64
"""Longest column, value or metric in a slice metric name.

Three parts and the ``slice/`` prefix stay within MLflow's 250 characters.
"""

# Characters MLflow accepts in a metric name on every platform (the colon is
# refused on Windows); ``/`` is left out too, as it separates the parts.
_METRIC_NAME_UNSAFE = re.compile(r"[^\w.\- ]")
_NAME_HASH_LENGTH = 8


@dataclass(frozen=True)
class Evaluation:
    """Scores and plots of a model on held-out rows."""

    metrics: dict[str, float]
    slices: pd.DataFrame
    figures: dict[str, Figure] = field(default_factory=dict)


def primary_score(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Return the task's primary metric of predictions ``y_pred`` against ``y_true``."""
    return TASK.compute_metrics(y_true, y_pred)[TASK.PRIMARY_METRIC]


def primary_scorer() -> Callable[..., float]:
    """Return a scikit-learn scorer of the primary metric, where greater is better.

    Scikit-learn's searches and inspections maximise scores: an error such as
    RMSE is negated, so a better model always scores higher.
    """
    scorer: Callable[..., float] = make_scorer(
        primary_score, greater_is_better=TASK.GREATER_IS_BETTER
    )
    return scorer


def slice_metrics(
    model: Pipeline, test: Dataset, columns: Sequence[str]
) -> pd.DataFrame:
    """Score ``model`` on the rows of ``test`` sharing each value of ``columns``.

    Returns one row per column and value, with the columns ``column``,
    ``value``, ``rows`` and one per metric. Missing values form their own
    slice, labelled ``(missing)``. A metric that a slice cannot define (ROC
    AUC when a class is absent from it) is left out of its row.
    """
    records = []
    for described, selected in _slices(test, columns):
        with _small_slices_scored():
            scores = TASK.evaluation_metrics(
                model, test.features[selected], test.target[selected]
            )
        records.append(described | scores)
    return pd.DataFrame.from_records(records, columns=_slice_columns(records))


def slice_scores(
    predictions: ArrayLike, test: Dataset, columns: Sequence[str]
) -> pd.DataFrame:
    """Score ``predictions`` of the rows of ``test`` on each slice of ``columns``.

    Returns the slices of :func:`slice_metrics` (``column``, ``value``,
    ``rows``) with the primary metric alone, computed from predictions: what
    a model that is not at hand, such as the champion, scores on them.
    """
    predicted = np.asarray(predictions)
    records = []
    for described, selected in _slices(test, columns):
        with _small_slices_scored():
            score = primary_score(test.target[selected], predicted[selected])
        records.append(described | {TASK.PRIMARY_METRIC: score})
    return pd.DataFrame.from_records(
        records, columns=["column", "value", "rows", TASK.PRIMARY_METRIC]
    )


def _slices(
    test: Dataset, columns: Sequence[str]
) -> Iterator[tuple[dict[str, object], NDArray[np.bool_]]]:
    """Yield each slice of ``test`` by ``columns``: its description and its rows."""
    for column in columns:
        values = test.features[column].astype(object).fillna(MISSING_VALUE)
        for value in sorted(values.unique(), key=str):
            selected = (values == value).to_numpy()
            rows = int(selected.sum())
            yield {"column": column, "value": str(value), "rows": rows}, selected


@contextmanager
def _small_slices_scored() -> Iterator[None]:
    """Silence scikit-learn's warnings about classes absent from a slice.

    Slices hold few rows, so a class is often missing from one; the scores
    scikit-learn returns remain well defined.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _slice_columns(records: list[dict[str, object]]) -> list[str]:
    names = ["column", "value", "rows"]
    for record in records:
        names.extend(name for name in record if name not in names)
    return names


def default_slice_columns(features: pd.DataFrame) -> list[str]:
    """Return the categorical features worth slicing: those with few values.

    Categorical features reach the model as text, numeric ones as numbers
    (see :func:`~{{ cookiecutter.package_name }}.data.checks.select_features`).
    A categorical feature with more than :data:`MAX_SLICE_VALUES` distinct
    values in ``features`` is left out, with a debug message.
    """
    columns = []
    for column in features.select_dtypes(exclude="number").columns:
        distinct = features[column].nunique()
        if distinct > MAX_SLICE_VALUES:
            logger.debug(
                "Not slicing on %r: %d distinct values, more than %d",
                column,
                distinct,
                MAX_SLICE_VALUES,
            )
        else:
            columns.append(str(column))
    return columns


def evaluate_model(
    model: Pipeline, test: Dataset, slice_columns: Sequence[str] | None
) -> Evaluation:
    """Score ``model`` on ``test`` overall and per slice, and draw its plots.

    ``slice_columns`` ``None`` slices on :func:`default_slice_columns`.
    """
    if slice_columns is None:
        slice_columns = default_slice_columns(test.features)
    return Evaluation(
        metrics=TASK.evaluation_metrics(model, test.features, test.target),
        slices=slice_metrics(model, test, slice_columns),
        figures=TASK.evaluation_plots(model, test.features, test.target),
    )


def metric_name_part(text: str) -> str:
    """Return ``text`` as one part of a metric name that MLflow accepts.

    MLflow refuses unsafe characters, long names, and parts that are empty
    or only dots, which read as a path (``slice/x/../f1``).
    """
    safe = _METRIC_NAME_UNSAFE.sub("_", text)
    if safe == text and text.strip(".") and len(text) <= MAX_NAME_PART_LENGTH:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:_NAME_HASH_LENGTH]
    return f"{safe[: MAX_NAME_PART_LENGTH - _NAME_HASH_LENGTH - 1]}-{digest}"


def slice_metric_name(column: str, value: str, metric: str) -> str:
    """Return the MLflow metric name of ``metric`` on one slice.

    MLflow groups names on ``/``. Every part keeps its text where MLflow
    allows it; a part MLflow would refuse has its unsafe characters replaced
    by ``_``, is cut to :data:`MAX_NAME_PART_LENGTH`, and ends with a short
    hash of its text, so two values never share a name.

    Examples
    --------
    >>> slice_metric_name("Home Island", "Île Verte", "f1_macro")
    'slice/Home Island/Île Verte/f1_macro'
    >>> slice_metric_name("island", "North/South", "f1_macro")
    'slice/island/North_South-944f0ed8/f1_macro'
    """
    parts = (metric_name_part(part) for part in (column, value, metric))
    return "slice/" + "/".join(parts)


def slice_metric_values(slices: pd.DataFrame) -> dict[str, float]:
    """Flatten a slice table into MLflow metrics, leaving out undefined ones."""
    metrics = {}
    for record in slices.to_dict(orient="records"):
        column, value = str(record["column"]), str(record["value"])
        for metric, score in record.items():
            if metric not in {"column", "value", "rows"} and pd.notna(score):
                metrics[slice_metric_name(column, value, str(metric))] = float(score)
    return metrics


def log_evaluation(evaluation: Evaluation) -> None:
    """Log metrics (prefixed ``test_``), the slice table and plots to the active run."""
    mlflow.log_metrics(
        {f"test_{name}": value for name, value in evaluation.metrics.items()}
        | slice_metric_values(evaluation.slices)
    )
    mlflow.log_table(evaluation.slices, SLICE_TABLE_ARTIFACT)
    for file_name, figure in evaluation.figures.items():
        mlflow.log_figure(figure, f"{PLOTS_DIRECTORY}/{file_name}")
