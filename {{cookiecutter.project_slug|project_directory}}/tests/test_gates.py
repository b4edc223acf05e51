"""The slice and fairness gates: which slices and groups fail, and how they say so."""

from __future__ import annotations

import pandas as pd
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }}.config import (
    EvaluationConfig,
    FairnessConfig,
)
from {{ cookiecutter.package_name }}.data import Split
from {{ cookiecutter.package_name }}.evaluation import fairness, gates
from {{ cookiecutter.package_name }}.evaluation.report import slice_metrics
from {{ cookiecutter.package_name }}.model import TASK

METRIC = TASK.PRIMARY_METRIC
GOOD, BAD, LIMIT = (0.9, 0.6, 0.8) if TASK.GREATER_IS_BETTER else (300.0, 600.0, 500.0)
"""A score that passes, one that fails, and the floor (or ceiling) between them."""


def worse(score: float, by: float) -> float:
    """Return ``score`` made worse by ``by``: lower, or higher for an error."""
    return score - by if TASK.GREATER_IS_BETTER else score + by


def slice_table(scores: dict[tuple[str, int], float]) -> pd.DataFrame:
    """A slice table of island slices, keyed by (value, rows)."""
    return pd.DataFrame(
        [
            {"column": "island", "value": value, "rows": rows, METRIC: score}
            for (value, rows), score in scores.items()
        ]
    )


def test_a_slice_below_the_floor_fails_by_name() -> None:
    slices = slice_table({("Biscoe", 44): GOOD, ("Dream", 31): BAD})
    config = EvaluationConfig(min_slice_score=LIMIT)

    failures = gates.slice_floor_failures(slices, config)

    bound = "below the floor" if TASK.GREATER_IS_BETTER else "above the ceiling"
    assert failures == [
        f"slice island=Dream (31 rows): {METRIC} {BAD:g} is {bound} {LIMIT:g}"
    ]


def test_small_slices_are_not_judged() -> None:
    slices = slice_table({("Biscoe", 44): GOOD, ("Torgersen", 9): BAD})

    assert not gates.slice_floor_failures(
        slices, EvaluationConfig(min_slice_score=LIMIT, min_slice_rows=10)
    )
    assert gates.slice_floor_failures(
        slices, EvaluationConfig(min_slice_score=LIMIT, min_slice_rows=9)
    )


def test_a_score_at_the_floor_passes_and_no_floor_checks_nothing() -> None:
    slices = slice_table({("Biscoe", 44): LIMIT, ("Dream", 31): BAD})

    assert not gates.slice_floor_failures(
        slices.iloc[:1], EvaluationConfig(min_slice_score=LIMIT)
    )
    assert not gates.slice_floor_failures(slices, EvaluationConfig())


def test_the_floor_reads_the_slice_table_of_a_real_model(
    fitted_pipeline: Pipeline, split: Split
) -> None:
    slices = slice_metrics(fitted_pipeline, split.test, ["island"])
    worst = slices[METRIC].min() if TASK.GREATER_IS_BETTER else slices[METRIC].max()
    value = slices.loc[slices[METRIC] == worst, "value"].iloc[0]

    failures = gates.slice_floor_failures(
        slices, EvaluationConfig(min_slice_score=worse(worst, -0.01), min_slice_rows=1)
    )

    assert any(line.startswith(f"slice island={value} (") for line in failures)
    assert not gates.slice_floor_failures(
        slices, EvaluationConfig(min_slice_score=worst, min_slice_rows=1)
    )


def test_a_slice_that_drops_too_far_below_the_champion_fails() -> None:
    champion = slice_table({("Biscoe", 44): GOOD, ("Dream", 31): GOOD})
    drop = 0.12 if TASK.GREATER_IS_BETTER else 72.0
    candidate = slice_table(
        {("Biscoe", 44): worse(GOOD, -drop), ("Dream", 31): worse(GOOD, drop)}
    )
    allowed = 0.05 if TASK.GREATER_IS_BETTER else 50.0

    failures = gates.slice_drop_failures(
        candidate, champion, EvaluationConfig(max_slice_drop=allowed), "3"
    )

    change = "drop" if TASK.GREATER_IS_BETTER else "rise"
    assert failures == [
        f"slice island=Dream (31 rows): {METRIC} {worse(GOOD, drop):g} against"
        f" {GOOD:g} for champion version 3, a {change} of {drop:g} above the"
        f" {allowed:g} allowed"
    ]


def test_a_drop_equal_to_the_allowance_or_in_a_small_slice_passes() -> None:
    champion = slice_table({("Biscoe", 44): 0.97, ("Torgersen", 9): 0.97})
    candidate = slice_table({("Biscoe", 44): 0.92, ("Torgersen", 9): 0.92})
    if not TASK.GREATER_IS_BETTER:
        champion, candidate = candidate, champion

    # 0.97 - 0.92 is 0.05000000000000004 in floating point.
    assert not gates.slice_drop_failures(
        candidate, champion, EvaluationConfig(max_slice_drop=0.05), "3"
    )
    too_few_rows = EvaluationConfig(max_slice_drop=0.04, min_slice_rows=45)
    assert not gates.slice_drop_failures(candidate, champion, too_few_rows, "3")
    assert not gates.slice_drop_failures(candidate, champion, EvaluationConfig(), "3")


def test_a_gap_above_the_maximum_fails_naming_both_groups(
    fitted_pipeline: Pipeline, split: Split
) -> None:
    (audit,) = fairness.audit_fairness(fitted_pipeline, split.test, ["island"], 1)
    assert audit.gap is not None
    assert audit.gap_between is not None
    worst, best = audit.gap_between

    failures = gates.fairness_failures([audit], FairnessConfig(max_gap=audit.gap / 2))

    assert len(failures) == 1
    assert failures[0].startswith(f"fairness island: {METRIC} gap ")
    assert f" between groups {worst} (" in failures[0]
    assert f") and {best} (" in failures[0]
    assert not gates.fairness_failures([audit], FairnessConfig(max_gap=audit.gap))
    assert not gates.fairness_failures([audit], FairnessConfig())
