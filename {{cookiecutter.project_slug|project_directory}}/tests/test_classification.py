from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from sklearn.base import BaseEstimator
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    parametrize_with_checks,
)

from {{ cookiecutter.package_name }}.config import FairnessConfig, Settings
from {{ cookiecutter.package_name }}.data import Dataset
from {{ cookiecutter.package_name }}.errors import DataError
from {{ cookiecutter.package_name }}.evaluation import fairness, gates
from {{ cookiecutter.package_name }}.model.task import (
    ESTIMATOR,
    GREATER_IS_BETTER,
    PRIMARY_METRIC,
    GradientBoostedClassifier,
    check_target,
    compute_metrics,
    evaluation_metrics,
    evaluation_plots,
    stratify_by,
)

from .conftest import assert_one_line_error


def fitted_on(
    n_classes: int,
) -> tuple[GradientBoostedClassifier, pd.DataFrame, pd.Series]:
    """A small classifier fitted on labelled rows, with those rows."""
    X, y = make_classification(
        n_samples=120, n_informative=3, n_classes=n_classes, random_state=0
    )
    features = pd.DataFrame(X).add_prefix("x")
    labels = pd.Series(np.array(["a", "b", "c"])[y])
    model = GradientBoostedClassifier(max_iter=10, random_state=0).fit(features, labels)
    return model, features, labels


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


def test_booster_gets_every_hyperparameter() -> None:
    X, y = make_classification(n_samples=60, random_state=0)
    estimator = GradientBoostedClassifier(
        learning_rate=0.05, max_iter=7, random_state=1
    ).fit(X, y)

    hyperparameters = estimator.get_params().items()

    assert estimator.booster_.get_params().items() >= hyperparameters
    assert ESTIMATOR is GradientBoostedClassifier


@pytest.mark.parametrize("n_classes", [2, 3])
def test_evaluation_metrics_add_probability_scores(n_classes: int) -> None:
    model, X, y = fitted_on(n_classes)

    metrics = evaluation_metrics(model, X, y)

    assert metrics.keys() == {
        *compute_metrics(y, model.predict(X)),
        "log_loss",
        "roc_auc",
    }
    assert 0.5 < metrics["roc_auc"] <= 1.0
    assert metrics["log_loss"] > 0


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_roc_auc_is_left_out_when_a_class_is_absent() -> None:
    model, X, y = fitted_on(3)
    only_two = (y != "c").to_numpy()

    metrics = evaluation_metrics(model, X[only_two], y[only_two])

    assert "roc_auc" not in metrics
    assert "log_loss" in metrics


@pytest.mark.parametrize(("n_classes", "curves"), [(2, 1), (3, 3)])
def test_evaluation_plots(n_classes: int, curves: int) -> None:
    model, X, y = fitted_on(n_classes)

    figures = evaluation_plots(model, X, y)

    assert set(figures) == {"confusion_matrix.png", "roc_curves.png"}
    roc_axes = figures["roc_curves.png"].axes[0]
    assert len(roc_axes.get_lines()) == curves + 1  # and the chance diagonal


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["Adelie"] * 5, "has a single class ('Adelie'); classification needs at"),
        ([0.5, 1.25, 2.0, 3.75], "holds continuous numbers such as 0.5;"),
    ],
)
def test_check_target_refuses_what_cannot_be_classified(
    labels: list[object], message: str
) -> None:
    with pytest.raises(DataError) as raised:
        check_target(pd.Series(labels, name="kind"), "data.csv")

    assert str(raised.value).startswith(f"data.csv: target column 'kind' {message}")


@pytest.mark.parametrize("labels", [["a", "b", "a"], [0, 1, 1], [1.0, 2.0, 2.0]])
def test_check_target_accepts_class_labels(labels: list[object]) -> None:
    check_target(pd.Series(labels, name="kind"), "data.csv")


def test_single_class_is_one_line_from_the_cli(
    tmp_path: Path, demo_frame: pd.DataFrame, train_on: Callable[[Path], Result]
) -> None:
    path = tmp_path / "adelie.csv"
    demo_frame[demo_frame["species"] == "Adelie"].to_csv(path, index=False)

    result = train_on(path)

    assert_one_line_error(result, f"{path}: target column 'species' has a single")
    assert not (tmp_path / "saved-runs").exists()


GUESSES = ["a", "b", "c"]
"""Classes of the hand-made classifier, which predicts its ``guess`` column."""


def guessing_classifier() -> Pipeline:
    """A real fitted classifier whose prediction is its input: guess 0 is "a"."""
    features = pd.DataFrame({"guess": range(len(GUESSES))})
    return Pipeline([("tree", DecisionTreeClassifier())]).fit(features, GUESSES)


def hand_rows(groups: dict[str, tuple[str, str]]) -> Dataset:
    """Rows of each group, given as (true classes, predicted classes) strings."""
    truth, guesses, labels = [], [], []
    for group, (actual, predicted) in groups.items():
        truth += list(actual)
        guesses += [GUESSES.index(label) for label in predicted]
        labels += [group] * len(actual)
    return Dataset(
        pd.DataFrame({"guess": guesses}),
        pd.Series(truth, name="label"),
        pd.DataFrame({"colony": labels}),
    )


HAND_GROUPS = {
    "North/South": ("aabc", "abbc"),
    "East": ("abbc", "aacc"),
    "West": ("a", "c"),
}
"""Three colonies; West has one row, too few to judge with two as the minimum.

Judged, by hand, one class against the rest:
share predicted as a: 1/4 and 2/4, as b: 2/4 and 0, as c: 1/4 and 2/4, so
the demographic parity difference is 0.5 (class b);
true and false positive rates of a: 1/2, 0 and 1, 1/3; of b: 1, 1/3 and 0,
0; of c: 1, 0 and 1, 1/3, so the equalized odds difference is 1 (class b).
With West judged too, the share predicted as c is 1 there: 0.75 (class c).
"""


def test_multiclass_parity_and_odds_match_a_hand_computation() -> None:
    (audit,) = fairness.audit_fairness(
        guessing_classifier(), hand_rows(HAND_GROUPS), ["colony"], 2
    )

    assert audit.demographic_parity_difference == pytest.approx(0.5)
    assert audit.demographic_parity_class == "b"
    assert audit.equalized_odds_difference == pytest.approx(1.0)
    assert audit.equalized_odds_class == "b"


def test_a_small_group_counts_once_judged() -> None:
    (audit,) = fairness.audit_fairness(
        guessing_classifier(), hand_rows(HAND_GROUPS), ["colony"], 1
    )

    assert audit.demographic_parity_difference == pytest.approx(0.75)
    assert audit.demographic_parity_class == "c"


def test_a_group_without_a_class_has_no_rate_of_it_to_compare() -> None:
    perfect = {"North": ("ab", "ab"), "South": ("bb", "bb")}

    (audit,) = fairness.audit_fairness(
        guessing_classifier(), hand_rows(perfect), ["colony"], 1
    )

    # Fairlearn would count South's missing true positive rate of "a" as 0.
    assert audit.equalized_odds_difference is None
    assert audit.demographic_parity_difference == pytest.approx(0.5)


def test_classifier_limits_are_accepted_for_a_classifier(settings: Settings) -> None:
    limits = settings.fairness.model_copy(
        update={"max_demographic_parity_difference": 0.2}
    )

    fairness.check_fairness_limits(limits)


def test_parity_and_odds_above_their_maximum_fail_naming_the_class() -> None:
    audits = fairness.audit_fairness(
        guessing_classifier(), hand_rows(HAND_GROUPS), ["colony"], 2
    )
    limits = FairnessConfig(
        max_demographic_parity_difference=0.4, max_equalized_odds_difference=1.0
    )

    assert gates.fairness_failures(audits, limits) == [
        "fairness colony: demographic parity difference 0.5 (class 'b' against"
        " the rest) above the maximum 0.4"
    ]
