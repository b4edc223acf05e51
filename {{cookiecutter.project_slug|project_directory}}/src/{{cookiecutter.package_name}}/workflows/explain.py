"""Explanation of a logged model: the features it relies on, or one answer's reasons."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow.exceptions import MlflowException
from sklearn.pipeline import Pipeline

from ..config import Settings
from ..data import Dataset, check_columns, load_dataset
from ..errors import DataError, ModelError, first_line
from ..evaluation import holdout_split
from ..evaluation.importance import (
    IMPORTANCE_PLOT,
    FeatureImportance,
    RowExplanation,
    contribution_figure,
    explain_row,
    feature_importance,
    importance_figure,
)
from ..files import atomic_path, check_output_path
from ..tracking.artifacts import input_columns, load_configured_model
from ..tracking.registry import champion_uri

if TYPE_CHECKING:
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

FIGURE_SUFFIX = ".png"


@dataclass(frozen=True)
class ExplainResult:
    """What :func:`explain` found and wrote.

    Attributes
    ----------
    model_uri : str
        The model explained.
    figure_path : Path
        The PNG figure written.
    importance : FeatureImportance or None
        Each feature's importance; ``None`` when one row was explained.
    row : RowExplanation or None
        The explanation of one row's prediction; ``None`` otherwise.
    """

    model_uri: str
    figure_path: Path
    importance: FeatureImportance | None = None
    row: RowExplanation | None = None


def explain(
    settings: Settings,
    model_uri: str | None,
    data_path: Path | None,
    row: int | None,
    output: Path | None,
) -> ExplainResult:
    """Measure a model's feature importance, or explain its prediction for one row.

    By default the champion is examined on the configured data's held-out
    rows; ``data_path`` uses every labelled row of another file instead.
    Without ``row``, each feature's importance is measured on those rows;
    with it, the prediction for that row (counting labelled rows from 0) is
    explained against the others. The figure is written to ``output``, by
    default ``feature_importance.png`` or ``row_<row>.png`` in the current
    directory, replacing it whole or not at all.

    Raises
    ------
    DataError
        If the output is not a writable ``.png`` path, the data is unusable
        or lacks a column the model needs, or ``row`` is beyond its last row.
    ModelError
        If the model cannot be loaded or is not a scikit-learn pipeline.
    """
    figure_path = output or Path(
        IMPORTANCE_PLOT if row is None else f"row_{row}{FIGURE_SUFFIX}"
    )
    check_figure_path(figure_path, data_path)
    labelled = _labelled_rows(settings, data_path)
    uri = model_uri or champion_uri(settings.tracking)
    pipeline, columns = load_pipeline(settings, uri)
    source = data_path or "the held-out split"
    data = _model_inputs(labelled, columns, source)
    if row is None:
        logger.info("Shuffling each feature of %d rows", len(data.target))
        importance = feature_importance(
            pipeline, data, settings.evaluation.importance_repeats, settings.seed
        )
        write_figure(importance_figure(importance), figure_path)
        return ExplainResult(uri, figure_path, importance=importance)
    check_row(row, data, source)
    explanation = explain_row(
        pipeline,
        data.features.iloc[[row]],
        data.features,
        settings.seed,
        target=settings.data.target,
    )
    write_figure(contribution_figure(explanation), figure_path)
    return ExplainResult(uri, figure_path, row=explanation)


def check_figure_path(path: Path, data_path: Path | None) -> None:
    """Raise unless ``path`` can take a PNG figure without destroying the data.

    Raises
    ------
    DataError
        If ``path`` does not end in ``.png``, or cannot be written (see
        :func:`~{{ cookiecutter.package_name }}.files.check_output_path`).
    """
    if path.suffix.lower() != FIGURE_SUFFIX:
        raise DataError(f"{path}: the figure is a PNG image; name a .png file")
    check_output_path(path, [] if data_path is None else [data_path])


def load_pipeline(settings: Settings, uri: str) -> tuple[Pipeline, list[str]]:
    """Return the scikit-learn pipeline logged at ``uri`` and its input columns.

    Raises
    ------
    ModelError
        If there is no model at ``uri``, or it is not a scikit-learn pipeline.
    """
    model = load_configured_model(settings, uri)
    try:
        pipeline = model.get_raw_model()  # type: ignore[no-untyped-call]
    except MlflowException as error:
        raise ModelError(f"cannot explain {uri!r}: {first_line(error)}") from error
    if not isinstance(pipeline, Pipeline):
        raise ModelError(f"cannot explain {uri!r}: it is not a scikit-learn pipeline")
    return pipeline, input_columns(model)


def check_row(row: int, data: Dataset, source: object) -> None:
    """Raise ``DataError`` unless ``data`` has a row numbered ``row`` (from 0).

    Examples
    --------
    >>> import pandas as pd
    >>> data = Dataset(pd.DataFrame({"x": [1, 2]}), pd.Series([0, 1]))
    >>> check_row(1, data, "table.csv")
    >>> check_row(2, data, "table.csv")
    Traceback (most recent call last):
    ...
    {{ cookiecutter.package_name }}.errors.DataError: row 2 is out of range...
    """
    rows = len(data.target)
    if row >= rows:
        raise DataError(
            f"row {row} is out of range: {source} has {rows} labelled rows,"
            f" numbered 0 to {rows - 1}"
        )


def write_figure(figure: Figure, path: Path) -> None:
    """Save ``figure`` as a PNG image at ``path``, which is never left partial.

    Raises
    ------
    DataError
        If the file cannot be written.
    """
    try:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, format="png")
    except OSError as error:
        raise DataError(f"cannot write {path}: {error.strerror or error}") from error


def _labelled_rows(settings: Settings, data_path: Path | None) -> Dataset:
    """Return the rows of ``data_path``, or else the configured held-out rows."""
    if data_path is None:
        return holdout_split(settings).test
    return load_dataset(settings.data, data_path)


def _model_inputs(data: Dataset, columns: list[str], source: object) -> Dataset:
    """Return ``data`` with exactly the model's input ``columns``, in order.

    Raises
    ------
    DataError
        If a column is missing from ``data``.
    """
    check_columns(data.features, columns, source)
    return Dataset(data.features[columns], data.target)
