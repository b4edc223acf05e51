"""Evaluation: the held-out rows, a fitted model's scores on them, and its model card.

Metrics overall and per slice, diagnostic plots, and the Markdown model card
that every training run writes. Logging them is MLflow's job, done here with
MLflow's own functions; where a run goes is the tracking package's business.
"""

from .card import (
    CARD_ARTIFACT,
    card_prose,
    markdown_table,
    render_card,
    with_version_note,
)
from .holdout import holdout_split
from .report import (
    Evaluation,
    default_slice_columns,
    evaluate_model,
    log_evaluation,
    slice_metric_name,
    slice_metric_values,
    slice_metrics,
)

__all__ = [
    "CARD_ARTIFACT",
    "Evaluation",
    "card_prose",
    "default_slice_columns",
    "evaluate_model",
    "holdout_split",
    "log_evaluation",
    "markdown_table",
    "render_card",
    "slice_metric_name",
    "slice_metric_values",
    "slice_metrics",
    "with_version_note",
]
