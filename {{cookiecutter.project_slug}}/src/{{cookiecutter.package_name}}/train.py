"""Training: fit the pipeline, score it, record it in MLflow, gate promotion."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import mlflow
from mlflow.tracking import MlflowClient
from sklearn.pipeline import Pipeline

from . import card, lifecycle, provenance, report, tracking
from . import {{ cookiecutter.task }} as task
from .config import Settings
from .data import Dataset, Split, load_dataset, split_dataset
from .pipeline import build_pipeline
from .predict import load_model, predict_frame
from .report import Evaluation

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingResult:
    """What a training run produced and whether it became the champion."""

    run_id: str
    model_version: str
    metrics: dict[str, float]
    champion_score: float | None
    promoted: bool

    @property
    def score(self) -> float:
        """The candidate's score on the metric that decides promotion."""
        return self.metrics[task.PRIMARY_METRIC]


def split_data(settings: Settings) -> Split:
    """Load the configured data and split it reproducibly into train and test."""
    dataset = load_dataset(settings.data)
    stratify = task.stratify_by(dataset.target)
    return split_dataset(dataset, settings.data.test_size, settings.seed, stratify)


def fit_pipeline(settings: Settings, train: Dataset) -> Pipeline:
    """Build the configured pipeline and fit it on ``train``."""
    logger.info("Fitting on %d rows", len(train.features))
    return build_pipeline(settings).fit(train.features, train.target)


def score_model_uri(uri: str, test: Dataset) -> float:
    """Score the model at ``uri`` on ``test`` with the promotion metric."""
    predictions = predict_frame(load_model(uri), test.features, uri)
    return task.compute_metrics(test.target, predictions)[task.PRIMARY_METRIC]


def log_run(
    settings: Settings,
    pipeline: Pipeline,
    evaluation: Evaluation,
    split: Split,
    run_id: str,
) -> str:
    """Log a training run to the active run ``run_id``; return the model's URI.

    Logs the configuration (as parameters, and as ``config.yaml`` with
    credentials removed), provenance, metrics, slice metrics and plots, the
    model card, and the model; the training rows give the model's signature
    and input example.
    """
    mlflow.log_params(tracking.flatten(provenance.resolved_config(settings)))
    tags = provenance.log_provenance(settings, split)
    report.log_evaluation(evaluation)
    model_card = card.render_card(settings, split, evaluation, tags, run_id)
    mlflow.log_text(model_card, card.CARD_ARTIFACT)
    return tracking.log_model(pipeline, split.train.features).model_uri


def gate(
    client: MlflowClient,
    settings: Settings,
    candidate: str,
    score: float,
    test: Dataset,
) -> tuple[float | None, bool]:
    """Give ``candidate`` the champion alias if it beats the current champion.

    Both are scored on the same ``test`` rows. The decision and both scores are
    recorded as tags of the active run; a promoted candidate records the
    champion it replaced, for a later rollback. Returns the champion's score
    (``None`` if there was no champion) and whether the candidate was promoted.
    """
    champion = tracking.champion_version(client, settings.tracking)
    champion_score = None
    if champion is not None:
        champion_uri = f"models:/{settings.tracking.registered_model}/{champion}"
        champion_score = score_model_uri(champion_uri, test)
    promoted = tracking.is_better(score, champion_score, task.GREATER_IS_BETTER)
    if promoted:
        lifecycle.crown(client, settings.tracking, candidate, champion)
    mlflow.set_tags(
        {
            "promotion.promoted": str(promoted).lower(),
            "promotion.metric": task.PRIMARY_METRIC,
            "promotion.candidate_score": score,
            "promotion.champion_version": champion or "none",
            "promotion.champion_score": (
                "none" if champion_score is None else champion_score
            ),
        }
    )
    return champion_score, promoted


def train(settings: Settings) -> TrainingResult:
    """Train, evaluate on the held-out split, log everything, gate promotion.

    The new version is registered in every case; the champion alias moves to
    it only if it beats the current champion, scored on the same test rows.
    """
    split = split_data(settings)
    pipeline = fit_pipeline(settings, split.train)
    slice_columns = settings.evaluation.slice_columns
    evaluation = report.evaluate_model(pipeline, split.test, slice_columns)
    with tracking.reported_failures(settings.tracking):
        client = tracking.connect(settings.tracking)
        mlflow.set_experiment(settings.tracking.experiment)
        with mlflow.start_run() as run:
            run_id = run.info.run_id
            model_uri = log_run(settings, pipeline, evaluation, split, run_id)
            name = settings.tracking.registered_model
            version = tracking.register(client, model_uri, name, run_id)
            score = evaluation.metrics[task.PRIMARY_METRIC]
            champion_score, promoted = gate(
                client, settings, version, score, split.test
            )
    return TrainingResult(run_id, version, evaluation.metrics, champion_score, promoted)
