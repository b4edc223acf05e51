"""Evaluation: score a logged model on labelled data."""

from __future__ import annotations

import logging
from pathlib import Path

from . import {{ cookiecutter.task }} as task
from . import tracking
from .config import Settings
from .data import load_dataset
from .predict import load_configured_model, predict_frame
from .train import split_data

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
    uri = model_uri or tracking.champion_uri(settings.tracking)
    if data_path is None:
        dataset = split_data(settings).test
    else:
        dataset = load_dataset(settings.data, data_path)
    logger.info("Scoring %s on %d rows", uri, len(dataset.target))
    predictions = predict_frame(model, dataset.features, data_path or uri)
    return task.compute_metrics(dataset.target, predictions)
