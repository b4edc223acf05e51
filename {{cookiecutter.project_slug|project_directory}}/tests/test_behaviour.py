"""Behaviour of the trained model, beyond the code being correct."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import is_classifier
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.data import Split, select_features
from {{ cookiecutter.package_name }}.errors import DataError
from {{ cookiecutter.package_name }}.model import TASK
from {{ cookiecutter.package_name }}.workflows.train import fit_pipeline


def primary_score(
    pipeline: Pipeline | DummyClassifier | DummyRegressor, split: Split
) -> float:
    predictions = pipeline.predict(split.test.features)
    return TASK.compute_metrics(split.test.target, predictions)[TASK.PRIMARY_METRIC]


def test_same_seed_gives_identical_predictions(
    settings: Settings, split: Split, fitted_pipeline: Pipeline
) -> None:
    again = fit_pipeline(settings, split.train)

    np.testing.assert_array_equal(
        again.predict(split.test.features), fitted_pipeline.predict(split.test.features)
    )


def test_beats_a_dummy_baseline(fitted_pipeline: Pipeline, split: Split) -> None:
    baseline = (
        DummyClassifier(strategy="most_frequent")
        if is_classifier(fitted_pipeline)
        else DummyRegressor(strategy="mean")
    ).fit(split.train.features, split.train.target)

    model_score = primary_score(fitted_pipeline, split)
    baseline_score = primary_score(baseline, split)

    if TASK.GREATER_IS_BETTER:
        assert model_score > baseline_score * 1.2
    else:
        assert model_score < baseline_score * 0.8


def test_column_order_does_not_matter(fitted_pipeline: Pipeline, split: Split) -> None:
    features = split.test.features
    reversed_columns = features[features.columns[::-1]]

    np.testing.assert_array_equal(
        fitted_pipeline.predict(reversed_columns), fitted_pipeline.predict(features)
    )


def test_extra_columns_are_ignored(fitted_pipeline: Pipeline, split: Split) -> None:
    features = split.test.features
    widened = features.assign(comment="unused", row_id=range(len(features)))

    np.testing.assert_array_equal(
        fitted_pipeline.predict(widened), fitted_pipeline.predict(features)
    )


def test_missing_column_is_a_clear_error(
    fitted_pipeline: Pipeline, split: Split, settings: Settings
) -> None:
    column = settings.data.numeric_features[0]
    narrowed = split.test.features.drop(columns=[column])

    with pytest.raises(DataError, match=rf"missing column.*{column}"):
        select_features(narrowed, settings.data, "request")


def test_predictions_are_never_missing_or_infinite(
    fitted_pipeline: Pipeline, split: Split
) -> None:
    empty_rows = pd.DataFrame(
        np.nan, index=range(3), columns=split.test.features.columns
    )
    features = pd.concat([split.test.features, empty_rows], ignore_index=True)

    predictions = pd.Series(fitted_pipeline.predict(features))

    assert predictions.notna().all()
    if pd.api.types.is_numeric_dtype(predictions):
        assert np.isfinite(predictions.to_numpy(dtype=float)).all()
