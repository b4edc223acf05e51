"""The model a server answers with: loaded once, described once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from .. import __version__
from ..config import Settings
from ..data.contract import Contract
from ..errors import ModelError, first_line
from ..model.inference import LeanPredictor
from ..monitoring.log_format import PREDICTION
from ..tracking.artifacts import (
    load_configured_model,
    model_contract,
    model_reference,
)
from ..tracking.registry import champion_uri, registered_version
from .inputs import Column, signature_columns

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedModel:
    """A loaded scikit-learn model with its signature's columns and data contract.

    Attributes
    ----------
    estimator : Any
        The fitted scikit-learn estimator or pipeline, called directly so
        that requests skip MLflow's generic pyfunc wrapper.
    columns : list of Column
        The input columns the signature requires, in order.
    uri : str
        Where the model was loaded from.
    model_version : str or None
        The registry version behind ``uri``, if it names a registered model.
    contract : Contract or None
        The data contract learned with the model; None for a model logged
        before contracts, whose requests are checked against the signature only.
    reference_predictions : numpy.ndarray or None
        The model's predictions for the reference sample of training rows,
        if the model was logged with one.
    lean : LeanPredictor
        The estimator's lean inference path, which requests take once checked.
    """

    estimator: Any
    columns: list[Column]
    uri: str
    model_version: str | None
    contract: Contract | None = None
    reference_predictions: np.ndarray[Any, Any] | None = None
    lean: LeanPredictor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Build the lean inference path of the estimator."""
        # A frozen dataclass sets its derived fields through object.
        object.__setattr__(self, "lean", LeanPredictor(self.estimator))

    @property
    def has_probabilities(self) -> bool:
        """Whether the model can say how likely each class is."""
        return hasattr(self.estimator, "predict_proba")

    @property
    def is_classifier(self) -> bool:
        """Whether the model predicts classes rather than numbers."""
        # Fitted scikit-learn classifiers, pipelines included, list their classes.
        return hasattr(self.estimator, "classes_")

    def predict(self, df: pd.DataFrame) -> np.ndarray[Any, Any]:
        """Return the prediction for each row of the checked data frame ``df``."""
        return self.lean.predict(df)

    def predict_proba(self, df: pd.DataFrame) -> list[dict[str, float]]:
        """Return, for each row of ``df``, the probability of each class by name."""
        classes = [str(label) for label in self.estimator.classes_]
        return [
            dict(zip(classes, row, strict=True))
            for row in self.lean.predict_proba(df).tolist()
        ]

    def describe(self) -> dict[str, str | None]:
        """Return the package version, model URI and model version, for ``/version``."""
        return {
            "package_version": __version__,
            "model_uri": self.uri,
            "model_version": self.model_version,
        }


def registry_version(uri: str) -> str | None:
    """Return the registry version ``uri`` points to, if it names a registered model.

    Raises
    ------
    ModelError
        If the registry cannot resolve the alias.
    """
    found = registered_version(MlflowClient(), uri)
    return None if found is None else found[1]


def load_served_model(settings: Settings, model_uri: str | None) -> ServedModel:
    """Load ``model_uri``, or else the configured champion, ready to serve.

    The model is loaded as scikit-learn model with its signature's columns,
    its data contract and reference predictions when it was logged with them
    and, for a ``models:/`` URI, the registry version it resolves to.

    Raises
    ------
    ModelError
        If there is no model at ``uri``, it is not a scikit-learn model, or its
        signature has no named columns.
    """
    uri = model_uri or champion_uri(settings.tracking)
    model = load_configured_model(settings, uri)
    try:
        estimator = model.get_raw_model()  # type: ignore[no-untyped-call]
    except MlflowException as error:
        raise ModelError(f"cannot serve {uri!r}: {first_line(error)}") from error
    columns = signature_columns(model.metadata.signature)
    contract = model_contract(uri)
    if contract is None:
        logger.info(
            "%s has no data contract (logged before contracts): requests are"
            " checked against its signature only",
            uri,
        )
    reference = model_reference(uri)
    return ServedModel(
        estimator,
        columns,
        uri,
        registry_version(uri),
        contract,
        None if reference is None else reference[PREDICTION].to_numpy(),
    )
