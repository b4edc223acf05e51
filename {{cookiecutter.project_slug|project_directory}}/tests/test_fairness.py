"""The fairness audit: groups, their scores, the differences between them, names."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.data import Dataset, Split
from {{ cookiecutter.package_name }}.errors import DataError
from {{ cookiecutter.package_name }}.evaluation import fairness, holdout_split
from {{ cookiecutter.package_name }}.evaluation.report import (
    MISSING_VALUE,
    metric_name_part,
    slice_metrics,
)
from {{ cookiecutter.package_name }}.model import TASK


def with_sensitive(settings: Settings, columns: list[str]) -> Settings:
    """Return ``settings`` auditing ``columns``."""
    audited = settings.fairness.model_copy(update={"sensitive_features": columns})
    return settings.model_copy(update={"fairness": audited})


def test_groups_come_from_features_or_audited_columns(split: Split) -> None:
    test = split.test
    features = test.features.assign(island=test.features["island"].astype(object))
    features.loc[features.index[:3], "island"] = None
    audit = pd.DataFrame({"colony": "North"}, index=test.features.index)

    groups = fairness.sensitive_groups(
        Dataset(features, test.target, audit), ["island", "colony"]
    )

    assert list(groups.columns) == ["island", "colony"]
    assert groups.index.equals(test.features.index)
    assert (groups["island"] == MISSING_VALUE).sum() == 3
    assert set(groups["colony"]) == {"North"}


def test_a_column_neither_feature_nor_audited_is_a_data_error(split: Split) -> None:
    with pytest.raises(DataError, match="'colony' is neither a feature"):
        fairness.sensitive_groups(split.test, ["colony"])


def test_an_audited_column_comes_from_the_data_file(
    settings: Settings, fitted_pipeline: Pipeline
) -> None:
    test = holdout_split(with_sensitive(settings, ["year"])).test
    assert test.audit is not None
    assert "year" not in test.features.columns

    (audit,) = fairness.audit_fairness(fitted_pipeline, test, ["year"], 10)

    assert audit.column == "year"
    assert set(audit.groups["group"]) == set(test.audit["year"].astype(str))
    assert audit.groups["rows"].sum() == len(test.target)


def test_the_groups_of_a_feature_score_like_its_slices(
    fitted_pipeline: Pipeline, split: Split
) -> None:
    (audit,) = fairness.audit_fairness(fitted_pipeline, split.test, ["island"], 1)

    slices = slice_metrics(fitted_pipeline, split.test, ["island"])
    expected = slices.drop(columns="column").rename(columns={"value": "group"})
    pd.testing.assert_frame_equal(audit.groups, expected)
    assert audit.groups["rows"].sum() == len(split.test.target)


def test_small_groups_are_reported_but_left_out_of_the_gap(
    fitted_pipeline: Pipeline, split: Split
) -> None:
    (everyone,) = fairness.audit_fairness(fitted_pipeline, split.test, ["island"], 1)
    smallest = everyone.groups["rows"].min()

    (audit,) = fairness.audit_fairness(
        fitted_pipeline, split.test, ["island"], int(smallest) + 1
    )

    assert audit.groups.equals(everyone.groups)
    judged = audit.groups[audit.groups["rows"] > smallest]
    scores = judged.set_index("group")[TASK.PRIMARY_METRIC]
    assert audit.gap == pytest.approx(scores.max() - scores.min())
    best, worst = scores.idxmax(), scores.idxmin()
    expected = (worst, best) if TASK.GREATER_IS_BETTER else (best, worst)
    assert audit.gap_between == expected


def test_one_judged_group_has_no_gap(fitted_pipeline: Pipeline, split: Split) -> None:
    (everyone,) = fairness.audit_fairness(fitted_pipeline, split.test, ["island"], 1)
    largest = int(everyone.groups["rows"].max())

    (audit,) = fairness.audit_fairness(fitted_pipeline, split.test, ["island"], largest)

    assert audit.gap is None
    assert audit.gap_between is None
    assert audit.demographic_parity_difference is None
    assert audit.equalized_odds_difference is None


def test_metric_names_carry_column_group_and_metric(
    fitted_pipeline: Pipeline, split: Split
) -> None:
    test = split.test
    audit = pd.DataFrame(
        {"home": test.features["island"].str.replace("i", "i/i")},
        index=test.features.index,
    )
    audits = fairness.audit_fairness(
        fitted_pipeline, Dataset(test.features, test.target, audit), ["home"], 1
    )

    metrics = fairness.fairness_metric_values(audits)

    primary = TASK.PRIMARY_METRIC
    assert f"fairness/home/{metric_name_part('Bi/iscoe')}/{primary}" in metrics
    assert f"fairness/home/Dream/{primary}" in metrics
    assert metrics[f"fairness/home/gap/{primary}"] == audits[0].gap
    scores = audits[0].groups.drop(columns=["group", "rows"])
    differences = 1 if TASK.NAME == "regression" else 3
    assert len(metrics) == scores.notna().to_numpy().sum() + differences


def test_log_fairness_logs_metrics_and_table(
    fitted_pipeline: Pipeline, split: Split, tracking_uri: str, tmp_path: Path
) -> None:
    audits = fairness.audit_fairness(fitted_pipeline, split.test, ["island"], 10)
    experiment = MlflowClient().create_experiment(
        f"fairness-{uuid.uuid4().hex[:8]}", artifact_location=tmp_path.as_uri()
    )

    with mlflow.start_run(experiment_id=experiment) as run:
        fairness.log_fairness(audits)

    logged = MlflowClient().get_run(run.info.run_id).data.metrics
    assert logged == pytest.approx(fairness.fairness_metric_values(audits))
    table = json.loads(
        Path(
            mlflow.artifacts.download_artifacts(
                run_id=run.info.run_id, artifact_path=fairness.FAIRNESS_TABLE_ARTIFACT
            )
        ).read_text(encoding="utf-8")
    )
    assert table["columns"][:3] == ["column", "group", "rows"]
    assert len(table["data"]) == len(audits[0].groups)
