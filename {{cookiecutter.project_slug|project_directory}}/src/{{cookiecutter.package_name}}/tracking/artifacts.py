"""Models as MLflow artifacts: logged or saved with their signature, and loaded back.

A model is stored with its signature (the input columns and their types),
an input example, pinned pip requirements and the list of types that skops
may trust when it loads the model again. A logged model also carries, as
MLflow extra files named in its metadata, the data contract learned from its
training rows and the reference sample that ``monitor`` compares live data
with, so that whoever loads the model has both.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.artifacts import download_artifacts
from mlflow.exceptions import MlflowException
from mlflow.models import get_model_info, infer_signature
from mlflow.models.model import ModelInfo
from mlflow.pyfunc import PyFuncModel
from mlflow.pyfunc import load_model as load_pyfunc
from mlflow.types import DataType
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from ..config import Settings
from ..data import ColumnDtypes
from ..data.contract import CONTRACT_FILE, Contract
from ..errors import ModelError, first_line
from .connection import connect
from .registry import champion_uri

logger = logging.getLogger(__name__)

MODEL_ARTIFACT_NAME = "model"
# The pinned pip requirements MLflow writes into every model directory.
REQUIREMENTS_FILE = "requirements.txt"
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
REFERENCE_FILE = "reference.parquet"
# Keys of the model's MLflow metadata.
CONTRACT_KEY = "data_contract"
REFERENCE_KEY = "reference"
LATENCY_KEY = "scoring_latency_ms"
# Where MLflow puts a model's extra files, inside the model directory.
_EXTRA_FILES = "extra_files"


@dataclass(frozen=True)
class ModelExtras:
    """What a logged model carries besides the fitted pipeline.

    Attributes
    ----------
    contract : Contract
        The data contract learned from the training rows.
    reference : pandas.DataFrame
        A sample of the training rows and their predictions, without the
        columns the project must not write.
    scoring_latency_ms : float
        Median milliseconds the pipeline took to score one row at training.
    """

    contract: Contract
    reference: pd.DataFrame
    scoring_latency_ms: float


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


def input_example(sample: pd.DataFrame, unwritten: Sequence[str]) -> pd.DataFrame:
    """Return the first rows of ``sample`` with the ``unwritten`` columns blanked.

    The example keeps every column the signature names, so that it still
    shows how to call the model, but personal data never leaves the training
    table through it.

    Examples
    --------
    >>> people = pd.DataFrame({"name": ["Ada"], "age": [36.0]})
    >>> input_example(people, ["name"]).to_dict("records")
    [{'name': None, 'age': 36.0}]
    """
    example = sample.head(5).astype(dict.fromkeys(unwritten, object))
    example.loc[:, list(unwritten)] = None
    return example


def model_options(
    pipeline: Pipeline, sample: pd.DataFrame, unwritten: Sequence[str] = ()
) -> dict[str, Any]:
    """Return how ``pipeline`` is stored: signature, input example, requirements."""
    sample = with_decimal_integers(sample)
    return {
        "signature": infer_signature(sample, pipeline.predict(sample)),
        "input_example": input_example(sample, unwritten),
        "pip_requirements": pinned_requirements(),
        "skops_trusted_types": trusted_types(pipeline),
    }


def log_model(
    pipeline: Pipeline,
    sample: pd.DataFrame,
    extras: ModelExtras,
    unwritten: Sequence[str] = (),
) -> ModelInfo:
    """Log ``pipeline`` to the active run with its signature, example and extras.

    ``extras`` become extra files of the model, named in its metadata; the
    ``unwritten`` columns are blanked in the input example.
    """
    with tempfile.TemporaryDirectory() as directory:
        contract = Path(directory, CONTRACT_FILE)
        contract.write_text(extras.contract.to_yaml(), encoding="utf-8")
        reference = Path(directory, REFERENCE_FILE)
        extras.reference.to_parquet(reference, index=False)
        info: ModelInfo = mlflow.sklearn.log_model(
            pipeline,
            name=MODEL_ARTIFACT_NAME,
            extra_files=[str(contract), str(reference)],
            metadata={
                CONTRACT_KEY: f"{_EXTRA_FILES}/{CONTRACT_FILE}",
                REFERENCE_KEY: f"{_EXTRA_FILES}/{REFERENCE_FILE}",
                LATENCY_KEY: round(extras.scoring_latency_ms, 3),
            },
            **model_options(pipeline, sample, unwritten),
        )
    return info


def save_model(
    pipeline: Pipeline, sample: pd.DataFrame, path: Path, unwritten: Sequence[str] = ()
) -> None:
    """Save ``pipeline`` as an MLflow model directory at ``path``.

    As logged, without the extras, which are learned when the model is logged.
    """
    options = model_options(pipeline, sample, unwritten)
    mlflow.sklearn.save_model(pipeline, str(path), **options)


def download_model(uri: str) -> Path:
    """Return a local directory holding the model at ``uri`` (``uri`` if it is one).

    Raises
    ------
    ModelError
        If there is no model at ``uri`` or it cannot be copied here.
    """
    if Path(uri).is_dir():
        return Path(uri)
    try:
        return Path(download_artifacts(artifact_uri=uri))
    except (MlflowException, OSError) as error:
        raise ModelError(f"cannot load model {uri!r}: {first_line(error)}") from error


def load_model(uri: str, model_dir: Path | None = None) -> PyFuncModel:
    """Load the model at ``uri`` (``models:/name@alias``, ``runs:/...``, a path).

    ``model_dir`` is a copy of it that :func:`download_model` made already.

    Raises
    ------
    ModelError
        If there is no model at ``uri`` or it cannot be loaded.
    """
    local = download_model(uri) if model_dir is None else model_dir
    warn_requirement_mismatches(local / REQUIREMENTS_FILE, uri)
    try:
        # MLflow's own check of the requirements maps every installed
        # distribution to its modules first: a third of a second per load.
        return load_pyfunc(str(local), suppress_warnings=True)
    except (MlflowException, OSError) as error:
        raise ModelError(f"cannot load model {uri!r}: {first_line(error)}") from error


def warn_requirement_mismatches(requirements: Path, uri: str) -> None:
    """Log a WARNING for each pinned requirement of the model this environment breaks.

    Only ``name==version`` lines are checked, which is how models are logged
    here (see :func:`pinned_requirements`); a missing file checks nothing.
    """
    if not requirements.is_file():
        return
    for line in requirements.read_text(encoding="utf-8").splitlines():
        name, separator, pinned = line.strip().partition("==")
        if not separator:
            continue
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "not installed"
        if installed != pinned:
            logger.warning(
                "model %s was logged with %s==%s; here it is %s",
                uri,
                name,
                pinned,
                installed,
            )


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


def model_metadata(uri: str) -> dict[str, Any]:
    """Return the metadata stored with the model at ``uri`` (empty if none).

    Raises
    ------
    ModelError
        If there is no model at ``uri``.
    """
    try:
        metadata = get_model_info(uri).metadata
    except (MlflowException, OSError) as error:
        raise ModelError(f"cannot read model {uri!r}: {first_line(error)}") from error
    return dict(metadata or {})


def _model_file(uri: str, key: str, model_dir: Path | None = None) -> Path | None:
    """Return a local copy of the file that metadata ``key`` names in the model.

    ``model_dir``, a copy of the model already made, is read instead of
    asking the registry again. ``None`` means the model has no such file: it
    was logged before the project stored it.
    """
    relative = model_metadata(uri if model_dir is None else str(model_dir)).get(key)
    if relative is None:
        return None
    if model_dir is not None:
        return Path(model_dir, relative)
    if Path(uri).is_dir():
        return Path(uri, relative)
    try:
        return Path(download_artifacts(artifact_uri=f"{uri.rstrip('/')}/{relative}"))
    except (MlflowException, OSError) as error:
        raise ModelError(
            f"cannot read {relative} of model {uri!r}: {first_line(error)}"
        ) from error


def model_contract(uri: str, model_dir: Path | None = None) -> Contract | None:
    """Return the data contract stored with the model at ``uri``.

    ``model_dir`` is a copy of the model that :func:`download_model` made
    already. ``None`` means the model was logged before contracts were.

    Raises
    ------
    ModelError
        If there is no model at ``uri``, or its contract cannot be read.
    """
    path = _model_file(uri, CONTRACT_KEY, model_dir)
    if path is None:
        return None
    return Contract.from_yaml(path.read_text(encoding="utf-8"), f"{uri} {path.name}")


def model_reference(uri: str) -> pd.DataFrame | None:
    """Return the reference sample stored with the model at ``uri``, if any.

    Raises
    ------
    ModelError
        If there is no model at ``uri``, or its sample cannot be read.
    """
    path = _model_file(uri, REFERENCE_KEY)
    if path is None:
        return None
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as error:
        raise ModelError(
            f"cannot read the reference sample of model {uri!r}: {first_line(error)}"
        ) from error
