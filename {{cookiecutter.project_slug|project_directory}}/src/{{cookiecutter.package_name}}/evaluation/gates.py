"""The promotion gates beyond the overall score: slices and fairness groups.

Each gate is a pure function of scores already computed and of the limits in
the configuration. It returns one line per failure, naming the slice or group,
the score and the limit; an empty list means the candidate passed. A limit
left unset is not checked, and slices or groups with fewer rows than the
configured minimum are not judged: their scores are noise.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..config import EvaluationConfig, FairnessConfig
from ..model import TASK
from .fairness import GroupAudit, check_fairness_limits

# Scores that equal a limit can land a hair beyond it (0.97 - 0.92 is
# 0.05000000000000004): a difference this small is not a failure.
_REL_TOLERANCE = 1e-9
_ABS_TOLERANCE = 1e-12


def slice_floor_failures(slices: pd.DataFrame, config: EvaluationConfig) -> list[str]:
    """Return a line for each judged slice worse than ``min_slice_score``.

    ``slices`` is a slice table of
    :func:`~{{ cookiecutter.package_name }}.evaluation.report.slice_metrics`.
    The limit is a floor for a score such as F1 and a ceiling for an error
    such as RMSE.

    Examples
    --------
    ``slice island=Dream (31 rows): f1_macro 0.61 is below the floor 0.8``
    """
    limit = config.min_slice_score
    if limit is None:
        return []
    metric = TASK.PRIMARY_METRIC
    bound = "below the floor" if TASK.GREATER_IS_BETTER else "above the ceiling"
    return [
        f"{_slice(record)}: {metric} {_number(record[metric])} is {bound}"
        f" {_number(limit)}"
        for record in _judged(slices, config.min_slice_rows)
        if _worse(record[metric], limit)
    ]


def slice_drop_failures(
    candidate: pd.DataFrame,
    champion: pd.DataFrame,
    config: EvaluationConfig,
    champion_version: str,
) -> list[str]:
    """Return a line for each judged slice worse than the champion's by too much.

    ``candidate`` and ``champion`` are the slice tables of the two models
    scored on the same rows; a slice is judged when it has
    ``min_slice_rows`` rows and its primary metric worsened by more than
    ``max_slice_drop``.

    Examples
    --------
    ``slice sex=male (42 rows): f1_macro 0.85 against 0.97 for champion
    version 3, a drop of 0.12 above the 0.05 allowed``
    """
    allowed = config.max_slice_drop
    if allowed is None:
        return []
    metric = TASK.PRIMARY_METRIC
    both = candidate.merge(
        champion[["column", "value", metric]],
        on=["column", "value"],
        suffixes=("", "_champion"),
    )
    change = "drop" if TASK.GREATER_IS_BETTER else "rise"
    failures = []
    for record in _judged(both, config.min_slice_rows):
        score, champion_score = record[metric], record[f"{metric}_champion"]
        worsening = score - champion_score
        if TASK.GREATER_IS_BETTER:
            worsening = -worsening
        if _above(worsening, allowed):
            failures.append(
                f"{_slice(record)}: {metric} {_number(score)} against"
                f" {_number(champion_score)} for champion version"
                f" {champion_version}, a {change} of {_number(worsening)} above"
                f" the {_number(allowed)} allowed"
            )
    return failures


def fairness_failures(
    audits: Sequence[GroupAudit], config: FairnessConfig
) -> list[str]:
    """Return a line for each difference between groups above its limit.

    The audits of
    :func:`~{{ cookiecutter.package_name }}.evaluation.fairness.audit_fairness`
    measure differences between judged groups only.

    Raises
    ------
    ConfigError
        If a classifier-only limit is set in a regression project.

    Examples
    --------
    ``fairness sex: f1_macro gap 0.14 between groups female (0.8) and male
    (0.94) above the maximum 0.1``
    """
    check_fairness_limits(config)
    failures = []
    for audit in audits:
        gap = _gap_failure(audit, config.max_gap)
        if gap is not None:
            failures.append(gap)
        failures.extend(_disparity_failures(audit, config))
    return failures


def _gap_failure(audit: GroupAudit, limit: float | None) -> str | None:
    if limit is None or audit.gap is None or audit.gap_between is None:
        return None
    if not _above(audit.gap, limit):
        return None
    worst, best = audit.gap_between
    scores = audit.groups.set_index("group")[TASK.PRIMARY_METRIC]
    return (
        f"fairness {audit.column}: {TASK.PRIMARY_METRIC} gap {_number(audit.gap)}"
        f" between groups {worst} ({_number(scores[worst])}) and {best}"
        f" ({_number(scores[best])}) above the maximum {_number(limit)}"
    )


def _disparity_failures(audit: GroupAudit, config: FairnessConfig) -> list[str]:
    """Return a line for each classifier difference of ``audit`` above its limit."""
    disparities = [
        (
            "demographic parity difference",
            audit.demographic_parity_difference,
            audit.demographic_parity_class,
            config.max_demographic_parity_difference,
        ),
        (
            "equalized odds difference",
            audit.equalized_odds_difference,
            audit.equalized_odds_class,
            config.max_equalized_odds_difference,
        ),
    ]
    return [
        f"fairness {audit.column}: {name} {_number(value)} (class {label!r} against"
        f" the rest) above the maximum {_number(limit)}"
        for name, value, label, limit in disparities
        if value is not None and limit is not None and _above(value, limit)
    ]


def _judged(table: pd.DataFrame, min_rows: int) -> list[dict[Hashable, Any]]:
    """Return the rows of a slice table with at least ``min_rows`` rows, as records."""
    return table[table["rows"] >= min_rows].to_dict(orient="records")


def _slice(record: Mapping[Hashable, Any]) -> str:
    return f"slice {record['column']}={record['value']} ({record['rows']} rows)"


def _above(value: float, limit: float) -> bool:
    """Whether ``value`` exceeds ``limit`` by more than rounding noise."""
    return value > limit and not math.isclose(
        value, limit, rel_tol=_REL_TOLERANCE, abs_tol=_ABS_TOLERANCE
    )


def _worse(score: float, limit: float) -> bool:
    """Whether ``score`` of the primary metric is worse than ``limit``."""
    return _above(limit, score) if TASK.GREATER_IS_BETTER else _above(score, limit)


def _number(value: float) -> str:
    """Return ``value`` to four significant digits, never in scientific notation."""
    return np.format_float_positional(
        value, precision=4, unique=False, fractional=False, trim="-"
    )
