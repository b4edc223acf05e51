"""Classification specifics: the model and how it is scored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
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
from sklearn.utils import Tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PRIMARY_METRIC: Final = "f1_macro"
"""Key of :func:`compute_metrics` used to select and compare models."""

GREATER_IS_BETTER: Final = True
"""Whether a higher :data:`PRIMARY_METRIC` means a better model."""

BINARY: Final = 2
"""Number of classes of a binary problem, scored on its second class."""


class GradientBoostedClassifier(ClassifierMixin, BaseEstimator):
    """Gradient-boosted trees classifier: the home of the team's model.

    Out of the box this delegates to
    :class:`~sklearn.ensemble.HistGradientBoostingClassifier`. Put the
    project's own modelling logic (extra parameters, target handling,
    calibration, ...) here, keeping the scikit-learn estimator contract that
    the tests in ``tests/test_classification.py`` enforce.

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
    booster_ : HistGradientBoostingClassifier
        The fitted underlying booster.
    classes_ : ndarray of shape (n_classes,)
        Class labels seen during ``fit``.
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
        self.booster_ = HistGradientBoostingClassifier(
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            random_state=self.random_state,
        ).fit(X, y)
        # Mirror the booster so ``predict_proba`` columns follow ``classes_``.
        self.classes_ = self.booster_.classes_
        self.n_iter_ = self.booster_.n_iter_
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
        X = self._validate_input(X)
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
        X = self._validate_input(X)
        proba: NDArray[np.float64] = self.booster_.predict_proba(X)
        return proba

    def __sklearn_tags__(self) -> Tags:
        """Declare NaN support to scikit-learn."""
        tags: Tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _validate_input(self, X: ArrayLike) -> NDArray[Any]:
        """Check that the model is fitted and ``X`` matches the training data."""
        check_is_fitted(self)
        validated: NDArray[Any] = validate_data(
            self, X, reset=False, ensure_all_finite="allow-nan"
        )
        return validated


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
    confusion = _new_figure()
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
    figure = _new_figure()
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
        Target labels.

    Returns
    -------
    stratify : pandas.Series
        ``y`` itself, so every split keeps the class proportions.
    """
    return y


def build_estimator(
    params: Mapping[str, Any], random_state: int
) -> GradientBoostedClassifier:
    """Create an unfitted classifier from configuration.

    Parameters
    ----------
    params : mapping of str to any
        Constructor parameters of :class:`GradientBoostedClassifier`.
    random_state : int
        Seed for the classifier. Takes precedence over any ``random_state``
        in ``params``.

    Returns
    -------
    estimator : GradientBoostedClassifier
        The configured, unfitted classifier.
    """
    return GradientBoostedClassifier(**{**params, "random_state": random_state})
