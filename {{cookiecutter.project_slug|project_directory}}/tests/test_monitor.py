"""The monitor command end to end: prediction logs, tables, labels, MLflow, reports."""

import json
import uuid
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from mlflow.tracking import MlflowClient

from {{ cookiecutter.package_name }}.config import ENV_PREFIX, Settings
from {{ cookiecutter.package_name }}.model import TASK
from {{ cookiecutter.package_name }}.monitoring import log_format
from {{ cookiecutter.package_name }}.monitoring.report import (
    REPORT_FILE,
    plot_file,
)
from {{ cookiecutter.package_name }}.tracking.artifacts import (
    LATENCY_KEY,
    load_model,
    model_metadata,
)
from {{ cookiecutter.package_name }}.tracking.connection import RUN_KIND_TAG
from {{ cookiecutter.package_name }}.workflows.monitor import (
    ALERTS_TAG,
    LAST_RUN_TAG,
    MODEL_VERSION_TAG,
    RUN_KIND,
)
from {{ cookiecutter.package_name }}.workflows.train import TrainingResult

from .conftest import (
    CONFIG_PATH,
    DEMO_DATA,
    FINDINGS_EXIT_STATUS,
    assert_one_line_error,
    invoke,
)

ROWS_PER_REQUEST = 4


@pytest.fixture
def env(tracking_uri: str, champion_uri: str, tmp_path: Path) -> dict[str, str]:
    """The CLI pointed at the session's champion, with its own log and reports."""
    return {
        f"{ENV_PREFIX}CONFIG": str(CONFIG_PATH),
        f"{ENV_PREFIX}TRACKING__URI": tracking_uri,
        f"{ENV_PREFIX}MONITORING__PREDICTION_LOG__DIRECTORY": str(tmp_path / "log"),
        f"{ENV_PREFIX}MONITORING__REPORTS": str(tmp_path / "reports"),
    }


def write_log(
    directory: Path, features: pd.DataFrame, champion_uri: str, version: str
) -> pd.DataFrame:
    """Write ``features`` scored by the champion as two prediction-log files.

    The latency of every request is the one measured at training.
    """
    model = load_model(champion_uri)
    latency = float(model_metadata(champion_uri)[LATENCY_KEY])
    rows = len(features)
    requests = [uuid.uuid4().hex for _ in range(0, rows, ROWS_PER_REQUEST)]
    records: dict[str, Any] = {
        log_format.PREDICTION: np.asarray(model.predict(features)),
        log_format.MODEL_VERSION: version,
        log_format.MODEL_URI: champion_uri,
        log_format.REQUEST_ID: np.repeat(requests, ROWS_PER_REQUEST)[:rows],
        log_format.ROW: np.tile(np.arange(ROWS_PER_REQUEST), len(requests))[:rows],
        log_format.LATENCY_MS: latency,
        log_format.SCORED_AT: pd.Timestamp.now(tz="UTC"),
    }
    log = features.reset_index(drop=True).assign(**records)
    directory.mkdir()
    half = rows // 2
    for part, frame in enumerate((log.iloc[:half], log.iloc[half:])):
        name = log_format.log_file_name(f"20261130T08150000000{part}", 42)
        frame.to_parquet(directory / name, index=False)
    return log


@pytest.fixture
def demo_features(demo_frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    return demo_frame[settings.data.features]


def monitor(env: dict[str, str], *args: str) -> Result:
    return invoke(["monitor", *args], env)


def run_json(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    result = monitor(env, "--format", "json", *args)
    assert result.exit_code in {0, FINDINGS_EXIT_STATUS}, result.output
    return result.exit_code, json.loads(result.stdout)


def test_a_clean_log_raises_no_alert(
    env: dict[str, str],
    tmp_path: Path,
    demo_features: pd.DataFrame,
    champion_uri: str,
    trained: TrainingResult,
) -> None:
    write_log(tmp_path / "log", demo_features, champion_uri, trained.model_version)

    result = monitor(env)

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"No alert on {len(demo_features)} rows;")


def test_a_drifted_log_prints_its_alerts_and_exits_3(
    env: dict[str, str],
    tmp_path: Path,
    demo_features: pd.DataFrame,
    champion_uri: str,
    trained: TrainingResult,
) -> None:
    shifted = demo_features.copy()
    shifted["bill_length_mm"] += 2 * shifted["bill_length_mm"].std()
    shifted.loc[shifted.index % 3 == 0, "sex"] = np.nan
    write_log(tmp_path / "log", shifted, champion_uri, trained.model_version)

    result = monitor(env)

    assert result.exit_code == FINDINGS_EXIT_STATUS, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("drift: bill_length_mm: PSI") for line in lines)
    assert any(line.startswith("null rate: sex: missing in") for line in lines)
    assert any(line.startswith("contract: data contract:") for line in lines)
    assert "Traceback" not in result.output


def test_a_logged_answer_without_a_prediction_is_a_numerical_alert(
    env: dict[str, str],
    tmp_path: Path,
    demo_features: pd.DataFrame,
    champion_uri: str,
    trained: TrainingResult,
) -> None:
    write_log(tmp_path / "log", demo_features, champion_uri, trained.model_version)
    first = log_format.log_files(tmp_path / "log")[0]
    frame = pd.read_parquet(first)
    frame.loc[:1, log_format.PREDICTION] = None
    frame.to_parquet(first, index=False)

    result = monitor(env)

    assert result.exit_code == FINDINGS_EXIT_STATUS, result.output
    assert (
        f"numerical stability: prediction: 2 of {len(demo_features)} rows have no"
        " finite prediction (missing or infinite)"
    ) in result.stdout.splitlines()


def test_labels_give_live_metrics_next_to_offline_ones(
    env: dict[str, str],
    tmp_path: Path,
    demo_frame: pd.DataFrame,
    demo_features: pd.DataFrame,
    settings: Settings,
    champion_uri: str,
    trained: TrainingResult,
) -> None:
    log = write_log(
        tmp_path / "log", demo_features, champion_uri, trained.model_version
    )
    target = settings.data.target
    labelled = log[[log_format.REQUEST_ID, log_format.ROW]].assign(
        **{target: demo_frame[target].to_numpy()}
    )
    labels = tmp_path / "labels.csv"
    labelled.iloc[::2].to_csv(labels, index=False)

    _, result = run_json(env, "--labels", str(labels))

    live = result["findings"]["live"]
    assert live["rows"] == len(labelled.iloc[::2].dropna())
    assert live["primary"] == TASK.PRIMARY_METRIC
    assert live["offline"][TASK.PRIMARY_METRIC] == pytest.approx(
        trained.metrics[TASK.PRIMARY_METRIC]
    )
    assert TASK.PRIMARY_METRIC in live["live"]


def test_the_run_and_the_version_record_the_monitoring(
    env: dict[str, str],
    tmp_path: Path,
    demo_features: pd.DataFrame,
    champion_uri: str,
    tracking_uri: str,
    tracked_settings: Settings,
    trained: TrainingResult,
) -> None:
    write_log(tmp_path / "log", demo_features, champion_uri, trained.model_version)

    status, result = run_json(env)

    client = MlflowClient(tracking_uri)
    run = client.get_run(result["run_id"])
    version = client.get_model_version(
        tracked_settings.tracking.registered_model, trained.model_version
    )
    assert status == 0
    assert run.data.tags[RUN_KIND_TAG] == RUN_KIND
    assert run.data.tags[MODEL_VERSION_TAG] == trained.model_version
    assert run.data.tags[ALERTS_TAG] == "0"
    assert "drift.psi.bill_length_mm" in run.data.metrics
    assert version.tags[LAST_RUN_TAG] == result["run_id"]
    logged = mlflow.artifacts.list_artifacts(
        run_id=result["run_id"], artifact_path="report"
    )
    assert f"report/{REPORT_FILE}" in {item.path for item in logged}


def test_the_report_has_a_table_per_section_and_a_plot_per_column(
    env: dict[str, str],
    tmp_path: Path,
    demo_features: pd.DataFrame,
    champion_uri: str,
    trained: TrainingResult,
) -> None:
    write_log(tmp_path / "log", demo_features, champion_uri, trained.model_version)

    _, result = run_json(env)

    report = Path(result["report"])
    text = (report / REPORT_FILE).read_text(encoding="utf-8")
    assert report.parent == tmp_path / "reports"
    for section in ("## Feature drift", "## Prediction drift", "## Data contract"):
        assert section in text
    for column in [*demo_features.columns, log_format.PREDICTION]:
        assert (report / plot_file(column)).stat().st_size > 0
    assert [path.name for path in report.parent.iterdir()] == [report.name]


def test_a_table_is_scored_and_labelled_by_its_target(env: dict[str, str]) -> None:
    status, result = run_json(env, "--current", str(DEMO_DATA))

    live = result["findings"]["live"]
    assert status == 0, result["alerts"]
    assert live["rows"] > 0
    assert result["findings"]["latency"] is None  # a table records no latency


def test_labels_with_a_table_are_refused(env: dict[str, str], tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,row\n", encoding="utf-8")

    result = monitor(env, "--current", str(DEMO_DATA), "--labels", str(labels))

    assert_one_line_error(result, "--labels applies to a prediction log")


def test_without_a_log_it_says_that_serve_writes_one(env: dict[str, str]) -> None:
    result = monitor(env)

    assert_one_line_error(result, "(serve) writes it")
