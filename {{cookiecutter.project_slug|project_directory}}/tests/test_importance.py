"""Feature importance and row explanations, on data with a planted signal."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.data import Dataset
from {{ cookiecutter.package_name }}.evaluation.importance import (
    IMPORTANCE_PLOT,
    IMPORTANCE_TABLE_ARTIFACT,
    FeatureImportance,
    contribution_figure,
    explain_row,
    feature_importance,
    importance_figure,
    importance_metric_values,
    log_importance,
)
from {{ cookiecutter.package_name }}.evaluation.report import PLOTS_DIRECTORY
from {{ cookiecutter.package_name }}.model import TASK, build_pipeline

SIGNAL = "signal"
"""The feature that decides the target."""
NOISE = ["noise", "colour"]
"""Features drawn at random, unrelated to the target."""
TARGET = "outcome"
TRAINING_ROWS = 300
TEST_ROWS = 100


@pytest.fixture(scope="module")
def planted(settings: Settings) -> tuple[Pipeline, Dataset]:
    """A pipeline fitted on rows whose target follows ``signal`` alone; test rows."""
    rng = np.random.default_rng(0)
    rows = TRAINING_ROWS + TEST_ROWS
    signal = rng.normal(size=rows)
    features = pd.DataFrame(
        {
            SIGNAL: signal,
            "noise": rng.normal(size=rows),
            "colour": rng.choice(["red", "green", "blue"], rows).astype(object),
        }
    )
    targets = {
        "classification": pd.Series(np.where(signal > 0, "high", "low"), name=TARGET),
        "regression": pd.Series(100.0 * signal, name=TARGET),
    }
    target = targets[TASK.NAME]
    data = settings.data.model_copy(
        update={
            "target": TARGET,
            "numeric_features": [SIGNAL, "noise"],
            "categorical_features": ["colour"],
        }
    )
    pipeline = build_pipeline(settings.model_copy(update={"data": data}))
    pipeline.fit(features[:TRAINING_ROWS], target[:TRAINING_ROWS])
    test = Dataset(
        features[TRAINING_ROWS:].reset_index(drop=True),
        target[TRAINING_ROWS:].reset_index(drop=True),
    )
    return pipeline, test


@pytest.fixture(scope="module")
def importance(planted: tuple[Pipeline, Dataset]) -> FeatureImportance:
    pipeline, test = planted
    return feature_importance(pipeline, test, repeats=5, seed=0)


def test_the_planted_feature_ranks_first(importance: FeatureImportance) -> None:
    table = importance.table

    assert list(table.columns) == ["feature", "importance", "std", "helps"]
    assert table["feature"].iloc[0] == SIGNAL
    assert table["importance"].is_monotonic_decreasing
    assert table["importance"].iloc[0] > 0
    assert importance.metric == TASK.PRIMARY_METRIC
    assert importance.repeats == 5


def test_noise_features_are_unimportant(importance: FeatureImportance) -> None:
    assert sorted(importance.unimportant()) == sorted(NOISE)
    assert importance.table.set_index("feature")["helps"].to_dict() == {
        SIGNAL: True,
        **dict.fromkeys(NOISE, False),
    }


def test_importance_within_twice_its_spread_of_zero_is_unimportant() -> None:
    table = pd.DataFrame(
        {
            "feature": ["clear", "borderline", "harmful"],
            "importance": [0.30, 0.02, -0.01],
            "std": [0.05, 0.01, 0.01],
            "helps": [True, False, False],
        }
    )

    found = FeatureImportance(table, "f1_macro", 10).unimportant()

    assert found == ["borderline", "harmful"]


def test_same_seed_gives_the_same_importance(
    planted: tuple[Pipeline, Dataset], importance: FeatureImportance
) -> None:
    pipeline, test = planted

    again = feature_importance(pipeline, test, repeats=5, seed=0)

    pd.testing.assert_frame_equal(again.table, importance.table)


def test_the_largest_contribution_to_a_row_is_the_planted_feature(
    planted: tuple[Pipeline, Dataset],
) -> None:
    pipeline, test = planted
    row = test.features.iloc[[int(test.features[SIGNAL].argmax())]]

    explanation = explain_row(pipeline, row, test.features, seed=0, target=TARGET)

    contributions = explanation.contributions
    assert list(contributions.columns) == ["feature", "value", "contribution"]
    assert contributions["feature"].iloc[0] == SIGNAL
    assert contributions["contribution"].iloc[0] > 0
    assert contributions["contribution"].abs().is_monotonic_decreasing
    assert contributions.set_index("feature")["value"][SIGNAL] == row[SIGNAL].iloc[0]
    assert explanation.prediction == pipeline.predict(row)[0]
    expected = {
        "classification": "probability of class 'high'",
        "regression": f"predicted {TARGET}",
    }
    assert explanation.explained == expected[TASK.NAME]


def test_a_row_explained_against_itself_has_no_contributions(
    planted: tuple[Pipeline, Dataset],
) -> None:
    pipeline, test = planted
    row = test.features.iloc[[0]]

    explanation = explain_row(pipeline, row, row, seed=0, target=TARGET)

    assert (explanation.contributions["contribution"] == 0.0).all()
    explained = (
        pipeline.predict_proba(row).max()
        if TASK.NAME == "classification"
        else pipeline.predict(row)[0]
    )
    assert explanation.baseline == pytest.approx(explained)


def test_figures_draw_one_bar_per_feature(
    planted: tuple[Pipeline, Dataset], importance: FeatureImportance
) -> None:
    pipeline, test = planted
    explanation = explain_row(
        pipeline, test.features.iloc[[0]], test.features, seed=0, target=TARGET
    )

    bars = len(importance_figure(importance).axes[0].patches)
    contributions = len(contribution_figure(explanation).axes[0].patches)

    assert bars == contributions == len(test.features.columns)


def test_importance_metric_names_are_safe_and_distinct() -> None:
    features = ["bill_length_mm", "North/South", "a:b"]
    table = pd.DataFrame(
        {"feature": features, "importance": [0.3, 0.2, 0.1], "std": 0.0}
    ).assign(helps=True)

    values = importance_metric_values(FeatureImportance(table, "f1_macro", 10))

    assert values["importance/bill_length_mm"] == 0.3
    assert len(values) == len(features)
    assert all(name.count("/") == 1 for name in values)
    assert sorted(values.values()) == [0.1, 0.2, 0.3]


def test_log_importance_logs_metrics_table_and_figure(
    tracking_uri: str, tmp_path: Path, importance: FeatureImportance
) -> None:
    experiment = MlflowClient().create_experiment(
        f"importance-{uuid.uuid4().hex[:8]}", artifact_location=tmp_path.as_uri()
    )

    with mlflow.start_run(experiment_id=experiment) as run:
        log_importance(importance)

    client = MlflowClient()
    metrics = client.get_run(run.info.run_id).data.metrics
    table = json.loads(
        mlflow.artifacts.load_text(
            f"runs:/{run.info.run_id}/{IMPORTANCE_TABLE_ARTIFACT}"
        )
    )
    plots = {item.path for item in client.list_artifacts(run.info.run_id, "plots")}
    assert metrics == importance_metric_values(importance)
    assert [row[0] for row in table["data"]] == list(importance.table["feature"])
    assert plots == {f"{PLOTS_DIRECTORY}/{IMPORTANCE_PLOT}"}
