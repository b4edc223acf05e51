from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    parametrize_with_checks,
)

from {{ cookiecutter.package_name }}.classification import (
    GREATER_IS_BETTER,
    PRIMARY_METRIC,
    GradientBoostedClassifier,
    build_estimator,
    compute_metrics,
    stratify_by,
)


@parametrize_with_checks([GradientBoostedClassifier()])  # type: ignore[untyped-decorator]
def test_sklearn_compatible(
    estimator: BaseEstimator, check: Callable[[BaseEstimator], None]
) -> None:
    check(estimator)


def test_dataframe_column_names_consistency() -> None:
    check_dataframe_column_names_consistency(
        "GradientBoostedClassifier", GradientBoostedClassifier()
    )


def test_not_fitted_before_fit() -> None:
    clf = GradientBoostedClassifier()

    assert not hasattr(clf, "booster_")
    with pytest.raises(NotFittedError):
        clf.predict([[0.0]])


def test_predicts_with_missing_values() -> None:
    X, y = make_classification(n_samples=200, random_state=0)
    X[::7, 0] = np.nan

    clf = GradientBoostedClassifier(max_iter=10).fit(X, y)

    assert clf.predict(X).shape == y.shape
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)


def test_random_state_gives_identical_predictions() -> None:
    X, y = make_classification(n_samples=300, random_state=0)

    first, second = (
        GradientBoostedClassifier(max_iter=10, random_state=7).fit(X, y)
        for _ in range(2)
    )

    assert first.booster_.random_state == 7
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))


def test_compute_metrics_on_hand_made_example() -> None:
    metrics = compute_metrics(y_true=[0, 0, 0, 1], y_pred=[0, 0, 1, 1])

    assert metrics == pytest.approx(
        {"accuracy": 0.75, "balanced_accuracy": 5 / 6, "f1_macro": 11 / 15}
    )
    assert all(type(value) is float for value in metrics.values())


def test_primary_metric_is_computed() -> None:
    assert PRIMARY_METRIC in compute_metrics([0, 1], [0, 1])
    assert GREATER_IS_BETTER is True


def test_splits_are_stratified_on_labels() -> None:
    y = pd.Series(["a", "b", "a"])

    assert stratify_by(y) is y


def test_build_estimator_passes_params() -> None:
    estimator = build_estimator({"learning_rate": 0.05, "random_state": 1}, 42)

    assert estimator.learning_rate == 0.05
    assert estimator.random_state == 42
