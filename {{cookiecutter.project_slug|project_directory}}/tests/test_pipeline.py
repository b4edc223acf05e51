import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.data import Split
from {{ cookiecutter.package_name }}.model import LeanPredictor
from {{ cookiecutter.package_name }}.model.features import OutlierClipper
from {{ cookiecutter.package_name }}.model.pipeline import build_pipeline


def test_pipeline_is_built_from_configuration(settings: Settings) -> None:
    pipeline = build_pipeline(settings)

    model = pipeline.named_steps["model"]
    assert model.random_state == settings.seed
    assert model.max_iter == settings.model.max_iter
    clipper = pipeline.named_steps["preprocess"].transformers[0][1][-1]
    assert isinstance(clipper, OutlierClipper)
    assert clipper.quantile == settings.preprocessing.clip_quantile


def test_preprocessing_outputs_named_numeric_columns(
    fitted_pipeline: Pipeline, split: Split, settings: Settings
) -> None:
    encoded = fitted_pipeline.named_steps["preprocess"].transform(split.test.features)

    assert isinstance(encoded, pd.DataFrame)
    assert list(encoded.columns[: len(settings.data.numeric_features)]) == (
        settings.data.numeric_features
    )
    assert encoded.notna().all().all()
    assert all(pd.api.types.is_float_dtype(dtype) for dtype in encoded.dtypes)


def test_unseen_category_does_not_break_prediction(
    fitted_pipeline: Pipeline, split: Split, settings: Settings
) -> None:
    rows = split.test.features.head(3).copy()
    rows[settings.data.categorical_features[0]] = "never seen before"

    assert len(fitted_pipeline.predict(rows)) == 3


@pytest.mark.filterwarnings("error")
def test_lean_predictions_equal_the_pipeline_s_without_warnings(
    fitted_pipeline: Pipeline, demo_frame: pd.DataFrame
) -> None:
    features = demo_frame[list(fitted_pipeline.feature_names_in_)]
    lean = LeanPredictor(fitted_pipeline)

    assert lean.estimator is not fitted_pipeline
    for df in (features, features.head(1)):
        np.testing.assert_array_equal(lean.predict(df), fitted_pipeline.predict(df))
    if hasattr(fitted_pipeline, "predict_proba"):
        np.testing.assert_array_equal(
            lean.predict_proba(features), fitted_pipeline.predict_proba(features)
        )
