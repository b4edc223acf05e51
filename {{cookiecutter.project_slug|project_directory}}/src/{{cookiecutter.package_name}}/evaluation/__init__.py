"""Evaluation: the held-out rows, a fitted model's scores on them, and its model card.

Metrics overall and per slice, diagnostic plots, feature importance, the
fairness audit, the quality checks of the promotion gate, and the Markdown
model card that every training run writes. Logging them is MLflow's job, done
here with MLflow's own functions; where a run goes is the tracking package's
business.
"""

from .card import (
    CARD_ARTIFACT,
    card_prose,
    markdown_table,
    render_card,
    with_version_note,
)
from .fairness import (
    GroupAudit,
    audit_fairness,
    check_fairness_limits,
    log_fairness,
)
from .gates import fairness_failures, slice_drop_failures, slice_floor_failures
from .holdout import holdout_split
from .importance import FeatureImportance, feature_importance, log_importance
from .report import (
    Evaluation,
    default_slice_columns,
    evaluate_model,
    log_evaluation,
    metric_name_part,
    primary_score,
    primary_scorer,
    slice_metric_name,
    slice_metric_values,
    slice_metrics,
    slice_scores,
)

__all__ = [
    "CARD_ARTIFACT",
    "Evaluation",
    "FeatureImportance",
    "GroupAudit",
    "audit_fairness",
    "card_prose",
    "check_fairness_limits",
    "default_slice_columns",
    "evaluate_model",
    "fairness_failures",
    "feature_importance",
    "holdout_split",
    "log_evaluation",
    "log_fairness",
    "log_importance",
    "markdown_table",
    "metric_name_part",
    "primary_score",
    "primary_scorer",
    "render_card",
    "slice_drop_failures",
    "slice_floor_failures",
    "slice_metric_name",
    "slice_metric_values",
    "slice_metrics",
    "slice_scores",
    "with_version_note",
]
