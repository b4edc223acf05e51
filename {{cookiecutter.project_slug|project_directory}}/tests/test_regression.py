from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from sklearn.base import BaseEstimator
from sklearn.datasets import make_regression
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    parametrize_with_checks,
)

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.data import Split
from {{ cookiecutter.package_name }}.errors import ConfigError, DataError
from {{ cookiecutter.package_name }}.evaluation import fairness, gates
from {{ cookiecutter.package_name }}.model.task import (
    ESTIMATOR,
    GREATER_IS_BETTER,
    PRIMARY_METRIC,
    GradientBoostedRegressor,
    check_target,
    compute_metrics,
    evaluation_metrics,
    evaluation_plots,
    stratify_by,
)

from .conftest import assert_one_line_error


@parametrize_with_checks([GradientBoostedRegressor()])  # type: ignore[untyped-decorator]
def test_sklearn_compatible(
    estimator: BaseEstimator, check: Callable[[BaseEstimator], None]
) -> None:
    check(estimator)


def test_dataframe_column_names_consistency() -> None:
    check_dataframe_column_names_consistency(
        "GradientBoostedRegressor", GradientBoostedRegressor()
    )


def test_not_fitted_before_fit() -> None:
    reg = GradientBoostedRegressor()

    assert not hasattr(reg, "booster_")
    with pytest.raises(NotFittedError):
        reg.predict([[0.0]])


def test_predicts_with_missing_values() -> None:
    X, y = make_regression(n_samples=200, random_state=0)
    X[::7, 0] = np.nan

    predictions = GradientBoostedRegressor(max_iter=10).fit(X, y).predict(X)

    assert predictions.shape == y.shape
    assert np.isfinite(predictions).all()


def test_random_state_gives_identical_predictions() -> None:
    X, y = make_regression(n_samples=300, random_state=0)

    first, second = (
        GradientBoostedRegressor(max_iter=10, random_state=7).fit(X, y)
        for _ in range(2)
    )

    assert first.booster_.random_state == 7
    np.testing.assert_array_equal(first.predict(X), second.predict(X))


def test_compute_metrics_on_hand_made_example() -> None:
    metrics = compute_metrics(y_true=[1.0, 2.0, 3.0, 4.0], y_pred=[1.0, 2.0, 3.0, 6.0])

    assert metrics == pytest.approx({"rmse": 1.0, "mae": 0.5, "r2": 0.2})
    assert all(type(value) is float for value in metrics.values())


def test_primary_metric_is_computed() -> None:
    assert PRIMARY_METRIC in compute_metrics([0.0, 1.0], [0.0, 1.0])
    assert GREATER_IS_BETTER is False


def test_splits_are_not_stratified() -> None:
    assert stratify_by(pd.Series([0.5, 1.5])) is None


def test_booster_gets_every_hyperparameter() -> None:
    X, y = make_regression(n_samples=60, random_state=0)
    estimator = GradientBoostedRegressor(learning_rate=0.05, random_state=1)
    estimator.fit(X, y)
    hyperparameters = estimator.get_params().items()

    assert estimator.booster_.get_params().items() >= hyperparameters
    assert ESTIMATOR is GradientBoostedRegressor


def test_evaluation_metrics_and_plots() -> None:
    X, y = make_regression(n_samples=80, n_features=3, random_state=0)
    features = pd.DataFrame(X).add_prefix("x")
    model = GradientBoostedRegressor(max_iter=10, random_state=0).fit(features, y)

    metrics = evaluation_metrics(model, features, pd.Series(y))
    figures = evaluation_plots(model, features, pd.Series(y))

    assert metrics == pytest.approx(compute_metrics(y, model.predict(features)))
    assert set(figures) == {"residuals.png", "predicted_vs_actual.png"}
    assert all(len(figure.axes) == 1 for figure in figures.values())


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["12.5", "heavy", "3"], "must be numeric for regression, found 'heavy'"),
        ([True, False, True], "must be numeric for regression, found True"),
        ([4.5, 4.5, 4.5], "has the same value in every row (4.5);"),
    ],
)
def test_check_target_refuses_what_cannot_be_regressed(
    values: list[object], message: str
) -> None:
    with pytest.raises(DataError) as raised:
        check_target(pd.Series(values, name="mass"), "data.csv")

    assert str(raised.value).startswith(f"data.csv: target column 'mass' {message}")


def test_check_target_accepts_varying_numbers() -> None:
    check_target(pd.Series([1, 2, 2], name="mass"), "data.csv")


@pytest.mark.parametrize(
    ("value", "message"),
    [(4200.0, "has the same value in every row"), ("heavy", "must be numeric")],
)
def test_degenerate_target_is_one_line_from_the_cli(
    tmp_path: Path,
    demo_frame: pd.DataFrame,
    train_on: Callable[[Path], Result],
    value: float | str,
    message: str,
) -> None:
    path = tmp_path / "degenerate.csv"
    demo_frame.assign(body_mass_g=value).to_csv(path, index=False)

    result = train_on(path)

    assert_one_line_error(result, f"{path}: target column 'body_mass_g' {message}")
    assert not (tmp_path / "saved-runs").exists()


def test_regression_has_no_parity_or_odds(
    fitted_pipeline: Pipeline, split: Split, settings: Settings
) -> None:
    (audit,) = fairness.audit_fairness(fitted_pipeline, split.test, ["island"], 1)
    limits = settings.fairness.model_copy(update={"max_equalized_odds_difference": 0.2})

    assert audit.gap is not None
    assert audit.demographic_parity_difference is None
    assert audit.equalized_odds_difference is None
    with pytest.raises(ConfigError, match="max_equalized_odds_difference applies"):
        fairness.check_fairness_limits(limits)


def test_a_classifier_limit_in_a_regression_project_is_a_config_error(
    settings: Settings,
) -> None:
    limits = settings.fairness.model_copy(
        update={"max_demographic_parity_difference": 0.2}
    )

    with pytest.raises(ConfigError, match="applies to classifiers only"):
        gates.fairness_failures([], limits)
