"""Fairness audit: how a model serves each group of the sensitive columns.

Slices ask whether a model fails some values of a feature; the audit asks the
same of the columns saying who (or what) a row is about, which need not be
features. The held-out rows of each column are split into groups, every group
is scored on its own, and the differences between groups are measured: the
gap of the primary metric and, for classifiers, Fairlearn's demographic parity
and equalized odds differences. A group with fewer rows than
``min_group_rows`` is reported but left out of the differences: its scores
are noise.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import mlflow
import pandas as pd
from fairlearn.metrics import (
    demographic_parity_difference,
    equalized_odds_difference,
)
from sklearn.pipeline import Pipeline

from ..config import FairnessConfig
from ..data import Dataset
from ..errors import ConfigError, DataError
from ..model import TASK
from .report import MISSING_VALUE, metric_name_part

FAIRNESS_TABLE_ARTIFACT: Final = "evaluation/fairness.json"

MIN_GROUPS: Final = 2
"""Fewest judged groups between which a difference can be measured."""

_CLASSIFICATION: Final = "classification"

# A Fairlearn difference of binary labels between the groups of the rows.
_Difference = Callable[..., float]
# The largest difference of a classifier and its class; both None if unmeasured.
_Largest = tuple[float | None, str | None]
_NO_DIFFERENCE: Final[_Largest] = (None, None)


@dataclass(frozen=True)
class GroupAudit:
    """How a model serves the groups of one sensitive column.

    Attributes
    ----------
    column : str
        The sensitive column.
    groups : pandas.DataFrame
        One row per group: ``group`` (missing values are the group
        ``(missing)``), ``rows``, and one column per evaluation metric.
    gap : float or None
        Largest difference of the primary metric between two judged groups,
        those with at least ``min_group_rows`` rows; ``None`` with fewer than
        two judged groups.
    demographic_parity_difference : float or None
        Classifiers: the largest difference between judged groups in the
        share of rows predicted as a class, over every class taken against
        the rest; ``None`` for regression or fewer than two judged groups.
    equalized_odds_difference : float or None
        Classifiers: the largest difference between judged groups in the true
        or the false positive rate of a class, over every class taken against
        the rest; ``None`` as above.
    gap_between : tuple of str or None
        The worst and the best judged group on the primary metric: the two
        ends of ``gap``.
    demographic_parity_class, equalized_odds_class : str or None
        The class whose difference is the largest.
    """

    column: str
    groups: pd.DataFrame
    gap: float | None
    demographic_parity_difference: float | None
    equalized_odds_difference: float | None
    gap_between: tuple[str, str] | None = None
    demographic_parity_class: str | None = None
    equalized_odds_class: str | None = None


def sensitive_groups(data: Dataset, columns: Sequence[str]) -> pd.DataFrame:
    """Return the group of every row of ``data`` in each of ``columns``, as text.

    A column is taken from the features if it is one, else from the audited
    columns; missing values form the group ``(missing)``.

    Raises
    ------
    DataError
        If a column is neither a feature nor an audited column of ``data``.
    """
    audit = data.audit if data.audit is not None else pd.DataFrame()
    groups = {}
    for column in columns:
        if column in data.features.columns:
            values = data.features[column]
        elif column in audit.columns:
            values = audit[column]
        else:
            raise DataError(
                f"sensitive feature {column!r} is neither a feature nor an audited"
                " column of the data"
            )
        groups[column] = values.astype(object).fillna(MISSING_VALUE).astype(str)
    return pd.DataFrame(groups, index=data.features.index)


def audit_fairness(
    model: Pipeline, test: Dataset, columns: Sequence[str], min_group_rows: int
) -> list[GroupAudit]:
    """Score ``model`` on each group of ``columns`` in ``test``, and compare them.

    Raises
    ------
    DataError
        If a column is neither a feature nor an audited column of ``test``.
    """
    groups = sensitive_groups(test, columns)
    predictions = pd.Series(model.predict(test.features), index=test.target.index)
    return [
        _audit_column(model, test, groups[column], predictions, min_group_rows)
        for column in columns
    ]


def _audit_column(
    model: Pipeline,
    test: Dataset,
    labels: pd.Series,
    predictions: pd.Series,
    min_group_rows: int,
) -> GroupAudit:
    table = _group_table(model, test, labels)
    judged = table[table["rows"] >= min_group_rows]
    gap, gap_between = _gap(judged)
    parity: _Largest = _NO_DIFFERENCE
    odds: _Largest = _NO_DIFFERENCE
    if TASK.NAME == _CLASSIFICATION and len(judged) >= MIN_GROUPS:
        in_judged = labels.isin(judged["group"])
        judged_rows = (
            test.target[in_judged],
            predictions[in_judged],
            labels[in_judged],
        )
        parity = _largest_difference(
            demographic_parity_difference, *judged_rows, per_outcome=False
        )
        odds = _largest_difference(
            equalized_odds_difference, *judged_rows, per_outcome=True
        )
    return GroupAudit(
        column=str(labels.name),
        groups=table,
        gap=gap,
        demographic_parity_difference=parity[0],
        equalized_odds_difference=odds[0],
        gap_between=gap_between,
        demographic_parity_class=parity[1],
        equalized_odds_class=odds[1],
    )


def _group_table(model: Pipeline, test: Dataset, labels: pd.Series) -> pd.DataFrame:
    """Return ``group``, ``rows`` and every evaluation metric of each group."""
    records = []
    for group in sorted(labels.unique()):
        selected = (labels == group).to_numpy()
        with warnings.catch_warnings():
            # Few rows per group: scikit-learn warns about classes absent
            # from one, yet the scores it returns remain well defined.
            warnings.simplefilter("ignore", UserWarning)
            scores = TASK.evaluation_metrics(
                model, test.features[selected], test.target[selected]
            )
        records.append({"group": group, "rows": int(selected.sum())} | scores)
    return pd.DataFrame.from_records(records)


def _gap(judged: pd.DataFrame) -> tuple[float | None, tuple[str, str] | None]:
    """Return the primary metric's gap between judged groups, and its two groups."""
    if len(judged) < MIN_GROUPS:
        return None, None
    scores = judged.set_index("group")[TASK.PRIMARY_METRIC]
    best, worst = scores.idxmax(), scores.idxmin()
    if not TASK.GREATER_IS_BETTER:
        best, worst = worst, best
    return float(scores.max() - scores.min()), (str(worst), str(best))


def _largest_difference(
    difference: _Difference,
    y_true: pd.Series,
    y_pred: pd.Series,
    groups: pd.Series,
    *,
    per_outcome: bool,
) -> _Largest:
    """Return the largest ``difference`` over the classes, and its class.

    Fairlearn measures binary outcomes: each class is taken against the
    rest (for two classes, both views give the same difference). A
    ``per_outcome`` difference compares rates among the rows of each true
    outcome (true and false positive rates); a group without rows of the
    class, or with only those, has no such rate, which Fairlearn would count
    as 0, so it is left out of that class. ``(None, None)`` when no class
    leaves two groups to compare.
    """
    differences = {}
    for label in sorted({*y_true, *y_pred}, key=str):
        actual, predicted = y_true == label, y_pred == label
        kept = (
            _with_both_outcomes(actual, groups)
            if per_outcome
            else pd.Series(True, index=groups.index)
        )
        if groups[kept].nunique() >= MIN_GROUPS:
            differences[str(label)] = float(
                difference(
                    actual[kept].astype(int),
                    predicted[kept].astype(int),
                    sensitive_features=groups[kept],
                )
            )
    if not differences:
        return _NO_DIFFERENCE
    label = max(differences, key=differences.__getitem__)
    return differences[label], label


def _with_both_outcomes(actual: pd.Series, groups: pd.Series) -> pd.Series:
    """Mark the rows of the groups holding both outcomes of ``actual``."""
    share = actual.groupby(groups).mean()
    return groups.isin(share[(share > 0) & (share < 1)].index)


def check_fairness_limits(config: FairnessConfig) -> None:
    """Refuse the classifier-only limits of ``config`` in a regression project.

    Raises
    ------
    ConfigError
        If ``max_demographic_parity_difference`` or
        ``max_equalized_odds_difference`` is set and the task is not
        classification.
    """
    if TASK.NAME == _CLASSIFICATION:
        return
    limits = {
        "max_demographic_parity_difference": config.max_demographic_parity_difference,
        "max_equalized_odds_difference": config.max_equalized_odds_difference,
    }
    for name, limit in limits.items():
        if limit is not None:
            raise ConfigError(
                f"fairness.{name} applies to classifiers only: unset it in this"
                f" {TASK.NAME} project"
            )


def fairness_table(audits: Sequence[GroupAudit]) -> pd.DataFrame:
    """Return the groups of every audit in one table, led by a ``column`` column."""
    if not audits:
        return pd.DataFrame(columns=["column", "group", "rows"])
    table = pd.concat(
        [audit.groups.assign(column=audit.column) for audit in audits],
        ignore_index=True,
    )
    return table[["column", *table.columns.drop("column")]]


def fairness_metric_values(audits: Sequence[GroupAudit]) -> dict[str, float]:
    """Flatten ``audits`` into MLflow metrics, leaving out undefined ones.

    Names are ``fairness/<column>/<group>/<metric>`` for each group, and
    ``fairness/<column>/gap/<primary metric>``,
    ``fairness/<column>/demographic_parity_difference`` and
    ``fairness/<column>/equalized_odds_difference`` for the differences;
    each part is made safe like a slice name's (see
    :func:`~{{ cookiecutter.package_name }}.evaluation.report.slice_metric_name`).
    """
    metrics = {}
    for audit in audits:
        prefix = f"fairness/{metric_name_part(audit.column)}"
        for record in audit.groups.to_dict(orient="records"):
            group = metric_name_part(str(record["group"]))
            for metric, score in record.items():
                if metric not in {"group", "rows"} and pd.notna(score):
                    name = f"{prefix}/{group}/{metric_name_part(str(metric))}"
                    metrics[name] = float(score)
        differences = {
            f"gap/{TASK.PRIMARY_METRIC}": audit.gap,
            "demographic_parity_difference": audit.demographic_parity_difference,
            "equalized_odds_difference": audit.equalized_odds_difference,
        }
        for name, value in differences.items():
            if value is not None:
                metrics[f"{prefix}/{name}"] = value
    return metrics


def log_fairness(audits: Sequence[GroupAudit]) -> None:
    """Log the metrics and the table of ``audits``, if any, to the active run."""
    if audits:
        mlflow.log_metrics(fairness_metric_values(audits))
        mlflow.log_table(fairness_table(audits), FAIRNESS_TABLE_ARTIFACT)
