"""Slow tier: the generated scoring service under fuzzing and load.

One default project is rendered, installed and trained; its real ``serve``
command then runs as a subprocess on 127.0.0.1 while schemathesis generates
requests from the service's own OpenAPI schema, and while a bounded load of
valid and malformed requests hits it. Neither may get a single 5xx answer,
and the server must still be healthy afterwards.
"""

from __future__ import annotations

import csv
import itertools
import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
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
    subprocess_environment,
)

pytestmark = pytest.mark.slow

STARTUP_TIMEOUT_S = 120
LOAD_REQUESTS = 10_000
MALFORMED_SHARE = 0.2
SEED = 20261123


@pytest.fixture(scope="module")
def project(cookies_session: Cookies) -> Project:
    """The default project (serving included), installed and trained once."""
    created = installed_project(cookies_session, DEFAULT_COMBINATION)
    created.cli("train")
    return created


@pytest.fixture(scope="module")
def base_url(project: Project) -> Iterator[str]:
    """URL of the project's own ``serve`` command, running for this module."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = project.path / ".venv" / "bin" / project.slug
    log = project.path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [command, "serve", "--port", str(port)],
            cwd=project.path,
            env=subprocess_environment(project.uv),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not healthy(url):
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "serve did not become healthy"
            time.sleep(0.5)
        yield url
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    text = log.read_text()
    assert "Application shutdown complete" in text
    assert "Traceback" not in text, text[-5000:]


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
        rows = list(itertools.islice(csv.DictReader(handle), 10))
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
