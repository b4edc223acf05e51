"""``GET /metrics``: Prometheus' own parser reads exactly what the service did."""

from collections import Counter
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.metrics import prediction_buckets
from {{ cookiecutter.package_name }}.serving.model import (
    ServedModel,
    load_served_model,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def served(tracked_settings: Settings, champion_uri: str) -> ServedModel:
    return load_served_model(tracked_settings, None)


@pytest.fixture(scope="module")
def clean_rows(served: ServedModel, demo_frame: pd.DataFrame) -> pd.DataFrame:
    """Eight demo rows without missing values, which keep the data contract."""
    names = [column.name for column in served.columns]
    rows = demo_frame[names].dropna().head(8).reset_index(drop=True)
    assert served.contract is not None
    assert not served.contract.check(rows).breaks
    return rows


def post(client: TestClient, df: pd.DataFrame) -> Any:
    records = df.astype(object).where(df.notna(), None).to_dict(orient="records")
    return client.post(
        "/invocations",
        content=orjson.dumps({"dataframe_records": records}),
        headers={"Content-Type": "application/json"},
    )


def scrape(client: TestClient) -> Samples:
    """Every sample of ``/metrics`` by name and labels, read by prometheus_client."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def labelled(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: value for (key, labels), value in samples.items() if key == name}


def test_requests_are_counted_by_route_and_status(
    served: ServedModel, clean_rows: pd.DataFrame
) -> None:
    with TestClient(create_app(served)) as client:
        for _ in range(3):
            post(client, clean_rows)
        client.post("/invocations", content=b"{", headers={"Content-Type": "text/csv"})
        client.get("/ping")
        client.get("/no/such/route")
        samples = scrape(client)

    requests = labelled(samples, "http_requests_total")
    assert requests == {
        frozenset({("route", "/invocations"), ("status", "200")}): 3,
        frozenset({("route", "/invocations"), ("status", "400")}): 1,
        frozenset({("route", "/ping"), ("status", "200")}): 1,
        frozenset({("route", "other"), ("status", "404")}): 1,
    }
    durations = labelled(samples, "http_request_duration_seconds_count")
    assert durations[frozenset({("route", "/invocations")})] == 4
    assert labelled(samples, "scored_rows_total") == {frozenset(): 3 * len(clean_rows)}
    assert labelled(samples, "prediction_log_dropped_rows_total") == {frozenset(): 0}


def test_predictions_are_counted_by_class_or_bucketed(
    served: ServedModel, clean_rows: pd.DataFrame
) -> None:
    with TestClient(create_app(served)) as client:
        predictions = post(client, clean_rows).json()["predictions"]
        predictions += post(client, clean_rows.head(3)).json()["predictions"]
        samples = scrape(client)

    if served.is_classifier:
        by_class = labelled(samples, "predictions_total")
        expected = Counter(str(label) for label in predictions)
        assert by_class == {frozenset({("class", k)}): v for k, v in expected.items()}
        return
    bounds = prediction_buckets(served.reference_predictions)
    assert len(bounds) > 2
    buckets = {
        float(dict(labels)["le"]): count
        for labels, count in labelled(samples, "prediction_value_bucket").items()
    }
    assert buckets == {
        **{bound: sum(value <= bound for value in predictions) for bound in bounds},
        float("inf"): len(predictions),
    }
    total = labelled(samples, "prediction_value_sum")[frozenset()]
    assert total == pytest.approx(sum(predictions))


def test_regression_buckets_are_training_predictions_at_deciles() -> None:
    training = np.random.default_rng(0).normal(4000.0, 500.0, 1000)

    bounds = prediction_buckets(training)

    assert len(bounds) == 11
    assert (bounds[0], bounds[-1]) == (training.min(), training.max())
    assert set(bounds) <= set(training)
    shares = np.histogram(training, [-np.inf, *bounds[1:-1], np.inf])[0] / 1000
    assert shares == pytest.approx(np.full(10, 0.1), abs=0.002)
    assert prediction_buckets(np.full(50, 3.0)) == (3.0,)


def broken_rows(
    served: ServedModel, clean_rows: pd.DataFrame
) -> tuple[pd.DataFrame, str, str]:
    """``clean_rows`` with 3 numbers above their range and 2 unseen categories.

    Returns the rows, the numeric column and the categorical column broken.
    """
    assert served.contract is not None
    numeric = next(c for c in served.contract.columns if c.upper is not None)
    category = next(
        c for c in served.contract.columns if c.kind == "categorical" and not c.personal
    )
    assert numeric.upper is not None
    broken = clean_rows.copy()
    broken.loc[:2, numeric.name] = numeric.upper + 1
    broken.loc[3:4, category.name] = "Atlantis"
    return broken, numeric.name, category.name


def test_contract_breaks_are_counted_by_column_and_rule(
    served: ServedModel, clean_rows: pd.DataFrame
) -> None:
    broken, numeric, category = broken_rows(served, clean_rows)

    with TestClient(create_app(served)) as client:
        statuses = [post(client, broken).status_code for _ in range(2)]
        samples = scrape(client)

    assert statuses == [200, 200]
    assert labelled(samples, "contract_breaks_total") == {
        frozenset({("column", numeric), ("rule", "range")}): 6,
        frozenset({("column", category), ("rule", "category")}): 4,
    }
    assert labelled(samples, "scored_rows_total") == {frozenset(): 2 * len(broken)}
