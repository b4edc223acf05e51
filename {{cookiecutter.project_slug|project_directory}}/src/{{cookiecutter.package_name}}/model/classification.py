"""The classification task: the model and how it is scored.

This module keeps the task contract of
:class:`~{{ cookiecutter.package_name }}.model.contract.Task`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    RocCurveDisplay,
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    log_loss,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import validate_data

from ..errors import DataError
from .estimators import BoostedTreesEstimator
from .plotting import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME: Final = "classification"
"""The name of this task."""

PRIMARY_METRIC: Final = "f1_macro"
"""Key of :func:`compute_metrics` used to select and compare models."""

GREATER_IS_BETTER: Final = True
"""Whether a higher :data:`PRIMARY_METRIC` means a better model."""

BINARY: Final = 2
"""Number of classes of a binary problem, scored on its second class."""


class GradientBoostedClassifier(ClassifierMixin, BoostedTreesEstimator):
    """Gradient-boosted trees classifier: the home of the team's model.

    Out of the box this delegates to
    :class:`~sklearn.ensemble.HistGradientBoostingClassifier`, with the
    hyperparameters of
    :class:`~{{ cookiecutter.package_name }}.model.estimators.BoostedTreesEstimator`.
    Put the project's own modelling logic (extra parameters, target handling,
    calibration, ...) here, keeping the scikit-learn estimator contract that
    the tests in ``tests/test_task.py`` enforce.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels seen during ``fit``.
    """

    booster_class = HistGradientBoostingClassifier

    def fit(self, X: ArrayLike, y: ArrayLike) -> GradientBoostedClassifier:
        """Fit the booster.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. May contain ``NaN``.
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : GradientBoostedClassifier
            The fitted classifier.
        """
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan")
        check_classification_targets(y)
        self._fit_booster(X, y)
        # Mirror the booster so ``predict_proba`` columns follow ``classes_``.
        self.classes_ = self.booster_.classes_
        return self

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Predict the class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples. May contain ``NaN``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted class labels.
        """
        X = self._validated(X)
        predictions: NDArray[Any] = self.booster_.predict(X)
        return predictions

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Predict class probabilities of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples. May contain ``NaN``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``.
        """
        X = self._validated(X)
        proba: NDArray[np.float64] = self.booster_.predict_proba(X)
        return proba


ESTIMATOR: Final = GradientBoostedClassifier
"""The estimator that ends the pipeline."""


def compute_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """Score predicted labels against true labels.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True class labels.
    y_pred : array-like of shape (n_samples,)
        Predicted class labels.

    Returns
    -------
    metrics : dict of str to float
        ``accuracy``, ``balanced_accuracy`` and ``f1_macro``.

    Examples
    --------
    >>> compute_metrics(["a", "b", "b"], ["a", "b", "a"])["accuracy"]
    0.666...
    """
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, average="macro")),
    }


def evaluation_metrics(
    model: Pipeline, X: pd.DataFrame, y: pd.Series
) -> dict[str, float]:
    """Score a fitted classifier's labels and probabilities.

    Parameters
    ----------
    model : Pipeline
        Fitted pipeline ending in a classifier with ``predict_proba``.
    X : pandas.DataFrame
        Features of the rows to score.
    y : pandas.Series
        True class labels of those rows.

    Returns
    -------
    metrics : dict of str to float
        The labels' :func:`compute_metrics`, ``log_loss`` of the
        probabilities and, when every class occurs in ``y``, ``roc_auc``
        (one-vs-rest, macro-averaged, for more than two classes).
    """
    classes = model.classes_
    proba = model.predict_proba(X)
    metrics = compute_metrics(y, model.predict(X))
    metrics["log_loss"] = float(log_loss(y, proba, labels=classes))
    if set(classes) <= set(y):
        metrics["roc_auc"] = _roc_auc(y, proba, classes)
    return metrics


def _roc_auc(y: pd.Series, proba: NDArray[np.float64], classes: NDArray[Any]) -> float:
    if len(classes) == BINARY:
        return float(roc_auc_score(y == classes[1], proba[:, 1]))
    return float(roc_auc_score(y, proba, multi_class="ovr", labels=classes))


def evaluation_plots(
    model: Pipeline, X: pd.DataFrame, y: pd.Series
) -> dict[str, Figure]:
    """Draw the confusion matrix and the ROC curves of a fitted classifier.

    Parameters
    ----------
    model : Pipeline
        Fitted pipeline ending in a classifier with ``predict_proba``.
    X : pandas.DataFrame
        Features of the rows to score.
    y : pandas.Series
        True class labels of those rows; every class must occur.

    Returns
    -------
    figures : dict of str to matplotlib.figure.Figure
        ``confusion_matrix.png`` and ``roc_curves.png`` (one curve per class,
        one-vs-rest; the positive class only for two classes), by file name.
    """
    confusion = new_figure()
    ConfusionMatrixDisplay.from_predictions(
        y, model.predict(X), labels=model.classes_, ax=confusion.subplots()
    )
    return {
        "confusion_matrix.png": confusion,
        "roc_curves.png": _roc_figure(y, model.predict_proba(X), model.classes_),
    }


def _roc_figure(
    y: pd.Series, proba: NDArray[np.float64], classes: NDArray[Any]
) -> Figure:
    figure = new_figure()
    axes = figure.subplots()
    first = 1 if len(classes) == BINARY else 0
    for column in range(first, len(classes)):
        RocCurveDisplay.from_predictions(
            y == classes[column],
            proba[:, column],
            pos_label=True,
            name=str(classes[column]),
            ax=axes,
        )
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.set(
        title="ROC curves, each class against the rest",
        xlabel="False positive rate",
        ylabel="True positive rate",
    )
    axes.legend(loc="lower right")
    return figure


def stratify_by(y: pd.Series) -> pd.Series | None:
    """Return the labels to stratify train/test splits on.

    Parameters
    ----------
    y : pandas.Series
        Target labels.

    Returns
    -------
    stratify : pandas.Series
        ``y`` itself, so every split keeps the class proportions.
    """
    return y


def check_target(y: pd.Series, source: object) -> None:
    """Check that the target holds class labels of at least two classes.

    Parameters
    ----------
    y : pandas.Series
        Target labels, none missing.
    source : object
        Where ``y`` was read from, named in the error.

    Raises
    ------
    DataError
        If ``y`` holds continuous numbers or a single class.
    """
    # Iterating a Series gives Python scalars, which read well in a message.
    first = next(iter(y))
    if type_of_target(y) == "continuous":
        raise DataError(
            f"{source}: target column {y.name!r} holds continuous numbers such as"
            f" {first!r}; classification needs class labels"
        )
    if y.nunique() < BINARY:
        raise DataError(
            f"{source}: target column {y.name!r} has a single class"
            f" ({first!r}); classification needs at least {BINARY}"
        )
