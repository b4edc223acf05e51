"""Training: fit and score the pipeline, save it, log it to MLflow, gate promotion."""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models.model import ModelInfo
from mlflow.tracking import MlflowClient
from sklearn.pipeline import Pipeline

from ..config import Settings
from ..data import Dataset, Split
from ..data.contract import CONTRACT_FILE, learn_contract
from ..errors import ModelError
from ..evaluation import (
    CARD_ARTIFACT,
    Evaluation,
    default_slice_columns,
    evaluate_model,
    holdout_split,
    log_evaluation,
    render_card,
)
from ..model import TASK, build_pipeline
from ..monitoring.reference import build_reference
from ..tracking import provenance, registry, runs
from ..tracking.artifacts import ModelExtras, load_model, log_model
from ..tracking.connection import connect, reported_failures, started_run
from .predict import predict_frame

logger = logging.getLogger(__name__)

# One-row predictions timed at training, the baseline of monitor's latency check.
LATENCY_SAMPLES = 50


@dataclass(frozen=True)
class Promotion:
    """The promotion gate's decision about a candidate version.

    ``champion_version`` is the version that held the alias when the gate
    ran (``None`` if none did), ``champion_score`` its score on the
    candidate's test rows, and ``new_lineage`` why it was not scored: how the
    candidate differs from it in inputs or target.
    """

    promoted: bool
    champion_version: str | None = None
    champion_score: float | None = None
    new_lineage: str | None = None


@dataclass(frozen=True)
class Candidate:
    """A newly registered version on its way through the promotion gate.

    ``score`` is its score on the held-out rows ``test``, on which the
    champion is scored too; ``model`` is the logged model, with its signature.
    """

    version: str
    model: ModelInfo
    score: float
    test: Dataset


@dataclass(frozen=True)
class TrainingResult:
    """What a training run produced and whether it became the champion."""

    run_id: str
    model_version: str
    metrics: dict[str, float]
    promotion: Promotion

    @property
    def promoted(self) -> bool:
        """Whether the new version got the champion alias."""
        return self.promotion.promoted

    @property
    def champion_score(self) -> float | None:
        """The champion's score, ``None`` if there was none or it was not scored."""
        return self.promotion.champion_score

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


def scoring_latency_ms(pipeline: Pipeline, rows: pd.DataFrame) -> float:
    """Return the median milliseconds ``pipeline`` takes to predict one row.

    Up to ``LATENCY_SAMPLES`` rows of ``rows`` are predicted one at a time.
    """
    durations = []
    for position in range(min(LATENCY_SAMPLES, len(rows))):
        started = time.perf_counter()
        pipeline.predict(rows.iloc[[position]])
        durations.append(time.perf_counter() - started)
    return 1000 * statistics.median(durations)


def model_extras(settings: Settings, pipeline: Pipeline, split: Split) -> ModelExtras:
    """Learn what the model carries besides itself from its training rows.

    The data contract, a reference sample of the training rows without the
    columns the project must not write, and the one-row scoring latency.
    """
    features = split.train.features
    reference = build_reference(
        features.drop(columns=settings.data.unwritten_columns),
        pipeline.predict(features),
        settings.seed,
    )
    return ModelExtras(
        contract=learn_contract(features, settings.data, settings.contract),
        reference=reference,
        scoring_latency_ms=scoring_latency_ms(pipeline, split.test.features),
    )


def log_run(saved: runs.SavedRun, evaluation: Evaluation, run_id: str) -> ModelInfo:
    """Log the saved run to the active run ``run_id``; return the logged model.

    Logs the configuration (as parameters, and as ``config.yaml`` with
    credentials removed), the provenance recorded at training time, metrics,
    slice metrics and plots, the data contract, the model card, and the model
    with its extras (:func:`model_extras`); the training rows give the model's
    signature and input example.
    """
    settings, split = saved.settings, saved.split
    mlflow.log_params(provenance.flatten(provenance.resolved_config(settings)))
    tags = provenance.log_provenance(settings, split, saved.provenance)
    log_evaluation(evaluation)
    extras = model_extras(settings, saved.pipeline, split)
    mlflow.log_text(extras.contract.to_yaml(), CONTRACT_FILE)
    model_card = render_card(
        settings, split, evaluation, tags, run_id, contract=extras.contract
    )
    mlflow.log_text(model_card, CARD_ARTIFACT)
    unwritten = settings.data.unwritten_columns
    return log_model(saved.pipeline, split.train.features, extras, unwritten)


def gate(client: MlflowClient, settings: Settings, candidate: Candidate) -> Promotion:
    """Give ``candidate`` the champion alias if it beats the current champion.

    Both are scored on the candidate's test rows, if they are of one lineage
    (see :func:`judge`); a candidate of a new lineage is recorded as such on
    its version, and the champion keeps the alias. The decision and both
    scores are recorded as tags of the active run; a promoted candidate
    records the champion it replaced, for a later rollback.
    """
    config = settings.tracking
    champion = registry.champion_version(client, config)
    if champion is None:
        promotion = Promotion(promoted=True)
    else:
        promotion = judge(client, settings, candidate, champion)
        if promotion.new_lineage is not None:
            registry.record_new_lineage(
                client, config, candidate.version, champion, promotion.new_lineage
            )
    if promotion.promoted:
        registry.crown(client, config, candidate.version, champion)
    mlflow.set_tags(promotion_tags(promotion, candidate.score))
    return promotion


def judge(
    client: MlflowClient, settings: Settings, candidate: Candidate, champion: str
) -> Promotion:
    """Decide whether ``candidate`` takes the alias from version ``champion``.

    A candidate with other inputs (its model's signature) or another target
    than the champion is a new lineage: the champion is not scored on data
    it was not made for, and keeps the alias.
    """
    config = settings.tracking
    lineage = registry.Lineage(
        registry.input_types(candidate.model.signature), settings.data.target
    )
    change = registry.lineage_change(
        lineage, registry.version_lineage(client, config, champion)
    )
    if change is not None:
        return Promotion(promoted=False, champion_version=champion, new_lineage=change)
    champion_uri = registry.version_uri(config, champion)
    champion_score = score_model_uri(champion_uri, candidate.test)
    return Promotion(
        promoted=registry.is_better(
            candidate.score, champion_score, TASK.GREATER_IS_BETTER
        ),
        champion_version=champion,
        champion_score=champion_score,
    )


def promotion_tags(promotion: Promotion, score: float) -> dict[str, str | float]:
    """Return the run tags that record ``promotion`` of a candidate of ``score``."""
    tags: dict[str, str | float] = {
        "promotion.promoted": str(promotion.promoted).lower(),
        "promotion.metric": TASK.PRIMARY_METRIC,
        "promotion.candidate_score": score,
        "promotion.champion_version": promotion.champion_version or "none",
        "promotion.champion_score": (
            "none" if promotion.champion_score is None else promotion.champion_score
        ),
    }
    if promotion.new_lineage is not None:
        tags[registry.NEW_LINEAGE_TAG] = promotion.new_lineage
    return tags


def train(settings: Settings) -> TrainingResult:
    """Train, evaluate on the held-out split, save, log everything, gate promotion.

    The tracking store is checked first, so a server that is down fails
    within the request timeout, before fitting. The run and its provenance
    are then saved locally (see
    :mod:`~{{ cookiecutter.package_name }}.tracking.runs`) before
    anything is logged, so a tracking failure loses nothing. The new version
    is registered in every case; the champion alias moves to it only if it
    beats the current champion, scored on the same test rows, and is of its
    lineage.

    Raises
    ------
    TrackingError
        If the tracking store cannot be reached (nothing is trained), or
        fails later (the message says where the saved run is).
    """
    connect(settings.tracking)
    saved, evaluation = fit_and_save(settings)
    return publish(saved, evaluation)


def train_offline(settings: Settings) -> runs.SavedRun:
    """Train, evaluate and save the run without contacting any tracking store.

    The ``upload`` command logs the saved run later.
    """
    saved, _ = fit_and_save(settings)
    return saved


def fit_and_save(settings: Settings) -> tuple[runs.SavedRun, Evaluation]:
    """Fit on the training rows, evaluate on the held-out rows, save the run."""
    split = holdout_split(settings)
    pipeline = fit_pipeline(settings, split.train)
    evaluation = evaluate_pipeline(settings, pipeline, split.test)
    origin = provenance.provenance_tags(settings)
    saved = runs.save_run(settings, pipeline, evaluation.metrics, split, origin)
    return saved, evaluation


def evaluate_pipeline(
    settings: Settings, pipeline: Pipeline, test: Dataset
) -> Evaluation:
    """Score ``pipeline`` on ``test``: metrics, slice metrics and plots.

    Unless ``evaluation.slice_columns`` names them, the columns the project
    must not write (personal data) are not sliced: their values would appear
    in metric names and in the model card.
    """
    slice_columns = settings.evaluation.slice_columns
    if slice_columns is None:
        unwritten = settings.data.unwritten_columns
        slice_columns = [
            column
            for column in default_slice_columns(test.features)
            if column not in unwritten
        ]
    return evaluate_model(pipeline, test, slice_columns)


def publish(saved: runs.SavedRun, evaluation: Evaluation) -> TrainingResult:
    """Log the saved run and its evaluation, register its model, gate promotion.

    Once logged, the saved run is marked as such and its model and data
    splits are deleted (the tracking store holds them now).

    Raises
    ------
    TrackingError
        If MLflow fails; the message says where the saved run is.
    RunInterruptedError
        On Ctrl-C; the message says where the saved run is.
    """
    settings = saved.settings
    with reported_failures(settings.tracking, saved.path):
        client = connect(settings.tracking)
        mlflow.set_experiment(settings.tracking.experiment)
        with started_run() as run:
            run_id = run.info.run_id
            logged = log_run(saved, evaluation, run_id)
            name = settings.tracking.registered_model
            version = registry.register(client, logged.model_uri, name, run_id)
            score = evaluation.metrics[TASK.PRIMARY_METRIC]
            candidate = Candidate(version, logged, score, saved.split.test)
            promotion = gate(client, settings, candidate)
        runs.mark_logged(saved, run_id, version)
    runs.remove_logged_files(saved.path)
    return TrainingResult(run_id, version, evaluation.metrics, promotion)


def upload(settings: Settings, path: Path) -> TrainingResult:
    """Log the run saved at ``path`` with the tracking settings of ``settings``.

    Raises
    ------
    ModelError
        If ``path`` is not a saved run, or was already logged.
    TrackingError
        If MLflow fails.
    RunInterruptedError
        On Ctrl-C while logging; the saved run stays as it was.
    """
    logged = runs.logged_as(path)
    if logged is not None:
        raise ModelError(
            f"saved run {path} was already logged as run {logged['run_id']}"
            f" (version {logged['model_version']}) to {logged['tracking_uri']}"
        )
    with reported_failures(settings.tracking, path):
        connect(settings.tracking)  # a server that is down fails before any work
    saved = runs.load_run(path, settings.tracking)
    # Scoring the saved model on its saved test rows gives the same evaluation
    # as at training time, plots included, without storing the figures.
    test = saved.split.test
    return publish(saved, evaluate_pipeline(saved.settings, saved.pipeline, test))
