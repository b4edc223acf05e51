"""The evaluation report: slices, metric names, and what a run logs."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }}.config import Settings, load_config
from {{ cookiecutter.package_name }}.data import Dataset, Split
from {{ cookiecutter.package_name }}.data.contract import (
    Contract,
    learn_contract,
)
from {{ cookiecutter.package_name }}.evaluation import (
    feature_importance,
    holdout_split,
    report,
)
from {{ cookiecutter.package_name }}.evaluation.card import (
    CARD_ARTIFACT,
    markdown_table,
    render_card,
)
from {{ cookiecutter.package_name }}.evaluation.importance import (
    IMPORTANCE_PLOT,
)
from {{ cookiecutter.package_name }}.model import TASK
from {{ cookiecutter.package_name }}.tracking import provenance
from {{ cookiecutter.package_name }}.workflows import train
from {{ cookiecutter.package_name }}.workflows.train import TrainingResult

from .conftest import OWN_TARGETS, config_with_data, own_data_section

AWKWARD_NAMES = [
    ("Home Island", "Île Verte"),
    ("island", "a=b|c/d"),
    ("island", "a_b_c_d"),
    ("island", ".."),
    ("island", "."),
    ("island", ""),
    ("island", "🐧 penguin: yes"),
    ("C" * 300, "v" * 300),
]
"""Column names and values that MLflow would refuse as they are."""


def new_experiment(tmp_path: Path) -> str:
    """Create an experiment of its own in the session's tracking store."""
    return MlflowClient().create_experiment(
        f"report-{uuid.uuid4().hex[:8]}", artifact_location=tmp_path.as_uri()
    )


def card_settings(
    settings: Settings, data_path: Path, written_for: Path | None
) -> Settings:
    """Return ``settings`` reading ``data_path``, with prose for ``written_for``."""
    return settings.model_copy(
        update={
            "data": settings.data.model_copy(update={"path": data_path}),
            "card": settings.card.model_copy(update={"written_for": written_for}),
        }
    )


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


def test_unset_slice_columns_slice_every_categorical_feature(
    fitted_pipeline: Pipeline, split: Split, settings: Settings
) -> None:
    evaluation = report.evaluate_model(fitted_pipeline, split.test, None)

    assert list(evaluation.slices["column"].unique()) == (
        settings.data.categorical_features
    )


def test_default_slices_skip_columns_with_many_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limit = report.MAX_SLICE_VALUES
    features = pd.DataFrame(
        {
            "amount": np.arange(limit + 1, dtype=float),
            "code": [f"c{index}" for index in range(limit + 1)],
            "group": [f"g{index % limit}" for index in range(limit + 1)],
        }
    )

    with caplog.at_level(logging.DEBUG, logger=report.__name__):
        columns = report.default_slice_columns(features)

    assert columns == ["group"]
    assert f"Not slicing on 'code': {limit + 1} distinct values" in caplog.text


def test_explicit_slice_columns_are_kept_whatever_their_values(
    fitted_pipeline: Pipeline, split: Split, settings: Settings
) -> None:
    column = settings.data.categorical_features[-1]

    evaluation = report.evaluate_model(fitted_pipeline, split.test, [column])

    assert set(evaluation.slices["column"]) == {column}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Biscoe", "slice/island/Biscoe/f1"), ("Île Verte", "slice/island/Île Verte/f1")],
)
def test_slice_metric_name_keeps_valid_text(value: str, expected: str) -> None:
    assert report.slice_metric_name("island", value, "f1") == expected


def test_slice_metric_names_are_accepted_by_mlflow_and_distinct(
    tracking_uri: str, tmp_path: Path
) -> None:
    names = [report.slice_metric_name(c, v, "f1") for c, v in AWKWARD_NAMES]

    with mlflow.start_run(experiment_id=new_experiment(tmp_path)) as run:
        mlflow.log_metrics(dict.fromkeys(names, 1.0))

    logged = MlflowClient().get_run(run.info.run_id).data.metrics
    assert set(logged) == set(names)
    assert len(set(names)) == len(AWKWARD_NAMES)
    assert names[0] == "slice/Home Island/Île Verte/f1"
    assert names[1].startswith("slice/island/a_b_c_d-")


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
    plotted = {*figures, IMPORTANCE_PLOT}
    assert artifacts == {f"{report.PLOTS_DIRECTORY}/{name}" for name in plotted}
    assert set(table["columns"][:3]) == {"column", "value", "rows"}
    assert {row[0] for row in table["data"]} == set(
        tracked_settings.data.categorical_features
    )
    assert trained.run_id in card
    assert tracked_settings.card.intended_use in card
    assert tracked_settings.card.limitations in card


def contract_of(settings: Settings, split: Split) -> Contract:
    return learn_contract(split.train.features, settings.data, settings.contract)


def measured(pipeline: Pipeline, split: Split) -> dict[str, Any]:
    """What a card shows besides its evaluation: importance, no audit, the gate."""
    return {
        "importance": feature_importance(pipeline, split.test, 2, 0),
        "fairness": [],
        "gate": ["Promoted to `@champion`."],
    }


def test_card_leaves_out_prose_written_for_other_data(
    settings: Settings,
    split: Split,
    fitted_pipeline: Pipeline,
    caplog: pytest.LogCaptureFixture,
) -> None:
    other = card_settings(settings, Path("/data/sales.csv"), settings.data.path)
    evaluation = report.Evaluation({"score": 1.0}, pd.DataFrame())

    with caplog.at_level(logging.WARNING):
        card = render_card(
            other,
            split,
            evaluation,
            {},
            "run-1",
            contract=contract_of(settings, split),
            **measured(fitted_pipeline, split),
        )

    assert settings.card.intended_use not in card
    assert settings.card.limitations not in card
    assert card.count("Not written yet for `sales.csv`") == 2
    assert settings.data.path.name not in card
    assert "update card.intended_use, card.limitations and card.written_for" in (
        caplog.text
    )


@pytest.mark.parametrize("written_for", [None, Path("data/../data/penguins.csv")])
def test_card_keeps_prose_written_for_any_or_this_data(
    settings: Settings,
    split: Split,
    fitted_pipeline: Pipeline,
    written_for: Path | None,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(settings.data.path.parents[1])
    same = card_settings(settings, settings.data.path, written_for)
    evaluation = report.Evaluation({"score": 1.0}, pd.DataFrame())

    with caplog.at_level(logging.WARNING):
        card = render_card(
            same,
            split,
            evaluation,
            {},
            "run-1",
            contract=contract_of(settings, split),
            **measured(fitted_pipeline, split),
        )

    assert settings.card.intended_use in card
    assert "Not written yet" not in card
    assert not caplog.records


def test_a_table_of_ones_own_trains_and_reports(
    tmp_path: Path,
    own_table: Path,
    tracking_uri: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = load_config(config_with_data(tmp_path, own_data_section(own_table)))
    quick = settings.model.model_copy(update={"max_iter": 10})
    settings = settings.model_copy(update={"model": quick})

    split = holdout_split(settings)
    pipeline = train.fit_pipeline(settings, split.train)
    evaluation = report.evaluate_model(
        pipeline, split.test, settings.evaluation.slice_columns
    )
    with mlflow.start_run(experiment_id=new_experiment(tmp_path)) as run:
        mlflow.log_params(provenance.flatten(provenance.resolved_config(settings)))
        origin = provenance.provenance_tags(settings)
        tags = provenance.log_provenance(settings, split, origin)
        report.log_evaluation(evaluation)
        with caplog.at_level(logging.WARNING):
            contract = learn_contract(
                split.train.features, settings.data, settings.contract
            )
            card = render_card(
                settings,
                split,
                evaluation,
                tags,
                run.info.run_id,
                contract=contract,
                **measured(pipeline, split),
            )

    logged = MlflowClient().get_run(run.info.run_id).data
    assert set(evaluation.slices["value"]) == {
        "North Shore",
        "South/East",
        "Île Verte",
        report.MISSING_VALUE,
    }
    assert f"slice/Home Island/Île Verte/{TASK.PRIMARY_METRIC}" in logged.metrics
    assert logged.params["data.target"] == OWN_TARGETS[TASK.NAME]
    assert "Home Island" in logged.params["data.categorical_features"]
    assert "| Home Island | South/East |" in card
    assert "| Home Island | categorical |" in card
    assert "Not written yet for `My Auks.csv`" in card
    assert "card.written_for" in caplog.text


def test_markdown_table_escapes_pipes() -> None:
    assert markdown_table(["a", "b"], [("x|y", 0.5)]).splitlines() == [
        "| a | b |",
        "|---|---|",
        "| x\\|y | 0.5000 |",
    ]
