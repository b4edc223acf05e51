"""Shadow scoring: a challenger scores the champion's requests, unseen by clients."""

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.base import clone
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.config import (
    ENV_PREFIX,
    Settings,
    ShadowLogConfig,
    TrackingConfig,
)
from {{ cookiecutter.package_name }}.data import Split
from {{ cookiecutter.package_name }}.errors import DataError
from {{ cookiecutter.package_name }}.monitoring import shadow_log
from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.model import (
    ServedModel,
    load_served_model,
)
from {{ cookiecutter.package_name }}.serving.runner import (
    CHALLENGER_ENVVAR,
    CONFIG_ENVVAR,
    MODEL_ENVVAR,
    worker_app,
)
from {{ cookiecutter.package_name }}.serving.shadow import ShadowScorer
from {{ cookiecutter.package_name }}.workflows import train

from .conftest import (
    CONFIG_PATH,
    PACKAGE_NAME,
    assert_one_line_error,
    cli_env,
    invoke,
)

SEED = 7
TOLERANCE = 0.05
SHADOW_DIRECTORY_ENVVAR = f"{ENV_PREFIX}MONITORING__SHADOW_LOG__DIRECTORY"


@pytest.fixture(scope="module")
def served(tracked_settings: Settings, champion_uri: str) -> ServedModel:
    return load_served_model(tracked_settings, None)


@pytest.fixture(scope="module")
def rows(served: ServedModel, demo_frame: pd.DataFrame) -> pd.DataFrame:
    """Forty demo rows, missing values included, in signature order."""
    return demo_frame[[column.name for column in served.columns]].head(40)


@pytest.fixture(scope="module")
def weaker(settings: Settings, split: Split, served: ServedModel) -> ServedModel:
    """The champion's pipeline trained with far fewer boosting rounds."""
    model = settings.model.model_copy(update={"max_iter": 2, "learning_rate": 0.05})
    pipeline = train.fit_pipeline(
        settings.model_copy(update={"model": model}), split.train
    )
    return dataclasses.replace(
        served, estimator=pipeline, uri="runs:/weaker/model", model_version="weaker"
    )


def post(client: TestClient, df: pd.DataFrame) -> Any:
    records = df.astype(object).where(df.notna(), None).to_dict(orient="records")
    return client.post(
        "/invocations",
        content=orjson.dumps({"dataframe_records": records}),
        headers={"Content-Type": "application/json"},
    )


def shadow_samples(client: TestClient) -> dict[tuple[str, str], float]:
    """The shadow metrics of ``/metrics`` by name and challenger label."""
    text = client.get("/metrics").text
    return {
        (sample.name, sample.labels["challenger"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("shadow_")
    }


def wait_for_rows(client: TestClient, metric: str, challenger: str, rows: int) -> None:
    """Poll ``/metrics`` for up to 10 s until ``metric`` counts ``rows``."""
    for _ in range(1000):
        if shadow_samples(client).get((metric, challenger)) == rows:
            return
        time.sleep(0.01)


def shadow_config(directory: Path, **changes: Any) -> ShadowLogConfig:
    return ShadowLogConfig(
        directory=directory, agreement_tolerance=TOLERANCE, **changes
    )


def read_shadow_log(directory: Path) -> pd.DataFrame:
    files = shadow_log.shadow_files(directory)
    return pd.concat([pd.read_parquet(path) for path in files], ignore_index=True)


def expected_agreement(champion: list[Any], challenger: list[Any]) -> list[bool]:
    """The agreement rule, written out: equal classes, or numbers within 5 %."""
    if all(isinstance(value, str) for value in champion):
        return [a == b for a, b in zip(champion, challenger, strict=True)]
    return [
        abs(b - a) <= TOLERANCE * abs(a)
        for a, b in zip(champion, challenger, strict=True)
    ]


def test_a_failing_challenger_changes_no_answer_and_is_counted(
    served: ServedModel,
    rows: pd.DataFrame,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # An unfitted copy of the champion: predicting raises on every request.
    unfitted = dataclasses.replace(
        served, estimator=clone(served.estimator), uri="unfitted", model_version=None
    )
    config = shadow_config(tmp_path, rows_per_file=1)
    shadow = ShadowScorer(unfitted, served, config, SEED)
    requests = [rows[:10], rows[10:20], rows[20:30], rows[30:]]

    with (
        caplog.at_level(logging.DEBUG, logger=PACKAGE_NAME),
        TestClient(create_app(served, shadow=shadow)) as client,
    ):
        answers = [post(client, part) for part in requests]
        wait_for_rows(client, "shadow_failures_total", "unfitted", len(rows))
        samples = shadow_samples(client)

    assert [answer.status_code for answer in answers] == [200] * len(requests)
    assert [answer.json()["predictions"] for answer in answers] == [
        served.predict(part).tolist() for part in requests
    ]
    assert samples[("shadow_failures_total", "unfitted")] == len(rows)
    assert samples[("shadow_rows_total", "unfitted")] == 0
    assert shadow_log.shadow_files(tmp_path) == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "The challenger unfitted failed to score" in warnings[0].getMessage()
    tracebacks = [
        r for r in caplog.records if r.levelno == logging.DEBUG and r.exc_info
    ]
    assert len(tracebacks) >= 2


def test_agreement_reaches_metrics_and_the_shadow_log(
    served: ServedModel, weaker: ServedModel, rows: pd.DataFrame, tmp_path: Path
) -> None:
    shadow = ShadowScorer(
        weaker, served, shadow_config(tmp_path, flush_seconds=0.01), SEED
    )
    requests = [rows[:15], rows[15:]]

    with TestClient(create_app(served, shadow=shadow)) as client:
        answers = [post(client, part).json()["predictions"] for part in requests]
        wait_for_rows(client, "shadow_rows_total", "weaker", len(rows))
        samples = shadow_samples(client)
        version = client.get("/version").json()

    logged = read_shadow_log(tmp_path)
    champion = answers[0] + answers[1]
    challenger = weaker.predict(rows).tolist()
    agree = expected_agreement(champion, challenger)
    assert list(logged.columns) == list(shadow_log.SHADOW_COLUMNS)
    assert logged[shadow_log.CHAMPION_PREDICTION].tolist() == champion
    assert logged[shadow_log.CHALLENGER_PREDICTION].tolist() == challenger
    assert logged[shadow_log.AGREE].tolist() == agree
    assert logged[shadow_log.ROW].tolist() == [*range(15), *range(len(rows) - 15)]
    assert set(logged[shadow_log.CHAMPION_VERSION]) == {served.model_version}
    assert set(logged[shadow_log.CHALLENGER_URI]) == {"runs:/weaker/model"}
    assert str(logged[shadow_log.SCORED_AT].dt.tz) == "UTC"
    assert samples == {
        ("shadow_rows_total", "weaker"): len(rows),
        ("shadow_agreeing_rows_total", "weaker"): sum(agree),
        ("shadow_failures_total", "weaker"): 0,
        ("shadow_dropped_rows_total", "weaker"): 0,
        ("shadow_agreement_ratio", "weaker"): pytest.approx(sum(agree) / len(rows)),
    }
    assert version["challenger"] == {
        "model_uri": "runs:/weaker/model",
        "model_version": "weaker",
    }
    assert shadow_log.read_agreement(tmp_path, challenger_version="weaker") == (
        shadow_log.Agreement(len(rows), sum(agree), (str(served.model_version),))
    )
    assert shadow_log.read_agreement(tmp_path, challenger_uri="runs:/other") is None


def test_without_a_challenger_there_are_no_shadow_metrics(
    served: ServedModel, rows: pd.DataFrame
) -> None:
    with TestClient(create_app(served)) as client:
        post(client, rows)
        metrics = client.get("/metrics").text
        version = client.get("/version").json()

    assert "shadow_" not in metrics
    assert "challenger" not in version


def test_an_unreadable_shadow_log_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / shadow_log.shadow_file_name("20261130T081500123456", 1)).write_text(
        "not parquet"
    )

    with pytest.raises(DataError, match="cannot read the shadow log file"):
        shadow_log.read_agreement(tmp_path)
    assert shadow_log.read_agreement(tmp_path / "absent") is None


def test_promote_prints_the_agreement_of_the_version(
    tracking_uri: str,
    registry: TrackingConfig,
    served: ServedModel,
    rows: pd.DataFrame,
    tmp_path: Path,
) -> None:
    # The champion's own model, served as version 2 of the registry fixture's
    # model: it agrees on every row.
    version_2 = dataclasses.replace(
        served, uri=f"models:/{registry.registered_model}/2", model_version="2"
    )
    directory = tmp_path / "shadow-log"
    shadow = ShadowScorer(version_2, served, shadow_config(directory), SEED)
    with TestClient(create_app(served, shadow=shadow)) as client:
        post(client, rows)
    env = cli_env(
        tracking_uri,
        tmp_path / "saved-runs",
        tracking__registered_model=registry.registered_model,
        monitoring__shadow_log__directory=str(directory),
    )

    shadowed = invoke(["promote", "2"], env)
    unshadowed = invoke(["promote", "3"], env)

    assert shadowed.stdout == (
        f"Version 2 agreed with version {served.model_version} on 100.0 % of"
        f" {len(rows)} shadow-scored rows.\nMoved @champion to version 2.\n"
    )
    assert unshadowed.stdout == (
        f"No shadow scoring of version 3 in {directory}.\n"
        "Moved @champion to version 3 (was version 2).\n"
    )


def test_worker_processes_load_the_challenger_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    tracking_uri: str,
    champion_uri: str,
    served: ServedModel,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv(CONFIG_ENVVAR, str(CONFIG_PATH))
    monkeypatch.setenv(MODEL_ENVVAR, champion_uri)
    monkeypatch.setenv(CHALLENGER_ENVVAR, "champion")
    monkeypatch.setenv(f"{ENV_PREFIX}TRACKING__URI", tracking_uri)
    monkeypatch.setenv(
        f"{ENV_PREFIX}MONITORING__PREDICTION_LOG__DIRECTORY", str(tmp_path)
    )
    monkeypatch.setenv(SHADOW_DIRECTORY_ENVVAR, str(tmp_path / "shadow"))

    with TestClient(worker_app()) as worker_client:
        challenger = worker_client.get("/version").json()["challenger"]

    assert challenger == {
        "model_uri": champion_uri,
        "model_version": served.model_version,
    }


@pytest.mark.parametrize(
    ("challenger", "overrides", "message"),
    [
        ("nobody", {}, "challenger 'nobody': cannot load model"),
        ("models:/absent/1", {}, "challenger 'models:/absent/1': cannot load model"),
        (
            "champion",
            {"monitoring__shadow_log__enabled": "false"},
            "a challenger needs the shadow log",
        ),
    ],
)
def test_serve_with_a_bad_challenger_is_one_line_error(
    tracking_uri: str,
    tmp_path: Path,
    challenger: str,
    overrides: dict[str, str],
    message: str,
) -> None:
    env = cli_env(tracking_uri, tmp_path / "saved-runs", **overrides)

    result = invoke(["serve", "--challenger", challenger], env)

    assert_one_line_error(result, message)
