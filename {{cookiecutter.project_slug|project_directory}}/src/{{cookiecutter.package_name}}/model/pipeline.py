"""The one place where the model pipeline is assembled from the configuration."""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

from ..config import Settings
from .contract import TASK
from .features import OutlierClipper


def build_preprocessor(settings: Settings) -> ColumnTransformer:
    """Impute and clip numeric features; impute and one-hot encode categories."""
    numeric = make_pipeline(
        SimpleImputer(strategy="median"),
        OutlierClipper(quantile=settings.preprocessing.clip_quantile),
    )
    categorical = make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    return ColumnTransformer(
        [
            ("numeric", numeric, settings.data.numeric_features),
            ("categorical", categorical, settings.data.categorical_features),
        ],
        verbose_feature_names_out=False,
    )


def build_pipeline(settings: Settings) -> Pipeline:
    """Return the unfitted pipeline: preprocessing followed by the estimator.

    The seed in ``settings`` is threaded to every random step, so the same
    configuration and data always give the same model.
    """
    estimator = TASK.ESTIMATOR(
        **settings.model.model_dump(), random_state=settings.seed
    )
    return Pipeline(
        [("preprocess", build_preprocessor(settings)), ("model", estimator)]
    ).set_output(transform="pandas")
