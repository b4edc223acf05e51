"""The regression task: the model and how it is scored.

This module keeps the task contract of
:class:`~{{ cookiecutter.package_name }}.model.contract.Task`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.base import RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import (
    PredictionErrorDisplay,
    mean_absolute_error,
    r2_score,
    root_mean_squared_error,
)
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import validate_data

from ..errors import DataError
from .estimators import BoostedTreesEstimator
from .plotting import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME: Final = "regression"
"""The name of this task."""

PRIMARY_METRIC: Final = "rmse"
"""Key of :func:`compute_metrics` used to select and compare models."""

GREATER_IS_BETTER: Final = False
"""Whether a higher :data:`PRIMARY_METRIC` means a better model."""

MIN_DISTINCT_TARGETS: Final = 2
"""Fewest distinct target values worth learning, as one value is a constant."""


class GradientBoostedRegressor(RegressorMixin, BoostedTreesEstimator):
    """Gradient-boosted trees regressor: the home of the team's model.

    Out of the box this delegates to
    :class:`~sklearn.ensemble.HistGradientBoostingRegressor`, with the
    hyperparameters of
    :class:`~{{ cookiecutter.package_name }}.model.estimators.BoostedTreesEstimator`.
    Put the project's own modelling logic (extra parameters, target
    transforms, custom losses, ...) here, keeping the scikit-learn estimator
    contract that the tests in ``tests/test_task.py`` enforce.
    """

    booster_class = HistGradientBoostingRegressor

    def fit(self, X: ArrayLike, y: ArrayLike) -> GradientBoostedRegressor:
        """Fit the booster.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. May contain ``NaN``.
        y : array-like of shape (n_samples,)
            Target values.

        Returns
        -------
        self : GradientBoostedRegressor
            The fitted regressor.
        """
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", y_numeric=True)
        self._fit_booster(X, y)
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """Predict the target of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples. May contain ``NaN``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted values.
        """
        X = self._validated(X)
        predictions: NDArray[np.float64] = self.booster_.predict(X)
        return predictions


ESTIMATOR: Final = GradientBoostedRegressor
"""The estimator that ends the pipeline."""


def compute_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """Score predicted values against true values.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True target values.
    y_pred : array-like of shape (n_samples,)
        Predicted target values.

    Returns
    -------
    metrics : dict of str to float
        ``rmse``, ``mae`` and ``r2``.

    Examples
    --------
    >>> compute_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])["mae"]
    0.666...
    """
    return {
        "rmse": float(root_mean_squared_error(y_true, y_pred)),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)),
    }


def evaluation_metrics(
    model: Pipeline, X: pd.DataFrame, y: pd.Series
) -> dict[str, float]:
    """Score a fitted regressor's predictions.

    Parameters
    ----------
    model : Pipeline
        Fitted pipeline ending in a regressor.
    X : pandas.DataFrame
        Features of the rows to score.
    y : pandas.Series
        True target values of those rows.

    Returns
    -------
    metrics : dict of str to float
        :func:`compute_metrics` of the predictions.
    """
    return compute_metrics(y, model.predict(X))


def evaluation_plots(
    model: Pipeline, X: pd.DataFrame, y: pd.Series
) -> dict[str, Figure]:
    """Draw the residuals and the predicted against the actual values.

    Parameters
    ----------
    model : Pipeline
        Fitted pipeline ending in a regressor.
    X : pandas.DataFrame
        Features of the rows to score.
    y : pandas.Series
        True target values of those rows.

    Returns
    -------
    figures : dict of str to matplotlib.figure.Figure
        ``residuals.png`` (residual against predicted value) and
        ``predicted_vs_actual.png``, by file name.
    """
    predictions = model.predict(X)
    return {
        "residuals.png": _prediction_error_figure(
            y, predictions, "residual_vs_predicted"
        ),
        "predicted_vs_actual.png": _prediction_error_figure(
            y, predictions, "actual_vs_predicted"
        ),
    }


def _prediction_error_figure(
    y: pd.Series, predictions: NDArray[np.float64], kind: str
) -> Figure:
    figure = new_figure()
    PredictionErrorDisplay.from_predictions(
        y, predictions, kind=kind, ax=figure.subplots()
    )
    return figure


def stratify_by(y: pd.Series) -> pd.Series | None:
    """Return the labels to stratify train/test splits on.

    Parameters
    ----------
    y : pandas.Series
        Target values.

    Returns
    -------
    stratify : None
        A continuous target cannot be stratified on, so splits are random.
    """
    return None


def check_target(y: pd.Series, source: object) -> None:
    """Check that the target holds numbers that vary.

    Parameters
    ----------
    y : pandas.Series
        Target values, none missing.
    source : object
        Where ``y`` was read from, named in the error.

    Raises
    ------
    DataError
        If ``y`` holds text or booleans, or one value only: a model of a
        constant would score perfectly and learn nothing.
    """
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        not_numbers = pd.to_numeric(y, errors="coerce").isna()
        # Iterating a Series gives Python scalars, which read well in a message.
        example = next(iter(y[not_numbers] if not_numbers.any() else y))
        raise DataError(
            f"{source}: target column {y.name!r} must be numeric for regression,"
            f" found {example!r}"
        )
    if y.nunique() < MIN_DISTINCT_TARGETS:
        raise DataError(
            f"{source}: target column {y.name!r} has the same value in every row"
            f" ({next(iter(y))!r}); there is nothing to learn"
        )
