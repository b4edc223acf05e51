"""Slow tier: the generated scoring service under fuzzing and load, and against MLflow.

One default project is rendered, installed and trained; its real ``serve``
command then runs as a subprocess on 127.0.0.1 while schemathesis generates
requests from the service's own OpenAPI schema, and while a bounded load of
valid and malformed requests hits it. Neither may get a single 5xx answer,
and the server must still be healthy afterwards; its ``/metrics``, read by
prometheus_client's own parser, count exactly the load's requests and rows,
and its prediction log holds every scored row once it has stopped.
``mlflow models serve`` then serves the same champion, and rows copied from
the data file, extra columns and all, get the same answer from both in every
input format.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from baked import Cookies
from helpers import free_port
from installed import (
    DEFAULT_COMBINATION,
    Project,
    installed_project,
)

pytestmark = pytest.mark.slow

STARTUP_TIMEOUT_S = 120
LOAD_REQUESTS = 10_000
MALFORMED_SHARE = 0.2
SEED = 20261123
ROWS_PER_REQUEST = 10
# Run in the project's environment: the template's own has neither library.
PARSE_METRICS = """
import json, sys
from prometheus_client.parser import text_string_to_metric_families
families = text_string_to_metric_families(sys.stdin.read())
print(json.dumps([[s.name, s.labels, s.value] for f in families for s in f.samples]))
"""
SUMMARISE_LOG = """
import json, sys
from pathlib import Path
import pandas as pd
files = sorted(Path(sys.argv[1]).glob("predictions-*.parquet"))
empty = pd.DataFrame({"request_id": [], "row": []})
log = pd.concat([pd.read_parquet(path) for path in files] or [empty])
summary = {
    "files": len(files),
    "rows": len(log),
    "columns": list(log.columns),
    "keys": int(log[["request_id", "row"]].drop_duplicates().shape[0]),
}
print(json.dumps(summary))
"""
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def project(cookies_session: Cookies) -> Project:
    """The default project (serving included), installed and trained once."""
    created = installed_project(cookies_session, DEFAULT_COMBINATION)
    created.cli("train")
    return created


@contextmanager
def running_server(
    project: Project,
    command: list[str],
    log: Path,
    extra_env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Run ``command --port N`` in the project until the block ends; yield its URL.

    The server's output goes to ``log``. It runs in a process group of its
    own, and the whole group is stopped with SIGTERM, as a service manager
    would: ``mlflow models serve`` runs its server as a child process.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as output:
        server = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=project.path,
            env=project.environment(extra_env),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while not healthy(url):
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"{command[0]} did not start"
                time.sleep(0.5)
            yield url
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


@pytest.fixture(scope="module")
def base_url(project: Project) -> Iterator[str]:
    """URL of the project's own ``serve`` command, running for this module.

    Once it stopped, its prediction log holds every row it scored, each once.
    """
    command = [str(project.path / ".venv" / "bin" / project.slug), "serve"]
    log = project.path / "serve.log"
    with running_server(project, command, log) as url:
        yield url
        final = scrape(project, url)
    text = log.read_text()
    assert "Application shutdown complete" in text
    assert "Traceback" not in text, text[-5000:]
    logged = summarise_log(project)
    scored = final["scored_rows_total", frozenset()]
    assert logged["rows"] == logged["keys"] == scored
    assert final["prediction_log_dropped_rows_total", frozenset()] == 0
    assert not scored or logged["columns"][-7:] == [
        "prediction",
        "model_version",
        "model_uri",
        "request_id",
        "row",
        "latency_ms",
        "scored_at",
    ]


@pytest.fixture(scope="module")
def mlflow_url(project: Project) -> Iterator[str]:
    """URL of ``mlflow models serve`` serving the project's champion."""
    tracking = yaml.safe_load((project.path / "config.yaml").read_text())["tracking"]
    model = f"models:/{tracking['registered_model']}@{tracking['champion_alias']}"
    command = [
        str(project.path / ".venv" / "bin" / "mlflow"),
        "models",
        "serve",
        "--model-uri",
        model,
        "--env-manager",
        "local",
        "--host",
        "127.0.0.1",
    ]
    venv_bin = project.path / ".venv" / "bin"
    env = {
        # mlflow models serve starts uvicorn by name: the project's own.
        "PATH": os.pathsep.join([str(venv_bin), project.environment()["PATH"]]),
        # The tracking store the project's commands used to train.
        "MLFLOW_TRACKING_URI": os.environ.get(
            "MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"
        ),
    }
    log = project.path / "mlflow-serve.log"
    with running_server(project, command, log, env) as url:
        yield url


def python_in(
    project: Project, script: str, *args: str, stdin: str = ""
) -> Any:  # noqa: ANN401 (JSON of any shape)
    """Run ``script`` with the project's Python; return the JSON it prints."""
    completed = subprocess.run(
        [str(project.path / ".venv" / "bin" / "python"), "-c", script, *args],
        input=stdin,
        env=project.environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def scrape(project: Project, url: str) -> Samples:
    """Every sample of ``/metrics`` by name and labels, read by prometheus_client."""
    response = httpx.get(f"{url}/metrics", timeout=30)
    assert response.status_code == 200
    samples = python_in(project, PARSE_METRICS, stdin=response.text)
    return {(name, frozenset(labels.items())): value for name, labels, value in samples}


def summarise_log(project: Project) -> dict[str, Any]:
    """Files, rows, columns and distinct (request_id, row) keys of the log."""
    directory = str(project.path / "prediction-log")
    summary: dict[str, Any] = python_in(project, SUMMARISE_LOG, directory)
    return summary


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def valid_rows(project: Project) -> list[dict[str, Any]]:
    """Ten demo rows with exactly the configured feature columns, as JSON records."""
    config = yaml.safe_load((project.path / "config.yaml").read_text())["data"]
    features = config["numeric_features"] + config["categorical_features"]
    with (project.path / "data" / "penguins.csv").open(newline="") as handle:
        rows = list(itertools.islice(csv.DictReader(handle), ROWS_PER_REQUEST))
    return [{name: convert(row[name]) for name in features} for row in rows]


def convert(text: str) -> object:
    if text == "NA":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def test_schemathesis_finds_no_server_error(base_url: str) -> None:
    schemathesis = Path(sys.executable).with_name("st")
    completed = subprocess.run(
        [
            str(schemathesis),
            "run",
            f"{base_url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "150",
            "--seed",
            str(SEED),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout[-5000:] + completed.stderr
    assert healthy(base_url)


def malformed_bodies(row: dict[str, Any]) -> list[tuple[str, bytes]]:
    """(content type, body) pairs that must all be answered with a 4xx."""
    numeric = next(name for name, value in row.items() if isinstance(value, float))
    return [
        ("application/json", b"{not json"),
        ("application/json", b""),
        ("application/json", json.dumps({"dataframe_records": [{}]}).encode()),
        ("application/json", json.dumps({"rows": [row]}).encode()),
        (
            "application/json",
            json.dumps({"dataframe_records": [{**row, numeric: "x"}]}).encode(),
        ),
        ("text/plain", b"hello"),
        ("text/csv", b"a,b\n1,2\n"),
        ("application/json", b"[" * 100_000),
    ]


def test_load_with_malformed_requests_has_no_5xx(
    project: Project, base_url: str
) -> None:
    rows = valid_rows(project)
    valid = json.dumps({"dataframe_records": rows}).encode()
    malformed = malformed_bodies(rows[0])
    rng = random.Random(SEED)  # noqa: S311 (reproducible choice, not security)
    statuses: Counter[int] = Counter()
    before = scrape(project, base_url)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for _ in range(LOAD_REQUESTS):
            if rng.random() < MALFORMED_SHARE:
                content_type, body = rng.choice(malformed)
            else:
                content_type, body = "application/json", valid
            response = client.post(
                "/invocations", content=body, headers={"Content-Type": content_type}
            )
            statuses[response.status_code] += 1

    assert sum(statuses.values()) == LOAD_REQUESTS
    assert not [status for status in statuses if status >= 500], statuses
    bad = sum(count for status, count in statuses.items() if 400 <= status < 500)
    assert bad == pytest.approx(LOAD_REQUESTS * MALFORMED_SHARE, rel=0.15)
    assert statuses[200] == LOAD_REQUESTS - bad
    assert healthy(base_url)
    after = scrape(project, base_url)
    counted = {key: after[key] - before.get(key, 0) for key in after}
    for status, count in statuses.items():
        key = frozenset({("route", "/invocations"), ("status", str(status))})
        assert counted["http_requests_total", key] == count, status
    assert counted["scored_rows_total", frozenset()] == (
        statuses[200] * ROWS_PER_REQUEST
    )


def data_file_lines(project: Project) -> list[str]:
    """The header and every 30th row of the data file, verbatim: every species."""
    lines = (project.path / "data" / "penguins.csv").read_text().splitlines()
    return [lines[0], *lines[1::30]]


def requests_in_every_format(lines: list[str]) -> dict[str, tuple[str, str]]:
    """(content type, body) of the same rows in each input format MLflow accepts.

    The rows keep the target and every other column of the data file, and
    the JSON ones one more; the last request lacks a column the model takes.
    """
    rows = [
        {**{name: convert(text) for name, text in row.items()}, "note": "extra"}
        for row in csv.DictReader(lines)
    ]
    names = list(rows[0])
    split = {"columns": names, "data": [list(row.values()) for row in rows]}
    payloads = {
        "dataframe_split": {"dataframe_split": split},
        "dataframe_records": {"dataframe_records": rows},
        "instances": {"instances": rows},
        "inputs": {"inputs": rows},
        "inputs by column": {"inputs": {n: [row[n] for row in rows] for n in names}},
    }
    requests = {
        name: ("application/json", json.dumps(payload))
        for name, payload in payloads.items()
    }
    requests["csv"] = ("text/csv", "\n".join(lines) + "\n")
    without_island = [{k: v for k, v in row.items() if k != "island"} for row in rows]
    requests["missing column"] = (
        "application/json",
        json.dumps({"dataframe_records": without_island}),
    )
    return requests


def test_mlflow_clients_get_the_same_answers(
    project: Project, base_url: str, mlflow_url: str
) -> None:
    statuses = {}
    predictions = []
    for name, (content_type, body) in requests_in_every_format(
        data_file_lines(project)
    ).items():
        ours, theirs = (
            httpx.post(
                f"{url}/invocations",
                content=body,
                headers={"Content-Type": content_type},
                timeout=30,
            )
            for url in (base_url, mlflow_url)
        )
        statuses[name] = (ours.status_code, theirs.status_code)
        if ours.status_code == 200:
            assert ours.json() == theirs.json(), name
            predictions.append(ours.json()["predictions"])

    assert statuses.pop("missing column") == (400, 400)
    assert set(statuses.values()) == {(200, 200)}
    assert len(statuses) == 6
    assert len(set(predictions[0])) > 1  # not one answer repeated for every row
