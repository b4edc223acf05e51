"""Evaluation report of a fitted model: metrics overall and per slice, plots.

Overall metrics hide the groups a model serves badly. Slices break the test
rows down by the value of each configured categorical feature
(``evaluation.slice_columns``) and score every group on its own; the plots
(built with matplotlib's object-oriented API, so no display is needed) show
where the errors are.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import mlflow
import pandas as pd
from sklearn.pipeline import Pipeline

from ..data import Dataset
from ..model import TASK

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MISSING_VALUE = "(missing)"
SLICE_TABLE_ARTIFACT = "evaluation/slice_metrics.json"
PLOTS_DIRECTORY = "plots"
_METRIC_NAME_UNSAFE = re.compile(r"[^\w.\- ]")


@dataclass(frozen=True)
class Evaluation:
    """Scores and plots of a model on held-out rows."""

    metrics: dict[str, float]
    slices: pd.DataFrame
    figures: dict[str, Figure] = field(default_factory=dict)


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
    for column in columns:
        values = test.features[column].astype(object).fillna(MISSING_VALUE)
        for value in sorted(values.unique(), key=str):
            selected = (values == value).to_numpy()
            with warnings.catch_warnings():
                # Few rows per slice: scikit-learn warns about classes absent
                # from one, yet the scores it returns remain well defined.
                warnings.simplefilter("ignore", UserWarning)
                scores = TASK.evaluation_metrics(
                    model, test.features[selected], test.target[selected]
                )
            records.append(
                {"column": column, "value": str(value), "rows": int(selected.sum())}
                | scores
            )
    return pd.DataFrame.from_records(records, columns=_slice_columns(records))


def _slice_columns(records: list[dict[str, object]]) -> list[str]:
    names = ["column", "value", "rows"]
    for record in records:
        names.extend(name for name in record if name not in names)
    return names


def evaluate_model(
    model: Pipeline, test: Dataset, slice_columns: Sequence[str]
) -> Evaluation:
    """Score ``model`` on ``test`` overall and per slice, and draw its plots."""
    return Evaluation(
        metrics=TASK.evaluation_metrics(model, test.features, test.target),
        slices=slice_metrics(model, test, slice_columns),
        figures=TASK.evaluation_plots(model, test.features, test.target),
    )


def slice_metric_name(column: str, value: str, metric: str) -> str:
    """Return the MLflow metric name of ``metric`` on one slice.

    MLflow groups names on ``/``; characters it does not allow in a name
    become ``_``.
    """
    parts = (_METRIC_NAME_UNSAFE.sub("_", part) for part in (column, value, metric))
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
