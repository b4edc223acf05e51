"""The evaluation report: slices, metric names, and what a run logs."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.data import Dataset, Split
from {{ cookiecutter.package_name }}.evaluation import report
from {{ cookiecutter.package_name }}.evaluation.card import (
    CARD_ARTIFACT,
    markdown_table,
)
from {{ cookiecutter.package_name }}.model import TASK
from {{ cookiecutter.package_name }}.workflows.train import TrainingResult


def test_one_slice_per_value_including_missing(
    fitted_pipeline: Pipeline, split: Split
) -> None:
    test = split.test
    features = test.features.assign(
        sex=test.features["sex"].where(test.features.index % 7 > 0)
    )

    slices = report.slice_metrics(
        fitted_pipeline, Dataset(features, test.target), ["sex"]
    )

    expected = features["sex"].fillna(report.MISSING_VALUE).value_counts()
    assert dict(zip(slices["value"], slices["rows"], strict=True)) == expected.to_dict()
    assert list(slices.columns[:3]) == ["column", "value", "rows"]
    assert TASK.PRIMARY_METRIC in slices.columns


def test_no_slice_columns_give_an_empty_table(
    fitted_pipeline: Pipeline, split: Split
) -> None:
    assert report.slice_metrics(fitted_pipeline, split.test, []).empty


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Biscoe", "slice/island/Biscoe/f1"), ("a=b|c/d", "slice/island/a_b_c_d/f1")],
)
def test_slice_metric_name_is_valid_for_mlflow(value: str, expected: str) -> None:
    assert report.slice_metric_name("island", value, "f1") == expected


def test_slice_metric_values_skip_undefined_scores(
    fitted_pipeline: Pipeline, split: Split
) -> None:
    slices = report.slice_metrics(fitted_pipeline, split.test, ["island"])
    slices.loc[0, TASK.PRIMARY_METRIC] = np.nan

    values = report.slice_metric_values(slices)

    first = str(slices.loc[0, "value"])
    assert f"slice/island/{first}/{TASK.PRIMARY_METRIC}" not in values
    assert (
        len(values)
        == slices.drop(columns=["column", "value", "rows"]).notna().sum().sum()
    )


def test_run_logs_metrics_slices_plots_and_card(
    trained: TrainingResult,
    tracked_settings: Settings,
    fitted_pipeline: Pipeline,
    split: Split,
) -> None:
    client = MlflowClient()
    run = client.get_run(trained.run_id)
    artifacts = {item.path for item in client.list_artifacts(trained.run_id, "plots")}
    table = json.loads(
        mlflow.artifacts.load_text(
            f"runs:/{trained.run_id}/{report.SLICE_TABLE_ARTIFACT}"
        )
    )
    card = mlflow.artifacts.load_text(f"runs:/{trained.run_id}/{CARD_ARTIFACT}")

    assert {f"test_{name}" for name in trained.metrics} <= set(run.data.metrics)
    assert any(name.startswith("slice/") for name in run.data.metrics)
    figures = TASK.evaluation_plots(
        fitted_pipeline, split.test.features, split.test.target
    )
    assert artifacts == {f"{report.PLOTS_DIRECTORY}/{name}" for name in figures}
    assert set(table["columns"][:3]) == {"column", "value", "rows"}
    assert {row[0] for row in table["data"]} == set(
        tracked_settings.evaluation.slice_columns
    )
    assert trained.run_id in card
    assert tracked_settings.card.intended_use in card


def test_markdown_table_escapes_pipes() -> None:
    assert markdown_table(["a", "b"], [("x|y", 0.5)]).splitlines() == [
        "| a | b |",
        "|---|---|",
        "| x\\|y | 0.5000 |",
    ]
