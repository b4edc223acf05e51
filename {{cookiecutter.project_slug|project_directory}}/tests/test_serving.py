"""The scoring service: every route, every payload format, every bad request."""

import dataclasses
import logging
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pandas as pd
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }} import __version__
from {{ cookiecutter.package_name }}.cli import cli
from {{ cookiecutter.package_name }}.config import ENV_PREFIX, Settings
from {{ cookiecutter.package_name }}.data import read_table
from {{ cookiecutter.package_name }}.monitoring.log_format import (
    PREDICTION,
    REQUEST_ID,
    log_files,
)
from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.model import (
    ServedModel,
    load_served_model,
    registry_version,
)
from {{ cookiecutter.package_name }}.serving.runner import (
    CONFIG_ENVVAR,
    MODEL_ENVVAR,
    worker_app,
)
from {{ cookiecutter.package_name }}.tracking.artifacts import (
    load_model,
    read_dtypes,
)
from {{ cookiecutter.package_name }}.tracking.local_server import (
    wait_until_healthy,
)
from {{ cookiecutter.package_name }}.workflows.predict import predict_frame

from .conftest import CONFIG_PATH, CONSOLE_SCRIPT, DEMO_DATA, free_port

STARTUP_TIMEOUT_S = 60
# Keeps the servers started here from writing their log into the project.
LOG_DIRECTORY_ENVVAR = f"{ENV_PREFIX}MONITORING__PREDICTION_LOG__DIRECTORY"


@pytest.fixture(scope="module")
def served(tracked_settings: Settings, champion_uri: str) -> ServedModel:
    return load_served_model(tracked_settings, None)


@pytest.fixture(scope="module")
def client(served: ServedModel) -> Iterator[TestClient]:
    with TestClient(create_app(served)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def features(served: ServedModel, demo_frame: pd.DataFrame) -> pd.DataFrame:
    """The first ten demo rows, missing values included, in signature order."""
    names = [column.name for column in served.columns]
    with_missing = demo_frame[demo_frame[names].isna().any(axis=1)]
    return pd.concat([demo_frame.head(8), with_missing.head(2)])[names]


@pytest.fixture(scope="module")
def expected(features: pd.DataFrame, champion_uri: str) -> list[Any]:
    """What in-process batch prediction answers for the same rows."""
    predictions: list[Any] = predict_frame(
        load_model(champion_uri), features, "test"
    ).tolist()
    return predictions


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON objects, with null for missing values."""
    return [
        {str(key): None if pd.isna(value) else value for key, value in row.items()}
        for row in df.astype(object).to_dict(orient="records")
    ]


def post_json(client: TestClient, payload: object, query: str = "") -> httpx2.Response:
    response: httpx2.Response = client.post(
        f"/invocations{query}",
        content=orjson.dumps(payload),
        headers={"Content-Type": "application/json"},
    )
    return response


def split_payload(df: pd.DataFrame) -> dict[str, Any]:
    rows = records(df)
    return {
        "dataframe_split": {
            "columns": list(df.columns),
            "data": [list(row.values()) for row in rows],
        }
    }


@pytest.mark.parametrize("route", ["/ping", "/health"])
def test_health_is_ok_once_the_model_is_loaded(client: TestClient, route: str) -> None:
    response = client.get(route)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_version_names_package_and_model(
    client: TestClient, champion_uri: str, trained: Any
) -> None:
    response = client.get("/version")

    assert response.json() == {
        "package_version": __version__,
        "model_uri": champion_uri,
        "model_version": trained.model_version,
    }


def test_openapi_documents_every_route(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()

    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/invocations",
        "/ping",
        "/health",
        "/version",
        "/metrics",
    }


@pytest.mark.parametrize(
    "payload",
    [
        split_payload,
        lambda df: {"dataframe_records": records(df)},
        lambda df: {"instances": records(df)},
        lambda df: {"inputs": records(df)},
        lambda df: {"inputs": {k: [r[k] for r in records(df)] for k in df.columns}},
    ],
    ids=["dataframe_split", "dataframe_records", "instances", "inputs", "columnar"],
)
def test_json_payloads_score_like_batch_prediction(
    client: TestClient, features: pd.DataFrame, expected: list[Any], payload: Any
) -> None:
    response = post_json(client, payload(features))

    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected}


def test_csv_payload_scores_like_batch_prediction(
    client: TestClient, features: pd.DataFrame, expected: list[Any]
) -> None:
    response = client.post(
        "/invocations",
        content=features.to_csv(index=False),
        headers={"Content-Type": "text/csv; charset=utf-8"},
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected}


@pytest.fixture(scope="module")
def data_rows(features: pd.DataFrame, demo_frame: pd.DataFrame) -> pd.DataFrame:
    """The ``features`` rows as the data file has them: target and extra columns too."""
    return demo_frame.loc[features.index].assign(comment="an extra column")


@pytest.mark.parametrize(
    "payload",
    [
        split_payload,
        lambda df: {"dataframe_records": records(df)},
        lambda df: {"instances": records(df)},
        lambda df: {"inputs": {k: [r[k] for r in records(df)] for k in df.columns}},
    ],
    ids=["dataframe_split", "dataframe_records", "instances", "columnar"],
)
def test_columns_the_model_does_not_take_are_ignored(
    client: TestClient, data_rows: pd.DataFrame, expected: list[Any], payload: Any
) -> None:
    response = post_json(client, payload(data_rows))

    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected}


def test_csv_rows_of_the_data_file_score(
    client: TestClient, data_rows: pd.DataFrame, expected: list[Any]
) -> None:
    response = client.post(
        "/invocations",
        content=data_rows.to_csv(index=False),
        headers={"Content-Type": "text/csv"},
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected}


def test_column_order_does_not_matter(
    client: TestClient, features: pd.DataFrame, expected: list[Any]
) -> None:
    response = post_json(client, split_payload(features[features.columns[::-1]]))

    assert response.json() == {"predictions": expected}


def test_probabilities_when_asked(
    client: TestClient, served: ServedModel, features: pd.DataFrame
) -> None:
    response = post_json(client, split_payload(features), "?probabilities=true")

    body = response.json()
    if not served.has_probabilities:
        assert response.status_code == 400
        assert "does not predict probabilities" in body["message"]
        return
    assert response.status_code == 200
    assert len(body["probabilities"]) == len(features)
    for row, label in zip(body["probabilities"], body["predictions"], strict=True):
        assert sum(row.values()) == pytest.approx(1)
        assert max(row, key=row.get) == str(label)


def first_row(df: pd.DataFrame) -> dict[str, Any]:
    return records(df.head(1))[0]


def bad_payloads(df: pd.DataFrame) -> dict[str, tuple[object, str]]:
    """Payloads the signature rejects, by case, with the expected message."""
    row = first_row(df)
    numeric = next(k for k, v in row.items() if isinstance(v, float))
    text = next(k for k, v in row.items() if isinstance(v, str))
    missing = {k: v for k, v in row.items() if k != text}
    return {
        "missing column": (
            {"dataframe_records": [missing]},
            f"missing column(s): {text}",
        ),
        "missing column among extra ones": (
            {"dataframe_records": [{**missing, text.upper(): "x", "colour": "red"}]},
            f"missing column(s): {text}; the model takes:",
        ),
        "text for a number": (
            {"dataframe_records": [{**row, numeric: "heavy"}]},
            f"column '{numeric}', row 0: expected a number or null, got a string",
        ),
        "number for text": (
            {"dataframe_records": [{**row, text: 3}]},
            f"column '{text}', row 0: expected a string or null, got a number",
        ),
        "boolean for a number": (
            {"dataframe_records": [{**row, numeric: True}]},
            "got a boolean",
        ),
        "no rows": ({"dataframe_records": []}, "missing column(s)"),
        "no rows split": (
            {"dataframe_split": {"columns": list(row), "data": []}},
            "no rows to score",
        ),
        "ragged split": (
            {"dataframe_split": {"columns": list(row), "data": [[1]]}},
            "row 0 is not a list of",
        ),
        "split without columns": (
            {"dataframe_split": {"data": [[1]]}},
            "must be a list of column names",
        ),
        "split not an object": ({"dataframe_split": [1]}, "'columns' and 'data'"),
        "split columns twice": (
            {"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}},
            "names a column twice",
        ),
        "records not objects": ({"dataframe_records": [1, 2]}, "list of records"),
        "ragged columnar": (
            {"inputs": {"a": [1], "b": [1, 2]}},
            "different lengths",
        ),
        "columnar not lists": ({"inputs": {"a": 1}}, "map each column to a list"),
        "no payload key": ({"rows": [row]}, "unknown key(s) 'rows'"),
        "two payload keys": (
            {"inputs": [row], "instances": [row]},
            "exactly one of",
        ),
        "not an object": ([row], "exactly one of"),
    }


CASES = list(bad_payloads(pd.DataFrame({"x": [1.0], "y": ["a"]})))


@pytest.mark.parametrize("case", CASES)
def test_bad_payloads_are_400_with_a_message(
    client: TestClient, features: pd.DataFrame, case: str
) -> None:
    payload, message = bad_payloads(features)[case]

    response = post_json(client, payload)

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert message in body["message"]


@pytest.mark.parametrize(
    ("content_type", "body", "status", "error_code", "message"),
    [
        ("application/json", b"{bad", 400, "MALFORMED_REQUEST", "malformed JSON"),
        ("application/json", b"", 400, "BAD_REQUEST", "body is empty"),
        ("text/plain", b"{}", 415, "UNSUPPORTED_MEDIA_TYPE", "'text/plain'"),
        ("", b"{}", 415, "UNSUPPORTED_MEDIA_TYPE", "'(none)'"),
        ("text/csv", b"a,b\n1,2\n", 400, "INVALID_PARAMETER_VALUE", "missing column"),
        ("text/csv", b"\n", 400, "INVALID_PARAMETER_VALUE", "no rows"),
        ("text/csv", b'"\n', 400, "MALFORMED_REQUEST", "malformed CSV"),
    ],
)
def test_bad_bodies_are_4xx_with_a_message(
    client: TestClient,
    content_type: str,
    body: bytes,
    status: int,
    error_code: str,
    message: str,
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}

    response = client.post("/invocations", content=body, headers=headers)

    assert response.status_code == status
    assert response.json()["error_code"] == error_code
    assert message in response.json()["message"]


def test_csv_with_text_in_a_number_column_is_400(
    client: TestClient, features: pd.DataFrame
) -> None:
    numeric = features.select_dtypes("number").columns[0]
    bad = features.astype({numeric: object}).head(2)
    bad.loc[bad.index[0], numeric] = "heavy"

    response = client.post(
        "/invocations",
        content=bad.to_csv(index=False),
        headers={"Content-Type": "text/csv"},
    )

    assert response.status_code == 400
    assert "heavy" in response.json()["message"]


def test_csv_with_an_infinite_number_is_400(
    client: TestClient, features: pd.DataFrame
) -> None:
    numeric = features.select_dtypes("number").columns[0]
    bad = features.head(2).copy()
    bad.loc[bad.index[1], numeric] = float("inf")

    response = client.post(
        "/invocations",
        content=bad.to_csv(index=False),
        headers={"Content-Type": "text/csv"},
    )

    assert response.status_code == 400
    assert f"column {numeric!r} must hold finite numbers" in response.json()["message"]


def test_csv_header_only_is_400(client: TestClient, features: pd.DataFrame) -> None:
    response = client.post(
        "/invocations",
        content=",".join(features.columns) + "\n",
        headers={"Content-Type": "text/csv"},
    )

    assert response.status_code == 400
    assert "no rows to score" in response.json()["message"]


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_bad_probabilities_flag_is_400(
    client: TestClient, features: pd.DataFrame, value: str
) -> None:
    response = post_json(client, split_payload(features), f"?probabilities={value}")

    assert response.status_code == 400
    assert "must be true or false" in response.json()["message"]


def test_oversized_body_is_413(served: ServedModel, features: pd.DataFrame) -> None:
    payload = orjson.dumps(split_payload(features))
    headers = {"Content-Type": "application/json"}
    with TestClient(create_app(served, max_body_bytes=len(payload) - 1)) as small:
        declared = small.post("/invocations", content=payload, headers=headers)
        streamed = small.post(
            "/invocations", content=iter([payload[:10], payload[10:]]), headers=headers
        )

    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"


def test_invalid_content_length_is_400(client: TestClient) -> None:
    response = client.post(
        "/invocations",
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": "x"},
    )

    assert response.status_code == 400


@pytest.mark.parametrize(
    ("method", "route", "status", "error_code"),
    [
        ("GET", "/nowhere", 404, "ENDPOINT_NOT_FOUND"),
        ("GET", "/invocations", 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/ping", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_unknown_routes_and_methods_answer_json(
    client: TestClient, method: str, route: str, status: int, error_code: str
) -> None:
    response = client.request(method, route)

    assert response.status_code == status
    assert response.json()["error_code"] == error_code
    assert route in response.json()["message"]


class BrokenEstimator:
    """An estimator with a bug: it fails on every input."""

    def predict(self, df: pd.DataFrame) -> None:
        raise RuntimeError("bug in the model")


def test_server_error_is_500_and_logged_once(
    served: ServedModel, features: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    broken = ServedModel(BrokenEstimator(), served.columns, "broken", None)
    with TestClient(create_app(broken)) as broken_client:
        response = post_json(broken_client, split_payload(features))

    assert response.status_code == 500
    assert response.json()["error_code"] == "INTERNAL_ERROR"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    assert "bug in the model" in str(errors[0].exc_info[1])


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        ("order-17:row.3_b", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("two words", False),
        ("line\tbreak", False),
        ("", False),
    ],
)
def test_every_answer_carries_a_sane_request_id(
    client: TestClient, features: pd.DataFrame, sent: str, echoed: bool
) -> None:
    headers = {"Content-Type": "application/json", "X-Request-ID": sent}
    body = orjson.dumps(split_payload(features))

    answers = [
        client.post("/invocations", content=body, headers=headers),
        client.post("/invocations", content=b"{", headers=headers),
        client.get("/invocations", headers=headers),
    ]

    assert [answer.status_code for answer in answers] == [200, 400, 405]
    for answer in answers:
        request_id = answer.headers["X-Request-ID"]
        if echoed:
            assert request_id == sent
        else:
            assert re.fullmatch("[0-9a-f]{32}", request_id)


def test_request_ids_are_new_for_each_request(
    client: TestClient, features: pd.DataFrame
) -> None:
    ids = {post_json(client, split_payload(features)).headers["X-Request-ID"]}
    ids.add(post_json(client, split_payload(features)).headers["X-Request-ID"])

    assert len(ids) == 2


def out_of_range(served: ServedModel, features: pd.DataFrame) -> tuple[Any, str]:
    """The complete ``features`` rows, two of them above the accepted range.

    Returns the payload and the column out of range.
    """
    assert served.contract is not None
    column = next(c for c in served.contract.columns if c.upper is not None)
    assert column.upper is not None
    broken = features.dropna()
    assert not served.contract.check(broken).breaks
    broken.loc[broken.index[:2], column.name] = column.upper + 1
    return split_payload(broken), column.name


def test_rows_breaking_the_contract_are_refused_when_the_policy_rejects(
    served: ServedModel, features: pd.DataFrame
) -> None:
    payload, column = out_of_range(served, features)

    with TestClient(create_app(served, on_break="reject")) as strict:
        response = post_json(strict, payload)
        clean = post_json(strict, {"dataframe_records": records(features.dropna())})

    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    rows = len(payload["dataframe_split"]["data"])
    assert f"2 of {rows} rows break the data contract" in body["message"]
    assert column in body["message"]
    assert "range" in body["message"]
    assert clean.status_code == 200


def test_rows_breaking_the_contract_are_scored_and_logged_by_default(
    client: TestClient,
    served: ServedModel,
    features: pd.DataFrame,
    caplog: pytest.LogCaptureFixture,
) -> None:
    payload, column = out_of_range(served, features)

    with caplog.at_level(logging.INFO):
        response = client.post(
            "/invocations",
            content=orjson.dumps(payload),
            headers={"Content-Type": "application/json", "X-Request-ID": "r-42"},
        )

    assert response.status_code == 200
    rows = len(payload["dataframe_split"]["data"])
    assert len(response.json()["predictions"]) == rows
    notes = [r.getMessage() for r in caplog.records if "r-42" in r.getMessage()]
    assert len(notes) == 1
    assert "break the data contract, scored anyway" in notes[0]
    assert column in notes[0]


def test_a_model_without_contract_is_checked_against_its_signature_only(
    served: ServedModel, features: pd.DataFrame
) -> None:
    payload, _ = out_of_range(served, features)
    old_model = dataclasses.replace(served, contract=None)

    with TestClient(create_app(old_model, on_break="reject")) as old_client:
        response = post_json(old_client, payload)
        metrics = old_client.get("/metrics").text

    assert response.status_code == 200
    assert "contract_breaks_total{" not in metrics


def test_registry_version_of_each_uri_form(tracked_settings: Settings) -> None:
    name = tracked_settings.tracking.registered_model

    assert registry_version(f"models:/{name}/3") == "3"
    assert registry_version("runs:/abc/model") is None


def test_worker_processes_load_the_model_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    tracking_uri: str,
    champion_uri: str,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv(CONFIG_ENVVAR, str(CONFIG_PATH))
    monkeypatch.setenv(MODEL_ENVVAR, champion_uri)
    monkeypatch.setenv(f"{ENV_PREFIX}TRACKING__URI", tracking_uri)
    monkeypatch.setenv(LOG_DIRECTORY_ENVVAR, str(tmp_path))

    with TestClient(worker_app()) as worker_client:
        assert worker_client.get("/version").json()["model_uri"] == champion_uri


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("models:/nope@champion", "cannot load model"),
        ("models:/{name}@nobody", "cannot load model"),
    ],
)
def test_serve_with_a_bad_model_is_one_line_error(
    tracking_uri: str, tracked_settings: Settings, model: str, message: str
) -> None:
    name = tracked_settings.tracking.registered_model
    env = {f"{ENV_PREFIX}TRACKING__URI": tracking_uri}

    result = CliRunner().invoke(
        cli,
        ["serve", "--config", str(CONFIG_PATH), "--model", model.format(name=name)],
        env=env,
    )

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_command_scores_the_demo_file_as_it_is_like_predict(
    tracking_uri: str, champion_uri: str, tmp_path: Path
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        f"{ENV_PREFIX}TRACKING__URI": tracking_uri,
        f"{ENV_PREFIX}CONFIG": str(CONFIG_PATH),
        LOG_DIRECTORY_ENVVAR: str(tmp_path),
    }
    model = load_model(champion_uri)
    demo = read_table(DEMO_DATA, read_dtypes(model))
    server = subprocess.Popen(
        [str(CONSOLE_SCRIPT), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_healthy(base_url, server, STARTUP_TIMEOUT_S)
        response = httpx2.post(
            f"{base_url}/invocations",
            content=DEMO_DATA.read_bytes(),
            headers={"Content-Type": "text/csv"},
        )
    finally:
        server.send_signal(signal.SIGTERM)
        _, log = server.communicate(timeout=30)

    assert response.status_code == 200, response.text
    expected = predict_frame(model, demo, DEMO_DATA).tolist()
    assert response.json()["predictions"] == expected
    # uvicorn finishes the requests in flight, then re-raises the signal.
    assert server.returncode == -signal.SIGTERM, log
    assert "Application shutdown complete" in log
    assert '"POST /invocations HTTP/1.1" 200' in log
    # The rows buffered at SIGTERM were written on the way out.
    (log_file,) = log_files(tmp_path)
    logged = pd.read_parquet(log_file)
    assert logged[PREDICTION].tolist() == expected
    assert set(logged[REQUEST_ID]) == {response.headers["X-Request-ID"]}
