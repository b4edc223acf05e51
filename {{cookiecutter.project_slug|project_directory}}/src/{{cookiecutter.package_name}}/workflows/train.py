"""Training: fit and score the pipeline, save it, log it to MLflow, gate promotion."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient
from sklearn.pipeline import Pipeline

from ..config import Settings
from ..data import Dataset
from ..errors import ModelError
from ..evaluation import (
    CARD_ARTIFACT,
    Evaluation,
    evaluate_model,
    holdout_split,
    log_evaluation,
    render_card,
)
from ..model import TASK, build_pipeline
from ..tracking import provenance, registry, runs
from ..tracking.artifacts import load_model, log_model
from ..tracking.connection import connect, reported_failures
from .predict import predict_frame

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
        return self.metrics[TASK.PRIMARY_METRIC]


def fit_pipeline(settings: Settings, train: Dataset) -> Pipeline:
    """Build the configured pipeline and fit it on ``train``."""
    logger.info("Fitting on %d rows", len(train.features))
    return build_pipeline(settings).fit(train.features, train.target)


def score_model_uri(uri: str, test: Dataset) -> float:
    """Score the model at ``uri`` on ``test`` with the promotion metric."""
    predictions = predict_frame(load_model(uri), test.features, uri)
    return TASK.compute_metrics(test.target, predictions)[TASK.PRIMARY_METRIC]


def log_run(saved: runs.SavedRun, evaluation: Evaluation, run_id: str) -> str:
    """Log the saved run to the active run ``run_id``; return the model's URI.

    Logs the configuration (as parameters, and as ``config.yaml`` with
    credentials removed), the provenance recorded at training time, metrics,
    slice metrics and plots, the model card, and the model; the training rows
    give the model's signature and input example.
    """
    settings, split = saved.settings, saved.split
    mlflow.log_params(provenance.flatten(provenance.resolved_config(settings)))
    tags = provenance.log_provenance(settings, split, saved.provenance)
    log_evaluation(evaluation)
    model_card = render_card(settings, split, evaluation, tags, run_id)
    mlflow.log_text(model_card, CARD_ARTIFACT)
    return log_model(saved.pipeline, split.train.features).model_uri


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
    champion = registry.champion_version(client, settings.tracking)
    champion_score = None
    if champion is not None:
        champion_uri = registry.version_uri(settings.tracking, champion)
        champion_score = score_model_uri(champion_uri, test)
    promoted = registry.is_better(score, champion_score, TASK.GREATER_IS_BETTER)
    if promoted:
        registry.crown(client, settings.tracking, candidate, champion)
    mlflow.set_tags(
        {
            "promotion.promoted": str(promoted).lower(),
            "promotion.metric": TASK.PRIMARY_METRIC,
            "promotion.candidate_score": score,
            "promotion.champion_version": champion or "none",
            "promotion.champion_score": (
                "none" if champion_score is None else champion_score
            ),
        }
    )
    return champion_score, promoted


def train(settings: Settings) -> TrainingResult:
    """Train, evaluate on the held-out split, save, log everything, gate promotion.

    The run and its provenance are saved locally (see
    :mod:`~{{ cookiecutter.package_name }}.tracking.runs`) before
    MLflow is contacted, so a tracking failure loses nothing. The new version
    is registered in every case; the champion alias moves to it only if it
    beats the current champion, scored on the same test rows.
    """
    split = holdout_split(settings)
    pipeline = fit_pipeline(settings, split.train)
    evaluation = evaluate_pipeline(settings, pipeline, split.test)
    origin = provenance.provenance_tags(settings)
    saved = runs.save_run(settings, pipeline, evaluation.metrics, split, origin)
    return publish(saved, evaluation)


def evaluate_pipeline(
    settings: Settings, pipeline: Pipeline, test: Dataset
) -> Evaluation:
    """Score ``pipeline`` on ``test``: metrics, slice metrics and plots."""
    return evaluate_model(pipeline, test, settings.evaluation.slice_columns)


def publish(saved: runs.SavedRun, evaluation: Evaluation) -> TrainingResult:
    """Log the saved run and its evaluation, register its model, gate promotion.

    Raises
    ------
    TrackingError
        If MLflow fails; the message says where the saved run is.
    """
    settings = saved.settings
    with reported_failures(settings.tracking, saved.path):
        client = connect(settings.tracking)
        mlflow.set_experiment(settings.tracking.experiment)
        with mlflow.start_run() as run:
            run_id = run.info.run_id
            model_uri = log_run(saved, evaluation, run_id)
            name = settings.tracking.registered_model
            version = registry.register(client, model_uri, name, run_id)
            score = evaluation.metrics[TASK.PRIMARY_METRIC]
            champion_score, promoted = gate(
                client, settings, version, score, saved.split.test
            )
    runs.mark_logged(saved, run_id, version)
    return TrainingResult(run_id, version, evaluation.metrics, champion_score, promoted)


def upload(settings: Settings, path: Path) -> TrainingResult:
    """Log the run saved at ``path`` with the tracking settings of ``settings``.

    Raises
    ------
    ModelError
        If ``path`` is not a saved run, or was already logged.
    TrackingError
        If MLflow fails.
    """
    logged = runs.logged_as(path)
    if logged is not None:
        raise ModelError(
            f"saved run {path} was already logged as run {logged['run_id']}"
            f" (version {logged['model_version']}) to {logged['tracking_uri']}"
        )
    saved = runs.load_run(path, settings.tracking)
    # Scoring the saved model on its saved test rows gives the same evaluation
    # as at training time, plots included, without storing the figures.
    test = saved.split.test
    return publish(saved, evaluate_pipeline(saved.settings, saved.pipeline, test))
