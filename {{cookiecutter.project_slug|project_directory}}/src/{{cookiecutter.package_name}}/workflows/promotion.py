"""The promotion gate: whether a newly registered version takes the champion alias.

A candidate takes the alias only if it passes its own quality checks (the
floor on every slice, the fairness limits and, when configured, features that
all earn their place) and, where a champion of its lineage holds the alias,
beats it on the same held-out rows without any slice falling more than
``evaluation.max_slice_drop`` below the champion's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import mlflow
import pandas as pd
from mlflow.models.model import ModelInfo
from mlflow.tracking import MlflowClient
from numpy.typing import NDArray

from ..config import Settings, TrackingConfig
from ..data import Dataset
from ..evaluation import (
    Evaluation,
    FeatureImportance,
    GroupAudit,
    fairness_failures,
    primary_score,
    slice_drop_failures,
    slice_floor_failures,
    slice_scores,
)
from ..model import TASK
from ..tracking import registry
from ..tracking.artifacts import load_model
from .predict import predict_frame

logger = logging.getLogger(__name__)

# MLflow keeps tag values up to 8,000 characters; the failures tag stays well within.
MAX_FAILURES_TAG_LENGTH = 4000


@dataclass(frozen=True)
class Quality:
    """What training measures of a model beyond its metrics, on the held-out rows."""

    importance: FeatureImportance
    fairness: list[GroupAudit]


@dataclass(frozen=True)
class Promotion:
    """The promotion gate's decision about a candidate version.

    ``champion_version`` is the version that held the alias when the gate
    ran (``None`` if none did), ``champion_score`` its score on the
    candidate's test rows, ``new_lineage`` why it was not scored: how the
    candidate differs from it in inputs or target. ``failures`` are the
    quality checks the candidate failed, one line each.
    """

    promoted: bool
    champion_version: str | None = None
    champion_score: float | None = None
    new_lineage: str | None = None
    failures: tuple[str, ...] = ()


@dataclass(frozen=True)
class Candidate:
    """A newly registered version on its way through the promotion gate.

    ``score`` is its score on the held-out rows ``test``, on which the
    champion is scored too, and ``slices`` its scores on each slice of them;
    ``model`` is the logged model, with its signature; ``failures`` are the
    quality checks it failed on its own (see :func:`quality_failures`).
    """

    version: str
    model: ModelInfo
    score: float
    test: Dataset
    slices: pd.DataFrame
    failures: tuple[str, ...]


def unimportant_features_line(features: list[str]) -> str:
    """Say that ``features`` do not help the model, in one line.

    Examples
    --------
    >>> unimportant_features_line(["sex", "year"])
    "features 'sex', 'year' do not help: their importance is indistinguishable from 0"
    """
    names = ", ".join(repr(feature) for feature in features)
    return f"features {names} do not help: their importance is indistinguishable from 0"


def quality_failures(
    settings: Settings, evaluation: Evaluation, quality: Quality
) -> list[str]:
    """Return the quality checks a candidate fails on its own, one line each.

    The slice floor (``evaluation.min_slice_score``), the fairness limits
    (the ``fairness`` section) and, when ``evaluation.unimportant_features``
    is ``fail``, features whose importance is indistinguishable from zero.
    """
    failures = slice_floor_failures(evaluation.slices, settings.evaluation)
    failures += fairness_failures(quality.fairness, settings.fairness)
    unimportant = quality.importance.unimportant()
    if unimportant and settings.evaluation.unimportant_features == "fail":
        failures.append(unimportant_features_line(unimportant))
    return failures


def gate(client: MlflowClient, settings: Settings, candidate: Candidate) -> Promotion:
    """Give ``candidate`` the champion alias if it passes the gate.

    It must pass its own quality checks and, if a champion of its lineage
    exists (see :func:`judge`), beat it; a candidate of a new lineage is
    recorded as such on its version, and the champion keeps the alias. The
    decision, both scores and the failed checks are recorded as tags of the
    active run; a promoted candidate records the champion it replaced, for a
    later rollback.
    """
    config = settings.tracking
    champion = registry.champion_version(client, config)
    if champion is None:
        promotion = Promotion(
            promoted=not candidate.failures, failures=candidate.failures
        )
    else:
        promotion = judge(client, settings, candidate, champion)
        if promotion.new_lineage is not None:
            registry.record_new_lineage(
                client, config, candidate.version, champion, promotion.new_lineage
            )
    if promotion.promoted:
        registry.crown(client, config, candidate.version, champion)
    for failure in promotion.failures:
        logger.info("Version %s fails the gate: %s", candidate.version, failure)
    mlflow.set_tags(promotion_tags(promotion, candidate.score))
    return promotion


def judge(
    client: MlflowClient, settings: Settings, candidate: Candidate, champion: str
) -> Promotion:
    """Decide whether ``candidate`` takes the alias from version ``champion``.

    A candidate with other inputs (its model's signature) or another target
    than the champion is a new lineage: the champion is not scored on data
    it was not made for, and keeps the alias. Otherwise the champion is
    scored on the candidate's test rows, overall and on each slice.
    """
    config = settings.tracking
    lineage = registry.Lineage(
        registry.input_types(candidate.model.signature), settings.data.target
    )
    change = registry.lineage_change(
        lineage, registry.version_lineage(client, config, champion)
    )
    if change is not None:
        return Promotion(
            promoted=False,
            champion_version=champion,
            new_lineage=change,
            failures=candidate.failures,
        )
    champion_uri = registry.version_uri(config, champion)
    test = candidate.test
    predictions = predict_frame(load_model(champion_uri), test.features, champion_uri)
    champion_score = primary_score(test.target, predictions)
    failures = (
        *candidate.failures,
        *slice_drops(settings, candidate, predictions, champion),
    )
    better = registry.is_better(candidate.score, champion_score, TASK.GREATER_IS_BETTER)
    return Promotion(
        promoted=better and not failures,
        champion_version=champion,
        champion_score=champion_score,
        failures=failures,
    )


def slice_drops(
    settings: Settings,
    candidate: Candidate,
    champion_predictions: NDArray[Any],
    champion: str,
) -> list[str]:
    """Return the slices on which ``candidate`` falls too far below the champion.

    ``champion_predictions`` are the champion's for the candidate's test rows.
    Nothing is checked while ``evaluation.max_slice_drop`` is unset.
    """
    if settings.evaluation.max_slice_drop is None:
        return []
    columns = list(dict.fromkeys(candidate.slices["column"]))
    champion_slices = slice_scores(champion_predictions, candidate.test, columns)
    return slice_drop_failures(
        candidate.slices, champion_slices, settings.evaluation, champion
    )


def promotion_lines(
    promotion: Promotion, score: float, config: TrackingConfig
) -> list[str]:
    """Describe the gate's decision about a candidate of ``score``, one fact a line."""
    alias = f"`@{config.champion_alias}`"
    if promotion.promoted:
        lines = [f"Promoted to {alias}."]
    else:
        lines = [f"Not promoted: {alias} stays where it was."]
    metric = TASK.PRIMARY_METRIC
    if promotion.new_lineage is not None:
        lines.append(
            f"A new lineage, not compared with version"
            f" {promotion.champion_version}: {promotion.new_lineage}."
        )
    elif promotion.champion_score is None:
        lines.append(f"No champion to compare with; {metric} {score:.4f}.")
    else:
        lines.append(
            f"{metric} {score:.4f} against {promotion.champion_score:.4f} for"
            f" champion version {promotion.champion_version}, on the same rows."
        )
    failed = [f"Failed: {failure}." for failure in promotion.failures]
    return lines + (failed or ["Passed every configured quality check."])


def promotion_tags(promotion: Promotion, score: float) -> dict[str, str | float]:
    """Return the run tags that record ``promotion`` of a candidate of ``score``."""
    failures = "; ".join(promotion.failures) or "none"
    tags: dict[str, str | float] = {
        "promotion.promoted": str(promotion.promoted).lower(),
        "promotion.metric": TASK.PRIMARY_METRIC,
        "promotion.candidate_score": score,
        "promotion.champion_version": promotion.champion_version or "none",
        "promotion.champion_score": (
            "none" if promotion.champion_score is None else promotion.champion_score
        ),
        "promotion.failures": failures[:MAX_FAILURES_TAG_LENGTH],
    }
    if promotion.new_lineage is not None:
        tags[registry.NEW_LINEAGE_TAG] = promotion.new_lineage
    return tags
