"""What a fitted model relies on: feature importance, and why it gave one answer.

Both are model-agnostic and need nothing beyond scikit-learn: importance is
how much the primary score drops when a feature's column is shuffled
(permutation importance), and a row's explanation compares its prediction
with the predictions when one feature at a time takes other rows' values.
Both work on the model's input columns, the raw features, so a categorical
feature is judged whole rather than one one-hot column at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import mlflow
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from ..data import Dataset
from ..model import TASK
from ..model.plotting import FIGURE_SIZE, new_figure
from .report import PLOTS_DIRECTORY, metric_name_part, primary_scorer

if TYPE_CHECKING:
    from matplotlib.figure import Figure

IMPORTANCE_TABLE_ARTIFACT = "evaluation/feature_importance.json"
IMPORTANCE_PLOT = "feature_importance.png"

NOISE_WIDTH: Final = 2.0
"""Standard deviations of the shuffles an importance must clear to count.

An importance within two standard deviations of zero is what shuffling a
feature the model ignores gives too.
"""

MAX_IMPORTANCE_ROWS: Final = 10_000
"""Most rows scored per shuffle; of a larger table, a seeded sample is scored.

Each feature costs ``repeats`` predictions of these rows; ten thousand rows
measure an importance as well as millions, in a bounded time.
"""

MAX_BACKGROUND_ROWS: Final = 200
"""Most background rows a row's explanation draws feature values from."""

BAR_HEIGHT_INCHES: Final = 0.3
"""Height of one bar of a figure; figures of many features grow taller."""

_HELPS_COLOUR = "tab:blue"
_NO_HELP_COLOUR = "tab:gray"
_RAISES_COLOUR = "tab:blue"
_LOWERS_COLOUR = "tab:red"


@dataclass(frozen=True)
class FeatureImportance:
    """How much each feature matters to a model's primary score.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per feature, most important first, with the columns
        ``feature``, ``importance`` (the mean drop of the primary score when
        the feature is shuffled: positive means the feature helps), ``std``
        (its standard deviation over the shuffles) and ``helps`` (whether
        the importance stands clear of zero, see :meth:`unimportant`).
    metric : str
        The primary metric whose drop is measured.
    repeats : int
        Times each feature was shuffled.
    """

    table: pd.DataFrame
    metric: str
    repeats: int

    def unimportant(self) -> list[str]:
        """Return the features whose importance cannot be told from zero.

        A feature is unimportant when its mean importance minus
        :data:`NOISE_WIDTH` standard deviations is not above zero: shuffling
        it changes the score no more than chance does, or makes it better.
        """
        return [str(name) for name in self.table.loc[~self.table["helps"], "feature"]]


@dataclass(frozen=True)
class RowExplanation:
    """Why a model gave one row its prediction.

    Attributes
    ----------
    prediction : object
        The model's answer for the row.
    explained : str
        What the contributions are in: ``probability of class 'Adelie'``
        (the predicted class) for a classifier, ``predicted <target>`` for a
        regressor.
    contributions : pandas.DataFrame
        One row per feature, largest effect first, with the columns
        ``feature``, ``value`` (the row's value) and ``contribution`` (how
        much that value moves the explained quantity, see
        :func:`explain_row`).
    baseline : float
        The mean of the explained quantity over the background rows.
    """

    prediction: object
    explained: str
    contributions: pd.DataFrame
    baseline: float


def feature_importance(
    model: Pipeline, data: Dataset, repeats: int, seed: int
) -> FeatureImportance:
    """Measure each feature's importance to ``model`` on the labelled rows ``data``.

    Each column of ``data.features`` is shuffled ``repeats`` times and the
    model scored with the primary metric; the importance is the mean drop of
    the score (for an error such as RMSE, the mean rise of the error). Use
    held-out rows: on training rows a model's memory of noise looks important.
    Beyond :data:`MAX_IMPORTANCE_ROWS` rows, a seeded sample of them is used.
    """
    # Many predictions of a few rows each: OpenMP threads cost more than they
    # give, and several times more on a busy machine.
    with threadpool_limits(1):
        result = permutation_importance(
            model,
            data.features,
            data.target,
            scoring=primary_scorer(),
            n_repeats=repeats,
            random_state=seed,
            n_jobs=1,
            max_samples=min(len(data.target), MAX_IMPORTANCE_ROWS),
        )
    table = pd.DataFrame(
        {
            "feature": [str(column) for column in data.features.columns],
            "importance": result.importances_mean,
            "std": result.importances_std,
        }
    )
    table["helps"] = table["importance"] - NOISE_WIDTH * table["std"] > 0
    table = table.sort_values(
        "importance", ascending=False, kind="stable", ignore_index=True
    )
    return FeatureImportance(table, TASK.PRIMARY_METRIC, repeats)


def importance_metric_values(importance: FeatureImportance) -> dict[str, float]:
    """Return each feature's importance as an MLflow metric ``importance/<feature>``.

    Feature names are made safe for MLflow as slice metric names are (see
    :func:`~{{ cookiecutter.package_name }}.evaluation.report.metric_name_part`).
    """
    return {
        f"importance/{metric_name_part(str(feature))}": float(value)
        for feature, value in zip(
            importance.table["feature"], importance.table["importance"], strict=True
        )
    }


def log_importance(importance: FeatureImportance) -> None:
    """Log the importance metrics, table and figure to the active run."""
    mlflow.log_metrics(importance_metric_values(importance))
    mlflow.log_table(importance.table, IMPORTANCE_TABLE_ARTIFACT)
    mlflow.log_figure(
        importance_figure(importance), f"{PLOTS_DIRECTORY}/{IMPORTANCE_PLOT}"
    )


def importance_figure(importance: FeatureImportance) -> Figure:
    """Draw each feature's importance as a bar, with its standard deviation.

    Features that do not help are grey; the most important is on top.
    """
    # Horizontal bars are drawn from the bottom up.
    table = importance.table.iloc[::-1]
    figure = _figure_for_bars(len(table))
    axes = figure.subplots()
    colours = [_HELPS_COLOUR if helps else _NO_HELP_COLOUR for helps in table["helps"]]
    axes.barh(table["feature"], table["importance"], xerr=table["std"], color=colours)
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set(
        title=f"Feature importance ({importance.repeats} shuffles of each)",
        xlabel=f"Drop in {importance.metric} when the feature is shuffled",
    )
    return figure


def explain_row(
    model: Pipeline,
    row: pd.DataFrame,
    background: pd.DataFrame,
    seed: int,
    *,
    target: str,
) -> RowExplanation:
    """Explain the prediction of ``model`` for the one-row frame ``row``.

    The explained quantity is the predicted class's probability for a
    classifier, the prediction for a regressor (named ``target``). A
    feature's contribution is the explained quantity for ``row`` minus its
    mean when that feature alone takes the values of the background rows (at
    most :data:`MAX_BACKGROUND_ROWS` of ``background``, sampled with
    ``seed``), the other features keeping the row's values: how far the
    row's own value moves the answer from what a typical value would give.

    This is not SHAP: contributions do not add up to the prediction minus
    the baseline, because the effect of features acting together
    (interactions) is not split between them; each feature is judged with
    the others held at the row's values. It needs nothing but the model, and
    for a model without strong interactions ranks features as SHAP does.
    """
    sample = background.sample(
        n=min(len(background), MAX_BACKGROUND_ROWS), random_state=seed
    )
    # ``tolist`` turns a NumPy scalar into the Python value it holds.
    prediction = np.asarray(model.predict(row)).tolist()[0]
    explained, quantity = _explained_quantity(model, prediction, target)
    columns = [str(column) for column in row.columns]
    varied = pd.concat(
        [_varying(row, sample, column) for column in columns], ignore_index=True
    )
    typical = quantity(varied).reshape(len(columns), len(sample)).mean(axis=1)
    contributions = pd.DataFrame(
        {
            "feature": columns,
            "value": row.iloc[0].tolist(),
            "contribution": quantity(row)[0] - typical,
        }
    )
    order = contributions["contribution"].abs().argsort(kind="stable")[::-1]
    return RowExplanation(
        prediction=prediction,
        explained=explained,
        contributions=contributions.iloc[order].reset_index(drop=True),
        baseline=float(quantity(sample).mean()),
    )


def contribution_figure(explanation: RowExplanation) -> Figure:
    """Draw each feature's contribution to one prediction as a bar.

    Bars of values that raise the explained quantity are blue, those that
    lower it red; the largest effect is on top.
    """
    table = explanation.contributions.iloc[::-1]
    figure = _figure_for_bars(len(table))
    axes = figure.subplots()
    labels = [
        f"{feature} = {value}"
        for feature, value in zip(table["feature"], table["value"], strict=True)
    ]
    colours = [
        _RAISES_COLOUR if contribution > 0 else _LOWERS_COLOUR
        for contribution in table["contribution"]
    ]
    axes.barh(labels, table["contribution"], color=colours)
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set(
        title=f"Prediction: {explanation.prediction}"
        f" (baseline {explanation.baseline:.4g})",
        xlabel=f"Contribution to the {explanation.explained}",
    )
    return figure


def _explained_quantity(
    model: Pipeline, prediction: object, target: str
) -> tuple[str, Callable[[pd.DataFrame], NDArray[np.float64]]]:
    """Return what a row's explanation is in, and how to compute it for rows."""
    if not hasattr(model, "predict_proba"):
        return f"predicted {target}", lambda rows: np.asarray(
            model.predict(rows), dtype=np.float64
        )
    column = list(model.classes_).index(prediction)
    return f"probability of class {prediction!r}", lambda rows: np.asarray(
        model.predict_proba(rows)[:, column], dtype=np.float64
    )


def _varying(row: pd.DataFrame, sample: pd.DataFrame, column: str) -> pd.DataFrame:
    """Return ``row`` repeated once per row of ``sample``, with its ``column``."""
    repeated = row.loc[row.index.repeat(len(sample))].reset_index(drop=True)
    repeated[column] = sample[column].to_numpy()
    return repeated


def _figure_for_bars(bars: int) -> Figure:
    """Return a new figure tall enough for ``bars`` horizontal bars."""
    figure = new_figure()
    figure.set_figheight(max(FIGURE_SIZE[1], BAR_HEIGHT_INCHES * bars))
    return figure
