"""Micro-batching: concurrent requests scored in one call, each answered alone."""

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx2
import numpy as np
import orjson
import pandas as pd
import pytest
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.config import ServingConfig, Settings
from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.batching import MicroBatcher
from {{ cookiecutter.package_name }}.serving.model import (
    ServedModel,
    load_served_model,
)

# A bound on waiting for the server, so that a bug fails the test instead of
# hanging it; never a measured figure.
WAIT_S = 60
MARKER = -12345.0


@pytest.fixture(scope="module")
def served(tracked_settings: Settings, champion_uri: str) -> ServedModel:
    return load_served_model(tracked_settings, None)


@pytest.fixture(scope="module")
def rows(served: ServedModel, demo_frame: pd.DataFrame) -> pd.DataFrame:
    """Sixty demo rows, missing values included, in signature order."""
    names = [column.name for column in served.columns]
    return demo_frame[names].head(60).reset_index(drop=True)


@pytest.fixture(scope="module")
def number_column(served: ServedModel) -> str:
    return next(c.name for c in served.columns if c.kind.dtype == "float64")


class GatedEstimator:
    """The served pipeline, holding every call until the test opens its gate.

    While the gate is shut, the call in progress keeps the scoring thread
    busy, so requests sent meanwhile queue up: a deterministic batch.
    A row whose ``fail_column`` holds :data:`MARKER` makes a call fail.
    """

    def __init__(self, inner: Any, fail_column: str | None = None) -> None:
        self._inner = inner
        self._fail_column = fail_column
        self.entered = threading.Event()
        self.gate = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def predict(self, df: pd.DataFrame) -> Any:
        self.entered.set()
        self.gate.wait(WAIT_S)
        if self._fail_column and (df[self._fail_column] == MARKER).any():
            raise ValueError("the model fails on the marker")
        return self._inner.predict(df)


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {str(key): None if pd.isna(value) else value for key, value in row.items()}
        for row in df.astype(object).to_dict(orient="records")
    ]


def post(
    client: TestClient, df: pd.DataFrame, probabilities: bool = False
) -> httpx2.Response:
    response: httpx2.Response = client.post(
        f"/invocations?probabilities={str(probabilities).lower()}",
        content=orjson.dumps({"dataframe_records": records(df)}),
        headers={"Content-Type": "application/json"},
    )
    return response


def metric(client: TestClient, sample: str) -> float:
    """Return the value of the ``sample`` line (name and labels) of /metrics."""
    for line in client.get("/metrics").text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == sample:
            return float(value)
    raise AssertionError(f"{sample} is not in /metrics")


def wait_until_queued(client: TestClient, requests: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while metric(client, "queued_requests") < requests:
        assert time.monotonic() < deadline, f"{requests} requests never queued"
        time.sleep(0.01)


def send_while_busy(
    client: TestClient,
    gated: GatedEstimator,
    pool: ThreadPoolExecutor,
    frames: Sequence[pd.DataFrame],
) -> list[Future[httpx2.Response]]:
    """Send the first frame; once the model holds it, queue the others; go."""
    first = pool.submit(post, client, frames[0])
    assert gated.entered.wait(WAIT_S)
    rest = [pool.submit(post, client, frame) for frame in frames[1:]]
    wait_until_queued(client, len(rest))
    gated.gate.set()
    return [first, *rest]


def predictions(served: ServedModel, df: pd.DataFrame) -> list[Any]:
    answer: list[Any] = served.estimator.predict(df).tolist()
    return answer


def test_requests_queued_while_the_model_works_share_one_call(
    served: ServedModel, rows: pd.DataFrame
) -> None:
    gated = GatedEstimator(served.estimator)
    frames = [rows.iloc[:1], rows.iloc[1:3], rows.iloc[3:4], rows.iloc[4:8]]
    app = create_app(dataclasses.replace(served, estimator=gated))
    with TestClient(app) as client, ThreadPoolExecutor(4) as pool:
        answers = [f.result() for f in send_while_busy(client, gated, pool, frames)]

        assert metric(client, "batch_requests_count") == 2
        assert metric(client, "batch_requests_sum") == 4
        assert metric(client, "batch_rows_sum") == 8
    for answer, frame in zip(answers, frames, strict=True):
        assert answer.status_code == 200
        assert answer.json()["predictions"] == predictions(served, frame)


def test_concurrent_requests_each_get_their_own_rows(
    served: ServedModel, rows: pd.DataFrame
) -> None:
    sizes = [1 + number % 4 for number in range(20)]
    starts = np.cumsum([0, *sizes]).tolist()
    frames = [
        rows.iloc[start : start + size]
        for start, size in zip(starts[:-1], sizes, strict=True)
    ]
    wants = [number % 2 == 0 and served.has_probabilities for number in range(20)]
    app = create_app(served, serving=ServingConfig(max_batch_rows=4))
    with TestClient(app) as client, ThreadPoolExecutor(20) as pool:
        sent = [
            pool.submit(post, client, frame, probabilities)
            for frame, probabilities in zip(frames, wants, strict=True)
        ]
        answers = [future.result() for future in sent]

        assert metric(client, 'batch_rows_bucket{le="4.0"}') == metric(
            client, "batch_rows_count"
        )
    for answer, frame, probabilities in zip(answers, frames, wants, strict=True):
        assert answer.status_code == 200
        body = answer.json()
        assert body["predictions"] == predictions(served, frame)
        assert ("probabilities" in body) == probabilities
        if probabilities:
            expected = served.estimator.predict_proba(frame)
            found = [list(row.values()) for row in body["probabilities"]]
            np.testing.assert_allclose(found, expected)


def test_a_bad_request_among_good_ones_is_refused_alone(
    served: ServedModel, rows: pd.DataFrame, number_column: str
) -> None:
    # Rows without missing values hold the contract whatever the task trained on.
    complete = rows.dropna().reset_index(drop=True)
    out_of_range = complete.iloc[5:6].assign(**{number_column: 1e9})
    frames = [complete.iloc[:1], complete.iloc[1:3], out_of_range, complete.iloc[3:5]]
    gated = GatedEstimator(served.estimator)
    app = create_app(dataclasses.replace(served, estimator=gated), on_break="reject")
    with TestClient(app) as client, ThreadPoolExecutor(5) as pool:
        sent = send_while_busy(client, gated, pool, frames)
        malformed = client.post(
            "/invocations",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        answers = [future.result() for future in sent]

    assert malformed.status_code == 400
    assert [answer.status_code for answer in answers] == [200, 200, 400, 200]
    assert "1 of 1 rows break the data contract" in answers[2].json()["message"]
    good = zip(answers[:2] + answers[3:], frames[:2] + frames[3:], strict=True)
    for answer, frame in good:
        assert answer.json()["predictions"] == predictions(served, frame)


def test_a_model_failing_on_one_request_fails_only_that_request(
    served: ServedModel,
    rows: pd.DataFrame,
    number_column: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    marked = rows.iloc[5:7].assign(**{number_column: MARKER})
    frames = [rows.iloc[:1], rows.iloc[1:3], marked, rows.iloc[3:5]]
    gated = GatedEstimator(served.estimator, fail_column=number_column)
    app = create_app(dataclasses.replace(served, estimator=gated))
    with (
        caplog.at_level(logging.INFO),
        TestClient(app) as client,
        ThreadPoolExecutor(4) as pool,
    ):
        answers = [f.result() for f in send_while_busy(client, gated, pool, frames)]
        labels = f'column="{number_column}",rule="range"'
        range_breaks = metric(client, "contract_breaks_total{" + labels + "}")

    assert [answer.status_code for answer in answers] == [200, 200, 500, 200]
    # Checked once against the contract, though scored twice (batch, then alone).
    assert range_breaks == len(marked)
    assert answers[2].json()["error_code"] == "INTERNAL_ERROR"
    good = zip(answers[:2] + answers[3:], frames[:2] + frames[3:], strict=True)
    for answer, frame in good:
        assert answer.json()["predictions"] == predictions(served, frame)
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "marker" in str(errors[0].exc_info and errors[0].exc_info[1])


@dataclasses.dataclass(frozen=True)
class Item:
    name: str
    rows: int = 1


def echo(items: Sequence[Item]) -> list[str | Exception]:
    return [item.name for item in items]


def test_stopping_scores_what_is_queued_and_skips_abandoned_requests() -> None:
    seen: list[list[str]] = []

    def score(items: Sequence[Item]) -> list[str | Exception]:
        seen.append([item.name for item in items])
        return echo(items)

    async def queue_then_stop() -> list[str]:
        batcher: MicroBatcher[Item, str] = MicroBatcher(
            score, max_rows=2, max_wait_ms=0
        )
        batcher.start()
        tasks = [asyncio.create_task(batcher.submit(Item(n))) for n in "abcde"]
        await asyncio.sleep(0)  # each task queues its item, then awaits
        tasks[1].cancel()  # its client went away
        await batcher.stop()
        return [await task for number, task in enumerate(tasks) if number != 1]

    answers = asyncio.run(queue_then_stop())

    assert answers == ["a", "c", "d", "e"]
    assert sorted(name for batch in seen for name in batch) == ["a", "c", "d", "e"]
    assert max(len(batch) for batch in seen) <= 2


def test_a_request_larger_than_a_batch_is_scored_alone() -> None:
    seen: list[list[str]] = []

    def score(items: Sequence[Item]) -> list[str | Exception]:
        seen.append([item.name for item in items])
        return echo(items)

    async def submit_all() -> list[str]:
        batcher: MicroBatcher[Item, str] = MicroBatcher(
            score, max_rows=4, max_wait_ms=0
        )
        batcher.start()
        sizes = {"small": 1, "large": 9, "last": 1}
        tasks = [
            asyncio.create_task(batcher.submit(Item(name, rows)))
            for name, rows in sizes.items()
        ]
        answers = list(await asyncio.gather(*tasks))
        await batcher.stop()
        return answers

    assert asyncio.run(submit_all()) == ["small", "large", "last"]
    assert ["large"] in seen
