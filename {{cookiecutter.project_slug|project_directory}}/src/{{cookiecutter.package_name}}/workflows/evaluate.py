"""Evaluation of a logged model on labelled data."""

from __future__ import annotations

import logging
from pathlib import Path

from ..config import Settings
from ..data import load_dataset
from ..evaluation import holdout_split
from ..model import TASK
from ..tracking.artifacts import load_configured_model
from ..tracking.registry import champion_uri
from .predict import predict_frame

logger = logging.getLogger(__name__)


def evaluate(
    settings: Settings, model_uri: str | None = None, data_path: Path | None = None
) -> dict[str, float]:
    """Return the metrics of a model on labelled data.

    By default the champion is scored on the configured data's held-out split
    (the same rows training scored on); ``data_path`` scores every labelled
    row of another file with the same columns instead.
    """
    model = load_configured_model(settings, model_uri)
    uri = model_uri or champion_uri(settings.tracking)
    if data_path is None:
        dataset = holdout_split(settings).test
    else:
        dataset = load_dataset(settings.data, data_path)
    logger.info("Scoring %s on %d rows", uri, len(dataset.target))
    predictions = predict_frame(model, dataset.features, data_path or uri)
    return TASK.compute_metrics(dataset.target, predictions)
