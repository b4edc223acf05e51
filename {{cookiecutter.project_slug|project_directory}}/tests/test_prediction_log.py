"""The prediction log: what the service records, where, how much, and when it cannot."""

import logging
import random
import time
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.config import (
    PredictionLogConfig,
    Settings,
)
from {{ cookiecutter.package_name }}.monitoring import log_format
from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.model import (
    ServedModel,
    load_served_model,
)
from {{ cookiecutter.package_name }}.serving.prediction_log import (
    PredictionLog,
    open_prediction_log,
)

SEED = 7


@pytest.fixture(scope="module")
def served(tracked_settings: Settings, champion_uri: str) -> ServedModel:
    return load_served_model(tracked_settings, None)


@pytest.fixture(scope="module")
def rows(served: ServedModel, demo_frame: pd.DataFrame) -> pd.DataFrame:
    """Twelve demo rows, missing values included, in signature order."""
    return demo_frame[[column.name for column in served.columns]].head(12)


def payload(df: pd.DataFrame) -> bytes:
    records = df.astype(object).where(df.notna(), None).to_dict(orient="records")
    return orjson.dumps({"dataframe_records": records})


def post(client: TestClient, df: pd.DataFrame, request_id: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    return client.post("/invocations", content=payload(df), headers=headers)


def log_config(directory: Path, **changes: Any) -> PredictionLogConfig:
    return PredictionLogConfig(directory=directory, **changes)


def read_log(directory: Path) -> pd.DataFrame:
    files = log_format.log_files(directory)
    return pd.concat([pd.read_parquet(path) for path in files], ignore_index=True)


def test_logged_rows_join_back_to_their_requests(
    served: ServedModel, rows: pd.DataFrame, tmp_path: Path
) -> None:
    log = PredictionLog(log_config(tmp_path), served, [], SEED)
    answers = {}
    with TestClient(create_app(served, prediction_log=log)) as client:
        for request_id, part in [("order-1", rows[:5]), (None, rows[5:])]:
            response = post(client, part, request_id)
            answers[response.headers["X-Request-ID"]] = response.json()["predictions"]

    logged = read_log(tmp_path)

    assert list(logged.columns) == [*rows.columns, *log_format.RECORD_COLUMNS]
    assert "order-1" in answers
    assert len(logged) == len(rows)
    for request_id, predictions in answers.items():
        request_rows = logged[logged[log_format.REQUEST_ID] == request_id]
        assert request_rows[log_format.ROW].tolist() == list(range(len(predictions)))
        assert request_rows[log_format.PREDICTION].tolist() == predictions
    pd.testing.assert_frame_equal(
        logged[rows.columns].astype(object),
        rows.reset_index(drop=True).astype(object),
        check_dtype=False,
    )
    assert set(logged[log_format.MODEL_URI]) == {served.uri}
    assert set(logged[log_format.MODEL_VERSION]) == {served.model_version}
    assert (logged[log_format.LATENCY_MS] > 0).all()
    assert str(logged[log_format.SCORED_AT].dt.tz) == "UTC"


def test_predictions_are_text_for_classes_and_numbers_otherwise(
    served: ServedModel, rows: pd.DataFrame, tmp_path: Path
) -> None:
    log = PredictionLog(log_config(tmp_path), served, [], SEED)
    with TestClient(create_app(served, prediction_log=log)) as client:
        post(client, rows)

    predictions = read_log(tmp_path)[log_format.PREDICTION]

    if served.is_classifier:
        assert pd.api.types.is_string_dtype(predictions)
    else:
        assert predictions.dtype == "float64"


def test_a_file_is_written_after_flush_seconds_while_serving(
    served: ServedModel, rows: pd.DataFrame, tmp_path: Path
) -> None:
    config = log_config(tmp_path, flush_seconds=0.01)
    log = PredictionLog(config, served, [], SEED)
    with TestClient(create_app(served, prediction_log=log)) as client:
        post(client, rows)
        # Polls the writer thread for up to 10 s: fails only if no file comes.
        for _ in range(1000):
            if log_format.log_files(tmp_path):
                break
            time.sleep(0.01)
        written_while_serving = log_format.log_files(tmp_path)

    assert len(written_while_serving) == 1


def test_log_stays_under_its_cap_and_the_oldest_files_go(
    served: ServedModel, rows: pd.DataFrame, tmp_path: Path
) -> None:
    one_file = tmp_path / "one"
    log = PredictionLog(log_config(one_file), served, [], SEED)
    with TestClient(create_app(served, prediction_log=log)) as client:
        post(client, rows.head(1))
    file_size = log_format.log_files(one_file)[0].stat().st_size
    capped = tmp_path / "capped"
    cap = max(3 * file_size + file_size // 2, 1024)
    log = PredictionLog(
        log_config(capped, rows_per_file=1, max_bytes=cap), served, [], SEED
    )
    sent = [f"request-{number:02d}" for number in range(12)]

    with TestClient(create_app(served, prediction_log=log)) as client:
        for request_id in sent:
            post(client, rows.head(1), request_id)

    files = log_format.log_files(capped)
    assert sum(path.stat().st_size for path in files) <= cap
    assert 2 <= len(files) < len(sent)
    kept = read_log(capped)[log_format.REQUEST_ID].tolist()
    assert kept == sent[-len(files) :]


def test_sampling_records_the_seeded_share_of_requests(
    served: ServedModel, rows: pd.DataFrame, tmp_path: Path
) -> None:
    requests = 100
    log = PredictionLog(log_config(tmp_path, sample_rate=0.5), served, [], SEED)
    with TestClient(create_app(served, prediction_log=log)) as client:
        for number in range(requests):
            post(client, rows.head(1), f"request-{number}")

    recorded = len(read_log(tmp_path))

    draws = random.Random(SEED)  # noqa: S311 (the same draws as the log's)
    assert recorded == sum(draws.random() < 0.5 for _ in range(requests))
    assert 35 <= recorded <= 65


def test_an_unwritable_directory_fails_no_request_and_warns_once(
    served: ServedModel,
    rows: pd.DataFrame,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    not_a_directory = tmp_path / "prediction-log"
    not_a_directory.write_text("a file where the directory should be")
    log = PredictionLog(log_config(not_a_directory, rows_per_file=1), served, [], SEED)

    with (
        caplog.at_level(logging.WARNING),
        TestClient(create_app(served, prediction_log=log)) as client,
    ):
        statuses = [post(client, rows.head(2)).status_code for _ in range(5)]
        scrape = client.get("/metrics").text

    assert statuses == [200] * 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "cannot write 2 rows, dropped them" in warnings[0].getMessage()
    assert log.dropped_rows == 10
    assert "prediction_log_dropped_rows_total" in scrape
    assert not_a_directory.read_text() == "a file where the directory should be"


@pytest.mark.parametrize("write_personal", [False, True])
def test_personal_columns_reach_the_files_only_when_allowed(
    settings: Settings,
    served: ServedModel,
    rows: pd.DataFrame,
    tmp_path: Path,
    write_personal: bool,
) -> None:
    personal = str(rows.columns[-1])
    data = settings.data.model_copy(
        update={"personal_columns": [personal], "write_personal": write_personal}
    )
    monitoring = settings.monitoring.model_copy(
        update={"prediction_log": log_config(tmp_path)}
    )
    private = settings.model_copy(update={"data": data, "monitoring": monitoring})
    log = open_prediction_log(private, served)
    with TestClient(create_app(served, prediction_log=log)) as client:
        post(client, rows)

    columns = read_log(tmp_path).columns

    assert (personal in columns) is write_personal
    assert set(rows.columns).difference([personal]) <= set(columns)


def test_a_disabled_log_writes_nothing(
    settings: Settings, served: ServedModel, rows: pd.DataFrame, tmp_path: Path
) -> None:
    config = log_config(tmp_path / "log", enabled=False)
    monitoring = settings.monitoring.model_copy(update={"prediction_log": config})
    disabled = settings.model_copy(update={"monitoring": monitoring})

    log = open_prediction_log(disabled, served)
    with TestClient(create_app(served, prediction_log=log)) as client:
        response = post(client, rows)

    assert log is None
    assert response.status_code == 200
    assert not (tmp_path / "log").exists()
