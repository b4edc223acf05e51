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
from sklearn.pipeline import Pipeline

from ..config import Settings
from ..data import Dataset, Split
from ..data.contract import CONTRACT_FILE, Contract, learn_contract
from ..errors import ModelError
from ..evaluation import (
    CARD_ARTIFACT,
    Evaluation,
    audit_fairness,
    check_fairness_limits,
    default_slice_columns,
    evaluate_model,
    feature_importance,
    holdout_split,
    log_evaluation,
    log_fairness,
    log_importance,
    render_card,
)
from ..model import TASK, build_pipeline
from ..monitoring.reference import build_reference
from ..tracking import provenance, registry, runs
from ..tracking.artifacts import ModelExtras, log_model
from ..tracking.connection import connect, reported_failures, started_run
from .promotion import (
    Candidate,
    Promotion,
    Quality,
    gate,
    promotion_lines,
    quality_failures,
    unimportant_features_line,
)

logger = logging.getLogger(__name__)

# One-row predictions timed at training, the baseline of monitor's latency check.
# The median of 25 stays within a few per cent of that of 50, at half the cost.
LATENCY_SAMPLES = 25


@dataclass(frozen=True)
class TrainingResult:
    """What a training run produced and whether it became the champion."""

    run_id: str
    model_version: str
    metrics: dict[str, float]
    promotion: Promotion
    holdout_predictions: pd.DataFrame
    """The held-out rows' true values (``actual``) and predictions (``predicted``)."""

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


def holdout_predictions(pipeline: Pipeline, test: Dataset) -> pd.DataFrame:
    """Return the true values of the held-out rows and ``pipeline``'s predictions."""
    return pd.DataFrame(
        {"actual": test.target.to_numpy(), "predicted": pipeline.predict(test.features)}
    )


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


@dataclass(frozen=True)
class LoggedRun:
    """What logging a saved run gave: its model, provenance tags and data contract."""

    model: ModelInfo
    tags: dict[str, str]
    contract: Contract


def measure_quality(settings: Settings, pipeline: Pipeline, test: Dataset) -> Quality:
    """Measure each feature's importance and audit fairness on the held-out rows.

    Features whose importance is indistinguishable from zero are named in a
    warning, whether or not they fail the gate.
    """
    importance = feature_importance(
        pipeline, test, settings.evaluation.importance_repeats, settings.seed
    )
    unimportant = importance.unimportant()
    if unimportant:
        logger.warning(
            "On the held-out rows, %s; consider removing them from the features"
            " (docs/model-quality.md)",
            unimportant_features_line(unimportant),
        )
    fairness = settings.fairness
    audits = audit_fairness(
        pipeline, test, fairness.sensitive_features, fairness.min_group_rows
    )
    return Quality(importance, audits)


def log_run(
    saved: runs.SavedRun, evaluation: Evaluation, quality: Quality
) -> LoggedRun:
    """Log the saved run to the active run; return what the model card needs.

    Logs the configuration (as parameters, and as ``config.yaml`` with
    credentials removed), the provenance recorded at training time, metrics,
    slice metrics and plots, feature importance, the fairness audit, the
    data contract, and the model with its extras (:func:`model_extras`); the
    training rows give the model's signature and input example.
    """
    settings, split = saved.settings, saved.split
    mlflow.log_params(provenance.flatten(provenance.resolved_config(settings)))
    tags = provenance.log_provenance(settings, split, saved.provenance)
    log_evaluation(evaluation)
    log_importance(quality.importance)
    log_fairness(quality.fairness)
    extras = model_extras(settings, saved.pipeline, split)
    mlflow.log_text(extras.contract.to_yaml(), CONTRACT_FILE)
    unwritten = settings.data.unwritten_columns
    model = log_model(saved.pipeline, split.train.features, extras, unwritten)
    return LoggedRun(model, tags, extras.contract)


def train(settings: Settings) -> TrainingResult:
    """Train, evaluate on the held-out split, save, log everything, gate promotion.

    The tracking store is checked first, so a server that is down fails
    within the request timeout, before fitting. The run and its provenance
    are then saved locally (see
    :mod:`~{{ cookiecutter.package_name }}.tracking.runs`) before
    anything is logged, so a tracking failure loses nothing. The new version
    is registered in every case; the champion alias moves to it only if it
    passes the quality gate and beats the current champion of its lineage,
    scored on the same test rows (see
    :mod:`~{{ cookiecutter.package_name }}.workflows.promotion`).

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
    """Fit on the training rows, evaluate on the held-out rows, save the run.

    Raises
    ------
    ConfigError
        If a fairness limit does not apply to the task, before any work.
    DataError
        If the data cannot train the task's model.
    """
    check_fairness_limits(settings.fairness)
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

    Feature importance and the fairness audit are measured first, on the
    held-out rows. The model card, logged last, records the gate's decision.
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
        quality = measure_quality(settings, saved.pipeline, saved.split.test)
        client = connect(settings.tracking)
        mlflow.set_experiment(settings.tracking.experiment)
        with started_run() as run:
            run_id = run.info.run_id
            logged = log_run(saved, evaluation, quality)
            name = settings.tracking.registered_model
            version = registry.register(client, logged.model.model_uri, name, run_id)
            candidate = Candidate(
                version,
                logged.model,
                evaluation.metrics[TASK.PRIMARY_METRIC],
                saved.split.test,
                evaluation.slices,
                tuple(quality_failures(settings, evaluation, quality)),
            )
            promotion = gate(client, settings, candidate)
            card = render_card(
                settings,
                saved.split,
                evaluation,
                logged.tags,
                run_id,
                contract=logged.contract,
                importance=quality.importance,
                fairness=quality.fairness,
                gate=promotion_lines(promotion, candidate.score, settings.tracking),
            )
            mlflow.log_text(card, CARD_ARTIFACT)
        runs.mark_logged(saved, run_id, version)
    runs.remove_logged_files(saved.path)
    predictions = holdout_predictions(saved.pipeline, saved.split.test)
    return TrainingResult(run_id, version, evaluation.metrics, promotion, predictions)


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
