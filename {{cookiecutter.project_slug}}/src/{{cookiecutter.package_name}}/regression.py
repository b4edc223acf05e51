"""Regression specifics: the model and how it is scored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import (
    PredictionErrorDisplay,
    mean_absolute_error,
    r2_score,
    root_mean_squared_error,
)
from sklearn.pipeline import Pipeline
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, validate_data

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PRIMARY_METRIC: Final = "rmse"
"""Key of :func:`compute_metrics` used to select and compare models."""

GREATER_IS_BETTER: Final = False
"""Whether a higher :data:`PRIMARY_METRIC` means a better model."""


class GradientBoostedRegressor(RegressorMixin, BaseEstimator):
    """Gradient-boosted trees regressor: the home of the team's model.

    Out of the box this delegates to
    :class:`~sklearn.ensemble.HistGradientBoostingRegressor`. Put the
    project's own modelling logic (extra parameters, target transforms,
    custom losses, ...) here, keeping the scikit-learn estimator contract
    that the tests in ``tests/test_regression.py`` enforce.

    Parameters
    ----------
    learning_rate : float, default=0.1
        Shrinkage applied to the contribution of each tree.
    max_iter : int, default=100
        Maximum number of boosting iterations.
    max_leaf_nodes : int or None, default=31
        Maximum number of leaves per tree. None means no limit.
    min_samples_leaf : int, default=20
        Minimum number of samples per leaf.
    l2_regularization : float, default=0.0
        L2 penalty on the leaf values.
    random_state : int, RandomState instance or None, default=None
        Seed for the booster's randomness (early-stopping split, binning
        subsample). Pass an int for reproducible results.

    Attributes
    ----------
    booster_ : HistGradientBoostingRegressor
        The fitted underlying booster.
    n_iter_ : int
        Number of boosting iterations actually run.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``. Defined only when ``X`` has
        feature names that are all strings.
    """

    def __init__(
        self,
        *,
        learning_rate: float = 0.1,
        max_iter: int = 100,
        max_leaf_nodes: int | None = 31,
        min_samples_leaf: int = 20,
        l2_regularization: float = 0.0,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state

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
        self.booster_ = HistGradientBoostingRegressor(
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            random_state=self.random_state,
        ).fit(X, y)
        self.n_iter_ = self.booster_.n_iter_
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
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        predictions: NDArray[np.float64] = self.booster_.predict(X)
        return predictions

    def __sklearn_tags__(self) -> Tags:
        """Declare NaN support to scikit-learn."""
        tags: Tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


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
    figure = _new_figure()
    PredictionErrorDisplay.from_predictions(
        y, predictions, kind=kind, ax=figure.subplots()
    )
    return figure


def _new_figure() -> Figure:
    # Loading a saved model imports this module for its estimator: importing
    # matplotlib only to plot keeps half a second out of every prediction.
    from matplotlib.figure import Figure  # noqa: PLC0415

    return Figure(figsize=(6, 5), layout="constrained")


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


def build_estimator(
    params: Mapping[str, Any], random_state: int
) -> GradientBoostedRegressor:
    """Create an unfitted regressor from configuration.

    Parameters
    ----------
    params : mapping of str to any
        Constructor parameters of :class:`GradientBoostedRegressor`.
    random_state : int
        Seed for the regressor. Takes precedence over any ``random_state``
        in ``params``.

    Returns
    -------
    estimator : GradientBoostedRegressor
        The configured, unfitted regressor.
    """
    return GradientBoostedRegressor(**{**params, "random_state": random_state})
