"""Models as MLflow artifacts: logged or saved with their signature, and loaded back.

A model is stored with its signature (the input columns and their types),
an input example, pinned pip requirements and the list of types that skops
may trust when it loads the model again.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo
from mlflow.pyfunc import PyFuncModel
from mlflow.pyfunc import load_model as load_pyfunc
from mlflow.types import DataType
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from ..config import Settings
from ..data import ColumnDtypes
from ..errors import ModelError, first_line
from .connection import connect
from .registry import champion_uri

MODEL_ARTIFACT_NAME = "model"
# Distributions the logged model needs at load time, pinned to what trained it.
MODEL_REQUIREMENTS = (
    "{{ cookiecutter.project_slug }}",
    "mlflow",
    "numpy",
    "pandas",
    "scikit-learn",
)
# Library types that skops does not trust by default but this pipeline stores.
# Trusting them is safe for models written by this project's own training runs;
# review this list before loading model files from anywhere else.
TRUSTED_LIBRARY_TYPES = (
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
# pandas dtypes that satisfy MLflow's schema enforcement for each column type.
READ_DTYPES = {
    DataType.double: "float64",
    DataType.float: "float32",
    DataType.string: "object",
}
# The top-level package: the project's own classes live below it.
_PACKAGE = __name__.partition(".")[0]


def trusted_types(pipeline: Pipeline) -> list[str]:
    """Return the dotted names of the types skops must trust to load ``pipeline``.

    MLflow stores scikit-learn models with skops, which refuses to load any
    type it has not been told to trust: this project's own classes inside the
    pipeline, and the reviewed library types above.
    """
    steps = pipeline.get_params(deep=True).values()
    own = {
        f"{type(step).__module__}.{type(step).__qualname__}"
        for step in steps
        if isinstance(step, BaseEstimator)
        and type(step).__module__.startswith(f"{_PACKAGE}.")
    }
    return sorted(own.union(TRUSTED_LIBRARY_TYPES))


def pinned_requirements() -> list[str]:
    """Return the model's pip requirements, pinned to the installed versions."""
    return [f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS]


def with_decimal_integers(sample: pd.DataFrame) -> pd.DataFrame:
    """Return ``sample`` with its integer columns as ``float64``.

    A column of whole numbers without gaps would enter the signature as an
    integer column, and MLflow would then refuse a later table where one value
    is missing (pandas reads such a column as decimals).

    Examples
    --------
    >>> with_decimal_integers(pd.DataFrame({"n": [1, 2]}))["n"].dtype
    dtype('float64')
    """
    integers = sample.select_dtypes("integer").columns
    return sample.astype(dict.fromkeys(integers, "float64"))


def model_options(pipeline: Pipeline, sample: pd.DataFrame) -> dict[str, Any]:
    """Return how ``pipeline`` is stored: signature, input example, requirements."""
    sample = with_decimal_integers(sample)
    return {
        "signature": infer_signature(sample, pipeline.predict(sample)),
        "input_example": sample.head(5),
        "pip_requirements": pinned_requirements(),
        "skops_trusted_types": trusted_types(pipeline),
    }


def log_model(pipeline: Pipeline, sample: pd.DataFrame) -> ModelInfo:
    """Log ``pipeline`` to the active run with its signature and an input example."""
    info: ModelInfo = mlflow.sklearn.log_model(
        pipeline, name=MODEL_ARTIFACT_NAME, **model_options(pipeline, sample)
    )
    return info


def save_model(pipeline: Pipeline, sample: pd.DataFrame, path: Path) -> None:
    """Save ``pipeline`` as an MLflow model directory at ``path``, as logged."""
    mlflow.sklearn.save_model(pipeline, str(path), **model_options(pipeline, sample))


def load_model(uri: str) -> PyFuncModel:
    """Load the model at ``uri`` (``models:/name@alias``, ``runs:/...``, a path).

    Raises
    ------
    ModelError
        If there is no model at ``uri`` or it cannot be loaded.
    """
    try:
        return load_pyfunc(uri)
    except (MlflowException, OSError) as error:
        raise ModelError(f"cannot load model {uri!r}: {first_line(error)}") from error


def load_configured_model(settings: Settings, model_uri: str | None) -> PyFuncModel:
    """Load ``model_uri``, or else the configured champion, via the configured tracking.

    Raises
    ------
    ModelError
        If there is no such model or it cannot be loaded.
    """
    connect(settings.tracking)
    return load_model(model_uri or champion_uri(settings.tracking))


def input_columns(model: PyFuncModel) -> list[str]:
    """Return the columns the model's signature requires, in order."""
    signature = model.metadata.signature
    if signature is None:
        raise ModelError("the model was logged without a signature")
    return list(signature.inputs.input_names())


def read_dtypes(model: PyFuncModel) -> ColumnDtypes:
    """Return the pandas dtype to read each signature column with, where fixed."""
    signature = model.metadata.signature
    if signature is None:
        return {}
    return {
        spec.name: READ_DTYPES[spec.type]
        for spec in signature.inputs.inputs
        if spec.type in READ_DTYPES
    }
